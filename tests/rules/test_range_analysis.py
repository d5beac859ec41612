"""What a ranged figure's analysis says, in full: where the outcome changes (exact crossings,
inclusive or not), the sentence a compliance officer reads, the figures as given (with source
and note), the other figure held where it moves the crossing, the TPP and density bounds.

Crossings are solved from each metric's definition (``ranges.crossings``): a missed crossing
puts the boundary of an answer in the wrong place. Written against surviving mutants of the
engine run (docs/mutation.md)."""

from __future__ import annotations

import dataclasses
from datetime import date
from fractions import Fraction

import pytest

from app.regulations import loader
from app.rules import licensing, ranges
from app.rules.book import FigureRange, RuleBook, Spec, Throughput
from app.rules.licensing import Party
from app.rules.ranges import RangeAnalysis, RangeOut, Segment
from tests.rules.test_ranges_answers import FIXTURE, V2, tpp_range
from tests.rules.test_ranges_answers import book as fixture_book  # noqa: F401  (the fixture book + delta)

F = Fraction
BITS = {"fp16": 16, "fp8": 8}
# a threshold of 0 (never a crossing: it would divide by zero) and one below 1 for each ratio metric
LIMITS = {
    "performance_density": frozenset({F(0), F(1, 2), F(4)}),
    "memory_bandwidth_density": frozenset({F(0), F(1, 2), F(4)}),
    "memory_bandwidth_gbps": frozenset({F(1400)}),
    "memory_plus_interconnect_gbps": frozenset({F(1700)}),
    "interconnect_bandwidth_gbps": frozenset({F(1100)}),
    "tpp": frozenset({F(4800)}),
}
# TPP max(100 x 16, 300 x 8) = 2,400
LOGIC = Spec(
    (Throughput("fp16", F(100)), Throughput("fp8", F(300))),
    datacenter=True,
    die_area_mm2=F(500),
    memory_bandwidth_gbps=F(1000),
    interconnect_bandwidth_gbps=F(250),
)
HBM = Spec((), datacenter=False, die_area_mm2=F(100), memory_bandwidth_gbps=F(800), kind="hbm")


@pytest.mark.parametrize(
    ("spec", "field", "expected"),
    [
        pytest.param(LOGIC, "die_area_mm2", {F(600), F(4800)}, id="die-area-by-performance-density-tpp-over-pd"),
        pytest.param(LOGIC, "memory_bandwidth_gbps", {F(1400), F(1450)}, id="memory-own-and-1700-minus-interconnect"),
        pytest.param(
            dataclasses.replace(LOGIC, interconnect_bandwidth_gbps=None),
            "memory_bandwidth_gbps",
            {F(1400)},
            id="memory-no-io",
        ),
        pytest.param(
            LOGIC, "interconnect_bandwidth_gbps", {F(700), F(1100)}, id="interconnect-own-and-1700-minus-memory"
        ),
        pytest.param(
            dataclasses.replace(LOGIC, memory_bandwidth_gbps=None),
            "interconnect_bandwidth_gbps",
            {F(1100)},
            id="io-no-memory",
        ),
        pytest.param(
            LOGIC,
            "throughput.1",
            {F(600), F(0), F(125, 4), F(250)},
            id="fp8-row-tpp-over-bits-and-pd-times-area-over-bits",
        ),
        pytest.param(
            dataclasses.replace(LOGIC, die_area_mm2=None), "throughput.1", {F(600)}, id="fp8-row-without-die-area"
        ),
        pytest.param(HBM, "die_area_mm2", {F(200), F(1600)}, id="hbm-die-area-by-bandwidth-density"),
        pytest.param(
            dataclasses.replace(HBM, throughput=(Throughput("fp16", F(100)),)),
            "die_area_mm2",
            {F(400), F(3200), F(200), F(1600)},
            id="hbm-die-area-with-throughput-both-densities",
        ),
        pytest.param(HBM, "memory_bandwidth_gbps", {F(1400), F(0), F(50), F(400)}, id="hbm-memory-density-times-area"),
        pytest.param(
            dataclasses.replace(HBM, interconnect_bandwidth_gbps=F(100)),
            "memory_bandwidth_gbps",
            {F(1400), F(1600), F(0), F(50), F(400)},
            id="hbm-memory-with-io",
        ),
        pytest.param(
            dataclasses.replace(HBM, die_area_mm2=None),
            "memory_bandwidth_gbps",
            {F(1400)},
            id="hbm-memory-without-area",
        ),
        pytest.param(
            dataclasses.replace(HBM, memory_bandwidth_gbps=None),
            "die_area_mm2",
            set(),
            id="hbm-die-area-without-memory",
        ),
        pytest.param(HBM, "interconnect_bandwidth_gbps", {F(900), F(1100)}, id="hbm-interconnect"),
    ],
)
def test_crossings_are_solved_exactly_from_each_metric_s_definition(
    spec: Spec, field: str, expected: set[Fraction]
) -> None:
    assert ranges.crossings(spec, field, BITS, LIMITS) == expected


