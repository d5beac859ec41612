"""Figures known only as ranges: the engine evaluates across the range and says whether it decides."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from fractions import Fraction

import pytest

from app.rules import licensing, ranges
from app.rules.book import FigureRange, RuleBook, Spec, Throughput
from app.rules.licensing import Party

ON = date(2026, 11, 28)


def ranged(low: str, high: str, tops: str = "275") -> Spec:
    """A TPU v4-like datacenter part: 275 bf16 TOPS (TPP 4,400), die area known only as a range."""
    return Spec(
        throughput=(Throughput("bf16", Fraction(tops)),),
        datacenter=True,
        memory_bandwidth_gbps=Fraction(1200),
        interconnect_bandwidth_gbps=Fraction(600),
        ranges=(FigureRange("die_area_mm2", Fraction(low), Fraction(high)),),
    )


def test_tpu_v4_die_range_decides_at_exactly_27500_over_37_mm2(book: RuleBook, catalog: dict[str, Spec]) -> None:
    c, analysis = ranges.classification(catalog["google-tpu-v4"], book.in_force(ON), book)
    assert analysis is not None and analysis.decisive
    low, high = analysis.segments
    # PD 5.92 is reached at TPP 4,400 / 5.92 = 27500/37 mm2: at or below it 3A090.a.2, above it 3A090.b
    assert (low.outcome, low.high_exact, low.high_inclusive) == ("3A090.a", "27500/37", True)
    assert (high.outcome, high.low_exact, high.low_inclusive) == ("3A090.b", "27500/37", False)
    assert "3A090.a if the die area is at most 743.243243 mm2" in analysis.summary
    assert "3A090.b if it is above 743.243243 mm2" in analysis.summary
    # the headline never picks the lenient end: it is the most controlled outcome, marked by `decisive`
    assert c.eccn == "3A090.a"


def test_a_range_wholly_on_one_side_of_every_threshold_does_not_matter(book: RuleBook) -> None:
    c, analysis = ranges.classification(ranged("400", "700"), book.in_force(ON), book)
    assert analysis is not None
    assert not analysis.decisive
    assert analysis.summary.startswith("The range did not matter: 3A090.a")
    assert c.eccn == "3A090.a"


def test_an_end_exactly_on_the_threshold_counts_with_the_side_the_operator_puts_it(book: RuleBook) -> None:
    # die area 27500/37 gives PD exactly 5.92, which meets ">= 5.92" (3A090.a.2)
    edge = Fraction(27500, 37)
    spec = ranged("700", "800")
    spec = replace(spec, ranges=(FigureRange("die_area_mm2", Fraction(700), edge),))
    _, analysis = ranges.classification(spec, book.in_force(ON), book)
    assert analysis is not None and not analysis.decisive
    spec = replace(spec, ranges=(FigureRange("die_area_mm2", edge, Fraction(800)),))
    _, analysis = ranges.classification(spec, book.in_force(ON), book)
    assert analysis is not None and analysis.decisive
    first, second = analysis.segments
    assert (first.outcome, first.low_exact, first.high_exact, first.high_inclusive) == (
        "3A090.a",
        "27500/37",
        "27500/37",
        True,
    )
    assert (second.outcome, second.low_inclusive) == ("3A090.b", False)


def test_crossings_come_from_the_thresholds_in_the_data_not_from_code(book: RuleBook) -> None:
    rulesets = book.in_force(ON)
    moved = tuple(
        replace(
            r,
            clauses=tuple(
                replace(
                    cl,
                    conditions=tuple(
                        replace(c, value=Fraction(4)) if c.value == Fraction("5.92") else c for c in cl.conditions
                    ),
                )
                for cl in r.clauses
            ),
        )
        for r in rulesets
    )
    _, analysis = ranges.classification(ranged("400", "1200"), moved, book)
    assert analysis is not None
    assert any(s.high_exact == "1100" for s in analysis.segments)  # 4,400 / 4


def test_a_ranged_throughput_row_splits_at_the_tpp_threshold(book: RuleBook) -> None:
    spec = Spec(
        throughput=(Throughput("bf16", None),),
        datacenter=True,
        die_area_mm2=Fraction(2000),
        memory_bandwidth_gbps=Fraction(3700),
        interconnect_bandwidth_gbps=Fraction(1200),
        ranges=(FigureRange("throughput.0", Fraction("146.8"), Fraction(1835)),),
    )
    _, analysis = ranges.classification(spec, book.in_force(ON), book)
    assert analysis is not None and analysis.decisive
    # TPP 4,800 / 16 bits = 300 TOPS: 3A090.a from there up
    assert analysis.segments[-1].outcome == "3A090.a"
    assert (analysis.segments[-1].low_exact, analysis.segments[-1].low_inclusive) == ("300", True)


def test_licence_outcome_across_a_range_is_never_reported_clear_when_one_end_needs_a_licence(book: RuleBook) -> None:
    # bf16 from 100 to 400 TOPS: below 150 (TPP 2,400) not 3A090 and no licence to AE; above, a licence
    spec = Spec(
        throughput=(Throughput("bf16", None),),
        datacenter=True,
        die_area_mm2=Fraction(2000),
        memory_bandwidth_gbps=Fraction(800),
        interconnect_bandwidth_gbps=Fraction(200),
        ranges=(FigureRange("throughput.0", Fraction(100), Fraction(400)),),
    )
    day = date(2024, 6, 1)
    selection = licensing.select(book, day, day)
    _c, lic, analysis = ranges.classify_and_license(book, selection, spec, Party("AE"), day)
    assert analysis is not None and analysis.decisive
    assert lic.license_required is True
    assert analysis.segments[0].outcome == "not 3A090, no licence required"
    assert "licence required" in analysis.segments[-1].outcome


@pytest.mark.parametrize("product", ["nvidia-b100", "google-tpu-v5p", "intel-gaudi-2", "huawei-ascend-910"])
def test_placeholder_die_areas_of_high_tpp_parts_do_not_matter(
    book: RuleBook, catalog: dict[str, Spec], product: str
) -> None:
    _, analysis = ranges.classification(catalog[product], book.in_force(ON), book)
    assert analysis is not None and not analysis.decisive
