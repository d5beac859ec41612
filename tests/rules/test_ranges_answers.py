"""Which answer heads a ranged figure's result, and how each part of the range is worded.

Across a range the headline is the most restrictive answer: a licence over none, then the most
restrictive review policy, then fewer licence exceptions, then the most controlled ECCN; each of
these decides on its own when the ones before it tie. These run on the engine fixture book
(tests/rules/fixtures/engine/) plus one synthetic family, delta: a licence to MY for TPP 600 or
more with no review policy and no exception (compliance due from 2024-09-01), and a review band
for TPP 700 or more. Written against surviving mutants of the engine run (docs/mutation.md)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from app.regulations import loader
from app.rules import licensing, metrics, ranges
from app.rules.book import FigureRange, RuleBook, Spec, Throughput
from app.rules.classify import Classification
from app.rules.licensing import Licensing, Party
from app.rules.ranges import RangeAnalysis

FIXTURE = Path(__file__).parent / "fixtures" / "engine"
V1 = date(2024, 6, 1)  # alpha-v1 (3A090.a at TPP 1000), beta-v1, delta-v1
V2 = date(2025, 3, 1)  # alpha-v2 (3A090.a at 800, 3A090.b at 400; NAC below TPP 2000, XYZ), beta-v1, delta-v1

DELTA = {
    "id": "delta-v1",
    "family": "delta",
    "title": "delta: a licence without a review policy",
    "effective_from": "2024-01-01",
    "source_kind": "regulation",
    "citations": [{"source": "fixture delta", "source_kind": "regulation"}],
    "destination_rules": [
        {
            "id": "delta-my",
            "label": "TPP 600 or more to MY",
            "citation": "fixture 6",
            "items": {"any_of": [[["tpp", ">=", "600"]]]},
            "destinations": {"countries": ["MY"]},
            "compliance_from": "2024-09-01",
        }
    ],
    "review_policies": [
        {
            "id": "delta-band",
            "label": "MY review band",
            "citation": "fixture 7",
            "destinations": {"countries": ["MY"]},
            "bases": ["destination"],
            "transaction_types": ["export"],
            "items": {"any_of": [[["tpp", ">=", "700"]]]},
            "review_policy": "case-by-case",
        }
    ],
}


@pytest.fixture(scope="module")
def book() -> RuleBook:
    files = loader.read_reference_files(FIXTURE)
    docs = [*files.rulesets, type(files.rulesets[0]).model_validate(DELTA)]
    return loader.build_book(files, docs, files.group_changes, "fixture+delta")


def tpp_range(low: int, high: int) -> Spec:
    """A datacenter part whose fp16 throughput is known only as a range: TPP ``low`` to ``high``."""
    return Spec(
        (Throughput("fp16", None),),
        datacenter=True,
        die_area_mm2=Fraction(800),
        ranges=(FigureRange("throughput.0", Fraction(low, 16), Fraction(high, 16)),),
    )


def across(book: RuleBook, spec: Spec, destination: str, on: date) -> tuple[Classification, Licensing, RangeAnalysis]:
    c, lic, analysis = ranges.classify_and_license(book, licensing.select(book, on, on), spec, Party(destination), on)
    assert analysis is not None
    return c, lic, analysis


def outcomes(analysis: RangeAnalysis) -> list[tuple[str, str, str]]:
    return [(s.low_exact, s.high_exact, s.outcome) for s in analysis.segments]


def test_a_licence_without_review_policy_or_exception_still_heads_the_answer_over_no_licence(book: RuleBook) -> None:
    c, lic, analysis = across(book, tpp_range(400, 650), "MY", V1)
    assert lic.license_required and lic.review_policy is None and lic.license_exceptions == ()
    assert c.eccn is None and analysis.decisive
    assert outcomes(analysis) == [
        ("25", "75/2", "not 3A090, no licence required"),
        ("75/2", "325/8", "not 3A090, licence required, no exception"),
    ]


def test_a_review_policy_heads_the_answer_over_a_licence_without_one(book: RuleBook) -> None:
    _, lic, analysis = across(book, tpp_range(620, 800), "MY", V1)
    assert lic.license_required and lic.review_policy == "case-by-case"
    assert [s.outcome for s in analysis.segments] == [
        "not 3A090, licence required, no exception",
        "not 3A090, licence required (case-by-case), no exception",
    ]


def test_fewer_licence_exceptions_head_the_answer(book: RuleBook) -> None:
    """3A090.a to CN: NAC and XYZ below TPP 2000, XYZ alone from there."""
    c, lic, analysis = across(book, tpp_range(1500, 2500), "CN", V2)
    assert c.eccn == "3A090.a" and lic.review_policy == "denial"
    assert [e.code for e in lic.license_exceptions] == ["XYZ"]
    assert [s.outcome for s in analysis.segments] == [
        "3A090.a, licence required (denial), exception NAC/XYZ",
        "3A090.a, licence required (denial), exception XYZ",
    ]


def test_the_most_controlled_eccn_heads_an_answer_that_needs_no_licence(book: RuleBook) -> None:
    """To DE nothing needs a licence: the ECCN alone ranks, and the lowest TPP is the least controlled."""
    c, lic, analysis = across(book, tpp_range(300, 900), "DE", V2)
    assert c.eccn == "3A090.a" and not lic.license_required
    assert [s.outcome for s in analysis.segments] == [
        "not 3A090, no licence required",
        "3A090.b, no licence required",
        "3A090.a, no licence required",
    ]


def test_a_ranged_classification_heads_with_the_most_controlled_eccn_and_names_each_part(book: RuleBook) -> None:
    c, analysis = ranges.classification(tpp_range(300, 900), book.in_force(V2), book)
    assert c.eccn == "3A090.a"
    assert analysis is not None and analysis.decisive
    assert [s.outcome for s in analysis.segments] == ["not 3A090", "3A090.b", "3A090.a"]


@pytest.mark.parametrize(
    ("spec", "destination", "on"),
    [
        (Spec((Throughput("fp16", Fraction(40)),), datacenter=True, die_area_mm2=Fraction(800)), "MY", V1),
        (Spec((Throughput("fp16", Fraction(120)),), datacenter=True, die_area_mm2=Fraction(800)), "CN", V2),
        (Spec((Throughput("fp16", Fraction(30)),), datacenter=True, die_area_mm2=Fraction(800)), "VN", V2),
        (Spec((Throughput("fp16", Fraction(10)),), datacenter=True), "DE", V1),
    ],
)
def test_exact_figures_get_the_plain_engine_answer_on_the_day_asked(
    book: RuleBook, spec: Spec, destination: str, on: date
) -> None:
    selection = licensing.select(book, on, on)
    c, lic, analysis = ranges.classify_and_license(book, selection, spec, Party(destination), on)
    plain = licensing.classify_and_license(
        book, selection, metrics.compute(spec, book.definitions.bit_lengths), Party(destination), on
    )
    assert analysis is None
    assert (c, lic) == plain
    plain_c, no_range = ranges.classification(spec, selection.rulesets, book)
    assert no_range is None and plain_c == plain[0]


def test_the_day_asked_reaches_the_licence_answer_through_the_range_aware_path(book: RuleBook) -> None:
    """delta-my is in effect from 2024-01-01 but compliance is due only from 2024-09-01: the answer
    says so on a day before that, and not from that day."""
    spec = Spec((Throughput("fp16", Fraction(40)),), datacenter=True, die_area_mm2=Fraction(800))
    note = (
        "delta-my is in effect but compliance is required only from 2024-09-01 (fixture 6); "
        "the requirement is shown so that nothing shipped now is missed."
    )
    for on, noted in [(date(2024, 8, 31), True), (date(2024, 9, 1), False)]:
        _, lic, _ = ranges.classify_and_license(book, licensing.select(book, on, on), spec, Party("MY"), on)
        assert lic.license_required and (note in lic.warnings) is noted, lic.warnings


def test_an_unknown_precision_with_a_ranged_figure_is_a_spec_error_naming_the_row(book: RuleBook) -> None:
    spec = Spec(
        (Throughput("fp4x", Fraction(100)),),
        datacenter=True,
        ranges=(FigureRange("die_area_mm2", Fraction(100), Fraction(900)),),
    )
    with pytest.raises(metrics.SpecError) as err:
        ranges.classify_and_license(book, licensing.select(book, V2, V2), spec, Party("DE"), V2)
    assert err.value.field == "throughput.0.precision"
    assert err.value.message == "unknown precision 'fp4x'" == str(err.value)
