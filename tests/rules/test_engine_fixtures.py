"""The engine on a small synthetic rule set (tests/rules/fixtures/engine/), one feature at a time:
families overlapping in time, `supersedes`, review-policy rewriting, the headquarters basis,
exceptions that must cover every reason, dated Country Group changes and hypothetical rulesets.

These tests change only when the engine changes; the regulatory tables (test_licensing.py,
test_classify.py, test_products.py) run on the shipped data and change when the data does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from app.regulations import loader
from app.rules import licensing, metrics
from app.rules.book import RuleBook, Spec, Throughput
from app.rules.classify import Classification
from app.rules.licensing import Licensing, Party, RulesetError

FIXTURE = Path(__file__).parent / "fixtures" / "engine"
TODAY = date(2026, 6, 1)
V1 = date(2024, 6, 1)  # alpha-v1 and beta-v1
V2 = date(2025, 3, 1)  # alpha-v2 (superseding v1) and beta-v1; gamma not yet
BAND = date(2025, 7, 1)  # alpha-v2, beta-v1 and the gamma review band
LATE = date(2026, 3, 1)  # beta-v1 has ended


@pytest.fixture(scope="module")
def book() -> RuleBook:
    files = loader.read_reference_files(FIXTURE)
    return loader.build_book(files, files.rulesets, files.group_changes, "fixture")


def chip(tpp: int) -> Spec:
    """A logic IC with the given TPP (fp16 x 16 bits)."""
    return Spec((Throughput("fp16", Fraction(tpp, 16)),), datacenter=True, die_area_mm2=Fraction(800))


@dataclass(frozen=True)
class Answer:
    rulesets: list[str]
    classification: Classification
    licensing: Licensing

    @property
    def reasons(self) -> list[tuple[str, str]]:
        return [(r.rule_id, r.basis) for r in self.licensing.reasons]

    @property
    def exceptions(self) -> dict[str, bool]:
        return {e.code: e.notification_required for e in self.licensing.license_exceptions}


def answer(
    book: RuleBook,
    tpp: int,
    on: date,
    destination: str,
    *,
    hq: str | None = None,
    parent: str | None = None,
    transaction: str = "export",
    hypothetical: tuple[str, ...] = (),
) -> Answer:
    dest, _ = book.resolve_country(destination, on)
    party = Party(dest, hq, parent, transaction)
    selection = licensing.select(book, on, TODAY, hypothetical)
    m = metrics.compute(chip(tpp), book.definitions.bit_lengths)
    c, lic = licensing.classify_and_license(book, selection, m, party, on)
    return Answer([r.id for r in selection.rulesets], c, lic)


# --- families and supersedes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "rulesets"),
    [
        pytest.param(date(2023, 12, 31), [], id="before-any-ruleset-none-apply"),
        pytest.param(date(2024, 1, 1), ["alpha-v1"], id="alpha-v1-from-its-first-day"),
        pytest.param(V1, ["alpha-v1", "beta-v1"], id="two-families-overlap-both-apply"),
        pytest.param(date(2024, 12, 31), ["alpha-v1", "beta-v1"], id="last-day-before-supersession-v1"),
        pytest.param(date(2025, 1, 1), ["beta-v1", "alpha-v2"], id="superseded-on-the-successors-first-day"),
        pytest.param(BAND, ["beta-v1", "alpha-v2", "gamma-v1"], id="three-families-at-once"),
        pytest.param(date(2026, 1, 1), ["alpha-v2", "gamma-v1"], id="effective-to-is-exclusive"),
    ],
)
def test_the_rulesets_in_force_on_a_day_one_per_family(book: RuleBook, on: date, rulesets: list[str]) -> None:
    assert [r.id for r in book.in_force(on)] == rulesets


def test_a_superseded_ruleset_ends_where_its_successor_begins(book: RuleBook) -> None:
    v1 = book.ruleset("alpha-v1")
    assert v1 is not None and v1.effective_to == date(2025, 1, 1)


def test_a_not_enforced_ruleset_is_never_in_force_but_can_be_evaluated_hypothetically(book: RuleBook) -> None:
    assert "alpha-draft" not in [r.id for r in book.in_force(V2)]
    real = answer(book, 200, V2, "CN")
    draft = answer(book, 200, V2, "CN", hypothetical=("alpha-draft",))
    assert real.classification.eccn is None and draft.classification.eccn == "3A090.a"
    assert draft.rulesets == ["beta-v1", "alpha-draft"]  # it replaces its family's ruleset
    with pytest.raises(RulesetError):
        answer(book, 200, V2, "CN", hypothetical=("no-such-ruleset",))


@pytest.mark.parametrize(
    ("tpp", "on", "eccn"),
    [
        pytest.param(999, V1, None, id="v1-999-below-1000"),
        pytest.param(1000, V1, "3A090.a", id="v1-1000-on-the-line"),
        pytest.param(799, V2, "3A090.b", id="v2-799-below-800-is-b"),
        pytest.param(800, V2, "3A090.a", id="v2-800-on-the-new-line"),
        pytest.param(399, V2, None, id="v2-399-below-every-clause"),
    ],
)
def test_the_successor_s_thresholds_apply_from_its_first_day(
    book: RuleBook, tpp: int, on: date, eccn: str | None
) -> None:
    assert answer(book, tpp, on, "DE").classification.eccn == eccn


# --- destinations, overlapping families, dated group changes --------------------------------------


@pytest.mark.parametrize(
    ("on", "reasons"),
    [
        pytest.param(V1, [("beta-vn", "destination")], id="vn-before-joining-d5-only-the-letter"),
        pytest.param(
            V2, [("alpha2-d5", "destination"), ("beta-vn", "destination")], id="vn-after-joining-d5-both-families"
        ),
        pytest.param(LATE, [("alpha2-d5", "destination")], id="vn-after-the-letter-ended"),
    ],
)
def test_a_country_group_change_and_an_overlapping_family_each_add_a_reason(
    book: RuleBook, on: date, reasons: list[tuple[str, str]]
) -> None:
    assert sorted(answer(book, 1500, on, "VN").reasons) == reasons


def test_an_alias_is_evaluated_as_the_country_it_is_treated_as(book: RuleBook) -> None:
    assert (
        answer(book, 1500, V2, "HK").reasons == answer(book, 1500, V2, "CN").reasons == [("alpha2-d5", "destination")]
    )


# --- headquarters basis -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "hq", "parent", "reasons"),
    [
        pytest.param(V1, "CN", None, [], id="no-headquarters-rule-in-v1"),
        pytest.param(V2, "CN", None, [("alpha2-hq", "headquarters")], id="end-user-headquartered-in-d5"),
        pytest.param(V2, None, "CN", [("alpha2-hq", "headquarters")], id="ultimate-parent-headquartered-in-d5"),
        pytest.param(V2, "CN", "CN", [("alpha2-hq", "headquarters")], id="both-in-d5-one-reason"),
        pytest.param(V2, "DE", "DE", [], id="headquartered-outside-d5"),
    ],
)
def test_the_headquarters_basis_reaches_a_buyer_wherever_it_is_located(
    book: RuleBook, on: date, hq: str | None, parent: str | None, reasons: list[tuple[str, str]]
) -> None:
    assert answer(book, 1500, on, "DE", hq=hq, parent=parent).reasons == reasons


# --- exceptions must cover every reason ------------------------------------------------------------


@pytest.mark.parametrize(
    ("tpp", "hq", "exceptions"),
    [
        pytest.param(1500, None, {"NAC": True, "XYZ": False}, id="one-reason-both-exceptions"),
        pytest.param(1500, "CN", {"NAC": True}, id="two-reasons-only-the-common-exception-notification-wins"),
        pytest.param(2500, None, {"XYZ": False}, id="above-nac-eligibility"),
        pytest.param(2500, "CN", {}, id="no-exception-covers-both-reasons"),
    ],
)
def test_an_exception_is_offered_only_when_it_covers_every_reason(
    book: RuleBook, tpp: int, hq: str | None, exceptions: dict[str, bool]
) -> None:
    a = answer(book, tpp, V2, "CN", hq=hq)
    assert a.licensing.license_required
    assert a.exceptions == exceptions


# --- review policies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "transaction", "hq", "policies"),
    [
        pytest.param(V2, "export", None, ["denial"], id="before-the-band-denial"),
        pytest.param(BAND, "export", None, ["case-by-case"], id="band-rewrites-a-destination-reason"),
        pytest.param(BAND, "reexport", None, ["denial"], id="band-covers-exports-only"),
        pytest.param(BAND, "export", "CN", ["case-by-case", "denial"], id="band-leaves-the-headquarters-reason"),
    ],
)
def test_a_review_policy_rule_rewrites_only_the_reasons_it_covers(
    book: RuleBook, on: date, transaction: str, hq: str | None, policies: list[str]
) -> None:
    a = answer(book, 1500, on, "CN", hq=hq, transaction=transaction)
    assert [r.review_policy for r in a.licensing.reasons] == policies
    # the order's policy is the most restrictive of its reasons
    assert a.licensing.review_policy == min(policies, key=book.definitions.review_policy_order.index)


def test_the_most_restrictive_review_policy_wins_across_families(book: RuleBook) -> None:
    a = answer(book, 1500, V2, "VN")
    assert {r.review_policy for r in a.licensing.reasons} == {"denial", "approval"}
    assert a.licensing.review_policy == "denial"


def test_a_non_regulation_source_is_flagged_on_the_reason_it_produces(book: RuleBook) -> None:
    a = answer(book, 1500, V1, "VN")
    assert any("beta-vn rests on a company letter source" in w for w in a.licensing.warnings)
