"""3A090 metrics: TPP (Technical Note 1), dense only (Note 3), performance density (Note 4), HBM density."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from app.catalog.schemas import SpecIn
from app.catalog.service import sparse_notes, spec_from_input
from app.rules import metrics
from app.rules.book import RuleBook, Spec, Throughput
from app.rules.classify import classify, display

ON = date(2026, 11, 28)


def spec(*rows: tuple[str, str], die: str | Fraction | None = None, datacenter: bool = True) -> Spec:
    area = Fraction(die) if die is not None else None
    return Spec(tuple(Throughput(p, Fraction(Decimal(t))) for p, t in rows), datacenter, area)


@pytest.mark.parametrize(
    ("rows", "tpp", "precision"),
    [
        pytest.param([("fp16", "300")], 4800, "fp16", id="rule-example-300-fp16-is-4800"),
        pytest.param([("int8", "600")], 4800, "int8", id="rule-example-600-int8-is-4800"),
        pytest.param([("fp16", "989.5"), ("fp8", "1979")], 15832, "fp16", id="h100-tie-keeps-first-listed"),
        pytest.param([("fp16", "148"), ("int8", "296")], 2368, "fp16", id="h20-2368"),
        pytest.param([("fp16", "330.3")], Fraction("5284.8"), "fp16", id="rtx4090-about-5285"),
        pytest.param([("fp16", "100"), ("fp8", "300")], 2400, "fp8", id="max-over-precisions-not-first"),
        pytest.param([("fp64", "67"), ("fp16", "148")], 4288, "fp64", id="bit-length-weights-fp64-64"),
        pytest.param([("tf32", "150"), ("bf16", "200")], 4800, "tf32", id="tf32-counts-32-bits"),
        pytest.param([("fp4", "1187.5"), ("fp6", "700")], 4750, "fp4", id="fp4-4-bits-fp6-6-bits"),
        pytest.param([("int4", "1200")], 4800, "int4", id="int4-4-bits"),
    ],
)
def test_tpp_is_the_highest_dense_throughput_times_bit_length(
    book: RuleBook, rows: list[tuple[str, str]], tpp: int | Fraction, precision: str
) -> None:
    m = metrics.compute(spec(*rows), book.definitions.bit_lengths)
    assert m.tpp == tpp
    assert isinstance(m.tpp, Fraction)
    assert m.tpp_precision == precision


@pytest.mark.parametrize(
    ("tops", "die", "eccn"),
    [
        pytest.param("300", "100000", "3A090.a", id="tpp-exactly-4800-is-3A090.a"),
        pytest.param("299.9999375", "100000", None, id="tpp-4799.999-is-not-3A090"),
        pytest.param("300.0000625", "100000", "3A090.a", id="tpp-4800.001-is-3A090.a"),
    ],
)
def test_tpp_on_the_4800_line_is_decided_exactly(book: RuleBook, tops: str, die: str, eccn: str | None) -> None:
    m = metrics.compute(spec(("fp16", tops), die=die), book.definitions.bit_lengths)
    c = classify(m, book.in_force(ON), book.definitions)
    assert c.eccn == eccn


def test_tpp_of_4799_999_is_exact_not_a_rounded_float(book: RuleBook) -> None:
    m = metrics.compute(spec(("fp16", "299.9999375")), book.definitions.bit_lengths)
    assert m.tpp == Fraction("4799.999")
    assert m.tpp < 4800


@pytest.mark.parametrize(
    ("die", "density", "eccn", "met"),
    [
        # 1600 / 270.27027 = 160000000 / 27027027 = 5.9200000059...: on or above 5.92, so 3A090.a.2
        pytest.param("270.27027", Fraction(160000000, 27027027), "3A090.a", "3A090.a.2", id="1600-over-270.27027-is-a"),
        # 1600 / 270.27028 = 5.9199997869...: below 5.92 but >= 3.2, so 3A090.b.2
        pytest.param("270.27028", Fraction(40000000, 6756757), "3A090.b", "3A090.b.2", id="1600-over-270.27028-is-b"),
        # 1600 / (10000/37) = 5.92 exactly: ">= 5.92" includes it
        pytest.param(Fraction(10000, 37), Fraction("5.92"), "3A090.a", "3A090.a.2", id="pd-exactly-5.92-is-a"),
    ],
)
def test_performance_density_is_exact_and_rounding_never_flips_the_class(
    book: RuleBook, die: str | Fraction, density: Fraction, eccn: str, met: str
) -> None:
    m = metrics.compute(spec(("fp16", "100"), die=die), book.definitions.bit_lengths)
    assert m.tpp == 1600
    assert m.performance_density == density
    c = classify(m, book.in_force(ON), book.definitions)
    assert c.eccn == eccn
    # the display value rounds to 5.92 in every case; the decision reads the fraction
    assert c.performance_density == 5.92
    clauses = {cl.id: cl.met for r in c.rulesets for cl in r.clauses}
    assert clauses[met] is True
    pd_margin = next(
        cond
        for r in c.rulesets
        for cl in r.clauses
        if cl.id == "3A090.a.2"
        for cond in cl.conditions
        if cond.metric == "performance_density"
    )
    # a margin that is not zero is never shown as zero
    assert (pd_margin.margin == 0) == (density == Fraction("5.92"))


def test_performance_density_is_tpp_over_die_area(book: RuleBook) -> None:
    m = metrics.compute(spec(("fp16", "989.5"), die="814"), book.definitions.bit_lengths)
    assert m.performance_density == Fraction(15832, 814)
    assert display(m.performance_density) == pytest.approx(19.45, abs=0.005)


def test_performance_density_is_unknown_without_die_area(book: RuleBook) -> None:
    m = metrics.compute(spec(("fp16", "100")), book.definitions.bit_lengths)
    assert m.performance_density is None


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        pytest.param(
            spec(("fp12", "100")), "throughput.0.precision", "unknown precision 'fp12'", id="unknown-precision-fp12"
        ),
        pytest.param(
            spec(("fp16", "100"), ("FP8", "200")),
            "throughput.1.precision",
            "unknown precision 'FP8'",
            id="precision-is-case-sensitive",
        ),
        pytest.param(spec(("fp16", "0")), "throughput.0.dense_tops", "must be greater than 0", id="zero-throughput"),
        pytest.param(
            spec(),
            "throughput",
            "a logic IC needs at least one dense throughput figure",
            id="logic-ic-without-throughput",
        ),
    ],
)
def test_unreadable_spec_raises_spec_error_naming_the_field_and_the_problem(
    book: RuleBook, given: Spec, field: str, message: str
) -> None:
    with pytest.raises(metrics.SpecError) as err:
        metrics.compute(given, book.definitions.bit_lengths)
    assert (err.value.field, err.value.message, str(err.value)) == (field, message, message)


@pytest.mark.parametrize(
    ("sparse", "tops", "dense", "tpp"),
    [
        pytest.param(True, "600", Fraction(300), 4800, id="sparse-600-fp16-halved-to-300-tpp-4800"),
        pytest.param(False, "600", Fraction(600), 9600, id="dense-600-fp16-kept-tpp-9600"),
        pytest.param(True, "599.999875", Fraction("299.9999375"), Fraction("4799.999"), id="sparse-halving-is-exact"),
    ],
)
def test_sparse_figures_are_halved_by_spec_from_input(
    book: RuleBook, sparse: bool, tops: str, dense: Fraction, tpp: Fraction | int
) -> None:
    given = SpecIn.model_validate(
        {"throughput": [{"precision": "fp16", "dense_tops": tops, "sparse": sparse}], "datacenter": True}
    )
    s = spec_from_input(given)
    assert s.throughput[0].dense_tops == dense
    assert any("halved" in note for note in sparse_notes(given)) is sparse
    assert metrics.compute(s, book.definitions.bit_lengths).tpp == tpp


@pytest.mark.parametrize(
    ("bandwidth", "area", "density"),
    [
        pytest.param("2000", "1000", Fraction(2), id="hbm-2-gbps-per-mm2"),
        pytest.param("819.2", "110", Fraction("819.2") / 110, id="hbm3-stack"),
    ],
)
def test_memory_bandwidth_density_is_hbm_bandwidth_over_area(
    book: RuleBook, bandwidth: str, area: str, density: Fraction
) -> None:
    hbm = Spec((), True, Fraction(area), memory_bandwidth_gbps=Fraction(bandwidth), kind="hbm")
    m = metrics.compute(hbm, book.definitions.bit_lengths)
    assert m.memory_bandwidth_density == density
    assert m.tpp is None


def test_memory_bandwidth_density_is_not_computed_for_a_logic_ic(book: RuleBook) -> None:
    logic = Spec((Throughput("fp16", Fraction(148)),), True, Fraction(814), memory_bandwidth_gbps=Fraction(4000))
    assert metrics.compute(logic, book.definitions.bit_lengths).memory_bandwidth_density is None