def test_a_throughput_range_crossing_two_lines_is_worded_part_by_part(fixture_book: RuleBook) -> None:  # noqa: F811
    """fp16 18.75-56.25 TOPS (TPP 300-900) to DE: 3A090.b from TPP 400 (25 TOPS), 3A090.a from 800 (50)."""
    _, _, analysis = ranges.classify_and_license(
        fixture_book, licensing.select(fixture_book, V2, V2), tpp_range(300, 900), Party("DE"), V2
    )
    assert analysis == RangeAnalysis(
        figures=(RangeOut("throughput.0", "fp16 dense throughput (TOPS)", "18.75", "56.25", None, None),),
        decisive=True,
        summary=(
            "The range decides: not 3A090, no licence required if the fp16 dense throughput is below 25 TOPS; "
            "3A090.b, no licence required if it is from 25 TOPS below 50 TOPS; "
            "3A090.a, no licence required if it is at least 50 TOPS."
        ),
        segments=(
            Segment("throughput.0", "18.75", "75/4", True, "25", "25", False, None, "not 3A090, no licence required"),
            Segment("throughput.0", "25", "25", True, "50", "50", False, None, "3A090.b, no licence required"),
            Segment("throughput.0", "50", "50", True, "56.25", "225/4", True, None, "3A090.a, no licence required"),
        ),
        tpp_min=300.0,
        tpp_max=900.0,
        performance_density_min=0.375,
        performance_density_max=1.125,
    )


def test_a_range_that_does_not_matter_says_so_with_the_figure_as_given(fixture_book: RuleBook) -> None:  # noqa: F811
    spec = tpp_range(100, 300)
    spec = dataclasses.replace(spec, ranges=(dataclasses.replace(spec.ranges[0], source="datasheet", note="boost"),))
    _, lic, analysis = ranges.classify_and_license(
        fixture_book, licensing.select(fixture_book, V2, V2), spec, Party("DE"), V2
    )
    assert not lic.license_required
    assert analysis == RangeAnalysis(
        figures=(RangeOut("throughput.0", "fp16 dense throughput (TOPS)", "6.25", "18.75", "datasheet", "boost"),),
        decisive=False,
        summary=(
            "The range did not matter: not 3A090, no licence required anywhere in the given range "
            "(fp16 dense throughput 6.25-18.75 TOPS)."
        ),
        segments=(),
        tpp_min=100.0,
        tpp_max=300.0,
        performance_density_min=0.125,
        performance_density_max=0.375,
    )


