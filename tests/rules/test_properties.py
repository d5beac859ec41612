"""Engine invariants over generated specs, parties and dates (hypothesis), on the shipped rule book.

- raising TPP (same die area, so performance density rises too) never lowers control: the ECCN is
  at least as controlled, and a licence required before is still required;
- an ECCN is never less controlled under a stricter ruleset than under the one it tightened;
- the licence exceptions an answer offers cover every one of its reasons (an exception that covers
  only some reasons would not authorise the export), and none is offered when no licence is needed.
"""

from __future__ import annotations

import os
from datetime import date
from fractions import Fraction

from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st

from app.catalog.service import spec_from_record
from app.regulations import loader
from app.rules import licensing, metrics
from app.rules.book import RuleBook, Spec, Throughput
from app.rules.classify import UndeterminedError, classify
from app.rules.licensing import Party

COUNTRIES = ["CN", "MO", "HK", "RU", "IR", "AE", "SA", "MY", "SG", "IN", "VN", "KH", "IL", "FR", "DE", "US", "JP"]
# examples per property: 60 by default (seconds); CHIPCLASS_PROPERTY_EXAMPLES=2000 for a thorough run
PROPERTY = settings(
    max_examples=int(os.environ.get("CHIPCLASS_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

positive = st.fractions(min_value=Fraction(1, 10), max_value=Fraction(40_000), max_denominator=1000)
tpps = st.fractions(min_value=Fraction(1), max_value=Fraction(40_000), max_denominator=1000)
dates = st.dates(min_value=date(2022, 10, 7), max_value=date(2027, 12, 31))
parties = st.builds(
    Party,
    destination=st.sampled_from(COUNTRIES),
    headquarters=st.none() | st.sampled_from(COUNTRIES),
    parent_headquarters=st.none() | st.sampled_from(COUNTRIES),
    transaction_type=st.sampled_from(["export", "reexport", "transfer"]),
)


@st.composite
def specs(draw: st.DrawFn, tpp: Fraction | None = None) -> Spec:
    """A logic IC with every figure the rules may read (so no answer is undetermined)."""
    value = draw(tpps) if tpp is None else tpp
    return Spec(
        (Throughput("fp16", value / 16),),
        draw(st.booleans()),
        draw(st.fractions(min_value=Fraction(20), max_value=Fraction(2000), max_denominator=100)),
        memory_bandwidth_gbps=draw(positive),
        interconnect_bandwidth_gbps=draw(positive),
    )


def with_tpp(s: Spec, tpp: Fraction) -> Spec:
    return Spec(
        (Throughput("fp16", tpp / 16),),
        s.datacenter,
        s.die_area_mm2,
        s.memory_bandwidth_gbps,
        s.interconnect_bandwidth_gbps,
    )


def rank(book: RuleBook, eccn: str | None) -> int:
    """Higher is more controlled: 3A090.a > 3A090.b > not controlled (eccn_order is most controlled first)."""
    order = book.definitions.eccn_order
    return 0 if eccn is None else len(order) - order.index(eccn)


def answer(book: RuleBook, s: Spec, party: Party, on: date) -> tuple[str | None, licensing.Licensing]:
    """The ECCN and licence picture; a draw the rules cannot decide (a catalog product lacking a
    figure an old ruleset reads) is rejected, not counted."""
    selection = licensing.select(book, on, on)
    try:
        c, lic = licensing.classify_and_license(
            book, selection, metrics.compute(s, book.definitions.bit_lengths), party, on
        )
    except UndeterminedError:
        reject()
    return c.eccn, lic


@PROPERTY
@given(s=specs(), factor=st.fractions(min_value=1, max_value=50, max_denominator=100), party=parties, on=dates)
def test_raising_tpp_never_lowers_control(book: RuleBook, s: Spec, factor: Fraction, party: Party, on: date) -> None:
    tpp = s.throughput[0].dense_tops * 16
    low_eccn, low = answer(book, s, party, on)
    high_eccn, high = answer(book, with_tpp(s, tpp * factor), party, on)
    assert rank(book, high_eccn) >= rank(book, low_eccn), (low_eccn, high_eccn)
    if low.license_required:
        assert high.license_required, [r.rule_id for r in low.reasons]


# (tightened, stricter): each pair is a later rule that lowered or widened the earlier one's thresholds
STRICTER = [("ac-2022-10-07", "ac-2023-11-17"), ("ac-2023-01-17", "ac-2023-11-17"), ("ac-2022-10-07", "ac-2024-12-02")]


@PROPERTY
@given(s=specs(), pair=st.sampled_from(STRICTER))
def test_an_eccn_is_never_less_controlled_under_a_stricter_ruleset(
    book: RuleBook, s: Spec, pair: tuple[str, str]
) -> None:
    m = metrics.compute(s, book.definitions.bit_lengths)
    looser, stricter = (book.ruleset(r) for r in pair)
    assert looser is not None and stricter is not None
    before = classify(m, (looser,), book.definitions).eccn
    after = classify(m, (stricter,), book.definitions).eccn
    assert rank(book, after) >= rank(book, before), (pair, before, after)


FILES = loader.read_reference_files()
CATALOG = {r.id: spec_from_record(r) for r in FILES.accelerators}
CHANGE_DAYS = sorted(
    {r.effective_from for r in FILES.rulesets} | {r.effective_to for r in FILES.rulesets if r.effective_to}
)
# reasons that differ in their exceptions are rare in the space (about 1.5% of catalog x change day x
# party): the known one is pinned as an example, and half the draws come from the catalog and change days
A30_TO_AE_FOR_A_CHINESE_BUYER = (CATALOG["nvidia-a30-24gb"], Party("AE", headquarters="CN"), date(2024, 4, 4))


@PROPERTY
@given(
    s=specs() | st.sampled_from(sorted(CATALOG.values(), key=repr)),
    party=parties,
    on=dates | st.sampled_from(CHANGE_DAYS),
)
@example(*A30_TO_AE_FOR_A_CHINESE_BUYER)
def test_exceptions_offered_cover_every_reason(book: RuleBook, s: Spec, party: Party, on: date) -> None:
    _, lic = answer(book, s, party, on)
    offered = {e.code for e in lic.license_exceptions}
    for reason in lic.reasons:
        assert offered <= {e.code for e in reason.license_exceptions}, (reason.rule_id, offered)
    if not lic.license_required:
        assert lic.reasons == () and offered == set()
    # and nothing every reason allows is withheld
    if lic.reasons:
        common = set.intersection(*({e.code for e in r.license_exceptions} for r in lic.reasons))
        assert offered == common
        for e in lic.license_exceptions:
            needs = any(x.notification_required for r in lic.reasons for x in r.license_exceptions if x.code == e.code)
            assert e.notification_required is needs