def test_where_another_ranged_figure_moves_the_crossing_each_case_names_it(book: RuleBook) -> None:
    """Shipped rules: bf16 250-300 TOPS with a die of 700-800 mm2. 3A090.a.2 needs PD 5.92, so the
    throughput crossing is 5.92 x 700 / 16 = 259 TOPS on the small die and 296 on the large one."""
    spec = Spec(
        (Throughput("bf16", None),),
        datacenter=True,
        memory_bandwidth_gbps=F(1200),
        interconnect_bandwidth_gbps=F(600),
        ranges=(
            FigureRange("throughput.0", F(250), F(300), source="vendor", note="peak"),
            FigureRange("die_area_mm2", F(700), F(800)),
        ),
    )
    c, analysis = ranges.classification(spec, book.in_force(date(2026, 11, 28)), book)
    assert c.eccn == "3A090.a"
    small, large = "die area 700 mm2", "die area 800 mm2"
    assert analysis == RangeAnalysis(
        figures=(
            RangeOut("throughput.0", "bf16 dense throughput (TOPS)", "250", "300", "vendor", "peak"),
            RangeOut("die_area_mm2", "die area (mm2)", "700", "800", None, None),
        ),
        decisive=True,
        summary=(
            "The range decides: 3A090.b if the bf16 dense throughput is below 259 TOPS; 3A090.a if it is at least "
            "259 TOPS (with die area 700 mm2). 3A090.b if the bf16 dense throughput is below 296 TOPS; 3A090.a if "
            "it is at least 296 TOPS (with die area 800 mm2)."
        ),
        segments=(
            Segment("throughput.0", "250", "250", True, "259", "259", False, small, "3A090.b"),
            Segment("throughput.0", "259", "259", True, "300", "300", True, small, "3A090.a"),
            Segment("throughput.0", "250", "250", True, "296", "296", False, large, "3A090.b"),
            Segment("throughput.0", "296", "296", True, "300", "300", True, large, "3A090.a"),
        ),
        tpp_min=4000.0,
        tpp_max=4800.0,
        performance_density_min=5.0,
        performance_density_max=6.857143,
    )


def theta(files: loader.ReferenceFiles, b: tuple[str, str], a: tuple[str, str]) -> RuleBook:
    """A one-ruleset book: 3A090.b and 3A090.a each by one TPP comparison."""
    doc = {
        "id": "theta-v1",
        "family": "theta",
        "title": "theta",
        "effective_from": "2024-01-01",
        "source_kind": "regulation",
        "citations": [{"source": "fixture theta", "source_kind": "regulation"}],
        "classification": {
            "clauses": [
                {"id": "ta", "eccn": "3A090.a", "text": "a", "all": [["tpp", *a]]},
                {"id": "tb", "eccn": "3A090.b", "text": "b", "all": [["tpp", *b]]},
            ]
        },
    }
    return loader.build_book(files, [type(files.rulesets[0]).model_validate(doc)], [], "theta")


@pytest.mark.parametrize(
    ("b", "a", "low", "summary"),
    [
        pytest.param(
            (">", "401"),
            (">=", "801"),
            401,
            "The range decides: not 3A090 if the fp16 dense throughput is at most 25.0625 TOPS (exactly 401/16); "
            "3A090.b if it is above 25.0625 TOPS (exactly 401/16) below 50.0625 TOPS (exactly 801/16); "
            "3A090.a if it is at least 50.0625 TOPS (exactly 801/16).",
            id="starting-on-a-strict-threshold-a-single-point-then-two-parts",
        ),
        pytest.param(
            (">", "401"),
            (">", "801"),
            300,
            "The range decides: not 3A090 if the fp16 dense throughput is at most 25.0625 TOPS (exactly 401/16); "
            "3A090.b if it is above 25.0625 TOPS (exactly 401/16) to 50.0625 TOPS (exactly 801/16); "
            "3A090.a if it is above 50.0625 TOPS (exactly 801/16).",
            id="strict-thresholds-include-the-crossing-below",
        ),
    ],
)
def test_each_part_of_a_range_says_whether_its_ends_are_included_and_their_exact_value(
    b: tuple[str, str], a: tuple[str, str], low: int, summary: str
) -> None:
    files = loader.read_reference_files(FIXTURE)
    book = theta(files, b, a)
    c, analysis = ranges.classification(tpp_range(low, 900), book.in_force(V2), book)
    assert c.eccn == "3A090.a" and analysis is not None
    assert analysis.summary == summary
    assert len(analysis.segments) == 3


def test_where_the_throughput_moves_the_die_area_s_crossing_each_case_names_the_throughput(book: RuleBook) -> None:
    """Throughput listed first does not decide at either die-area end; the die area decides at both
    throughput ends, each with its own crossing (PD 5.92 at 4,160 / 5.92 and 4,640 / 5.92 mm2)."""
    spec = Spec(
        (Throughput("bf16", None),),
        datacenter=True,
        memory_bandwidth_gbps=F(1200),
        interconnect_bandwidth_gbps=F(600),
        ranges=(FigureRange("throughput.0", F(260), F(290)), FigureRange("die_area_mm2", F(700), F(800))),
    )
    _, analysis = ranges.classification(spec, book.in_force(date(2026, 11, 28)), book)
    assert analysis is not None and analysis.decisive
    assert analysis.summary == (
        "The range decides: 3A090.a if the die area is at most 702.702703 mm2 (exactly 26000/37); 3A090.b if it is "
        "above 702.702703 mm2 (exactly 26000/37) (with bf16 dense throughput 260 TOPS). 3A090.a if the die area is "
        "at most 783.783784 mm2 (exactly 29000/37); 3A090.b if it is above 783.783784 mm2 (exactly 29000/37) "
        "(with bf16 dense throughput 290 TOPS)."
    )
    assert {s.held for s in analysis.segments} == {"bf16 dense throughput 260 TOPS", "bf16 dense throughput 290 TOPS"}


def test_two_ranges_that_do_not_matter_are_both_named(book: RuleBook) -> None:
    spec = Spec(
        (Throughput("bf16", None),),
        datacenter=True,
        memory_bandwidth_gbps=F(1200),
        interconnect_bandwidth_gbps=F(600),
        ranges=(FigureRange("die_area_mm2", F(100), F(200)), FigureRange("throughput.0", F(400), F(500))),
    )
    _, analysis = ranges.classification(spec, book.in_force(date(2026, 11, 28)), book)
    assert analysis is not None and not analysis.decisive
    assert analysis.summary == (
        "The range did not matter: 3A090.a anywhere in the given range "
        "(die area 100-200 mm2, bf16 dense throughput 400-500 TOPS)."
    )


def test_a_figure_that_decides_only_at_one_end_of_the_other_names_no_held_figure(book: RuleBook) -> None:
    """bf16 230-290 TOPS on 700-800 mm2: the throughput decides only on the small die (at 259 TOPS),
    the die area only at the high throughput (at 29000/37 mm2); each once, so no "(with ...)"."""
    spec = Spec(
        (Throughput("bf16", None),),
        datacenter=True,
        memory_bandwidth_gbps=F(1200),
        interconnect_bandwidth_gbps=F(600),
        ranges=(FigureRange("throughput.0", F(230), F(290)), FigureRange("die_area_mm2", F(700), F(800))),
    )
    _, analysis = ranges.classification(spec, book.in_force(date(2026, 11, 28)), book)
    assert analysis is not None
    assert analysis.summary == (
        "The range decides: 3A090.b if the bf16 dense throughput is below 259 TOPS; 3A090.a if it is at least "
        "259 TOPS. 3A090.a if the die area is at most 783.783784 mm2 (exactly 29000/37); 3A090.b if it is above "
        "783.783784 mm2 (exactly 29000/37)."
    )
    assert {s.held for s in analysis.segments} == {None}


def test_a_ranged_memory_die_has_no_tpp_bounds(book: RuleBook) -> None:
    hbm = Spec(
        (), datacenter=False, memory_bandwidth_gbps=F(800), kind="hbm",
        ranges=(FigureRange("die_area_mm2", F(300), F(500)),),
    )  # fmt: skip
    c, analysis = ranges.classification(hbm, book.in_force(date(2026, 11, 28)), book)
    assert c.eccn == "3A090.c" and analysis is not None
    assert analysis.summary == (
        "The range decides: 3A090.c if the die area is below 400 mm2; not 3A090 if it is at least 400 mm2."
    )
    assert (analysis.tpp_min, analysis.tpp_max, analysis.performance_density_min) == (None, None, None)


@pytest.mark.parametrize(
    ("value", "text"),
    [(F(250), "250"), (F(75, 2), "37.5"), (F(225, 4), "56.25"), (F(1, 3), "0.333333"), (F(2, 3), "0.666667")],
)
def test_a_range_bound_is_written_exactly_when_it_terminates_else_to_six_places(value: Fraction, text: str) -> None:
    assert ranges._text(value) == text
