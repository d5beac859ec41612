"""Threshold clauses of 3A090 on both sides of every boundary and exactly on the line."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from app.rules import metrics
from app.rules.book import RuleBook, Spec, Throughput
from app.rules.classify import Classification, UndeterminedError, classify

RULE_2023 = date(2024, 6, 1)  # ac-2024-04-04: the 2023 thresholds
RULE_2022 = date(2022, 12, 1)  # ac-2022-10-07
HBM_FROM = date(2024, 12, 2)


def spec(
    tpp: str | int,
    die: str | int | Fraction | None = None,
    *,
    datacenter: bool = True,
    interconnect: str | int | None = None,
) -> Spec:
    """A spec with the given TPP (as fp16 dense TFLOPS x 16) and applicable die area."""
    return Spec(
        (Throughput("fp16", Fraction(tpp) / 16),),
        datacenter,
        Fraction(die) if die is not None else None,
        interconnect_bandwidth_gbps=Fraction(interconnect) if interconnect is not None else None,
    )


def die_for(tpp: str | int, density: str) -> Fraction:
    """The die area that gives exactly this performance density."""
    return Fraction(tpp) / Fraction(density)


def run(book: RuleBook, given: Spec, on: date) -> Classification:
    return classify(metrics.compute(given, book.definitions.bit_lengths), book.in_force(on), book.definitions)


def met_clauses(c: Classification) -> set[str]:
    return {cl.id for r in c.rulesets for cl in r.clauses if cl.met}


# (spec, expected ECCN, clauses met) under the 2023 thresholds, datacenter items
CLAUSES_2023 = [
    # 3A090.a.1: TPP >= 4800
    pytest.param(spec(4800, 100_000), "3A090.a", {"3A090.a.1"}, id="a1-tpp-exactly-4800-is-a"),
    pytest.param(spec("4799.999", 100_000), None, set(), id="a1-tpp-4799.999-low-pd-is-not-3A090"),
    pytest.param(spec("4800.001", 100_000), "3A090.a", {"3A090.a.1"}, id="a1-tpp-4800.001-is-a"),
    # 3A090.a.2: TPP >= 1600 and PD >= 5.92
    pytest.param(spec(1600, die_for(1600, "5.92")), "3A090.a", {"3A090.a.2"}, id="a2-tpp-1600-pd-exactly-5.92-is-a"),
    pytest.param(
        spec(1600, die_for(1600, "5.919")), "3A090.b", {"3A090.b.2"}, id="a2-pd-5.919-falls-to-b2-at-tpp-1600"
    ),
    pytest.param(spec("1599.999", die_for("1599.999", "5.92")), None, set(), id="a2-tpp-1599.999-pd-5.92-not-3A090"),
    pytest.param(spec(1600, die_for(1600, 10)), "3A090.a", {"3A090.a.2"}, id="a2-tpp-1600-pd-10-is-a"),
    pytest.param(
        spec(4000, die_for(4000, "5.92")), "3A090.a", {"3A090.a.2"}, id="a2-tpp-4000-pd-exactly-5.92-is-a-not-b"
    ),
    pytest.param(
        spec(4000, die_for(4000, "5.9199")),
        "3A090.b",
        {"3A090.b.1", "3A090.b.2"},
        id="b-tpp-4000-pd-5.9199-is-b1-and-b2",
    ),
    # 3A090.b.1: 2400 <= TPP < 4800 and 1.6 <= PD < 5.92
    pytest.param(spec(2400, 1500), "3A090.b", {"3A090.b.1"}, id="b1-tpp-exactly-2400-pd-exactly-1.6-is-b"),
    pytest.param(spec("2399.999", 1500), None, set(), id="b1-tpp-2399.999-pd-1.6-not-3A090"),
    pytest.param(spec(2400, 1501), None, set(), id="b1-pd-just-below-1.6-not-3A090"),
    pytest.param(spec("4799.999", 1000), "3A090.b", {"3A090.b.1", "3A090.b.2"}, id="b1-tpp-4799.999-pd-4.8-is-b"),
    pytest.param(
        spec(4800, 1000), "3A090.a", {"3A090.a.1", "3A090.b.2"}, id="tpp-4800-pd-4.8-a-wins-over-b2-which-also-holds"
    ),
    # 3A090.b.2: TPP >= 1600 and 3.2 <= PD < 5.92
    pytest.param(spec(3200, 1000), "3A090.b", {"3A090.b.1", "3A090.b.2"}, id="b2-tpp-3200-die-1000-pd-exactly-3.2"),
    pytest.param(spec(1600, 500), "3A090.b", {"3A090.b.2"}, id="b2-tpp-1600-pd-exactly-3.2-is-b"),
    pytest.param(spec(1600, die_for(1600, "3.199")), None, set(), id="b2-pd-3.199-at-tpp-1600-not-3A090"),
    pytest.param(spec("1599.999", 400), None, set(), id="b2-tpp-1599.999-pd-4-not-3A090"),
    pytest.param(spec(2000, die_for(2000, "3.2")), "3A090.b", {"3A090.b.2"}, id="b2-tpp-2000-pd-exactly-3.2-is-b"),
    # below every floor
    pytest.param(spec(1000, 100), None, set(), id="tpp-1000-pd-10-not-3A090"),
]


@pytest.mark.parametrize(("given", "eccn", "clauses"), CLAUSES_2023)
def test_2023_clauses_decide_on_each_side_and_on_the_line(
    book: RuleBook, given: Spec, eccn: str | None, clauses: set[str]
) -> None:
    c = run(book, given, RULE_2023)
    assert c.eccn == eccn
    assert met_clauses(c) == clauses
    assert c.notes_applied == ()


@pytest.mark.parametrize(
    ("eccn", "assembly"),
    [
        pytest.param("3A090.a", "4A090.a", id="a-assemblies-are-4A090.a"),
        pytest.param("3A090.b", "4A090.b", id="b-assemblies-are-4A090.b"),
    ],
)
def test_assemblies_follow_the_ic(book: RuleBook, eccn: str, assembly: str) -> None:
    given = spec(4800, 1000) if eccn == "3A090.a" else spec(3200, 1000)
    c = run(book, given, RULE_2023)
    assert (c.eccn, c.assembly_eccn) == (eccn, assembly)


@pytest.mark.parametrize(
    ("given", "eccn", "notes"),
    [
        pytest.param(spec("4799.999", 100, datacenter=False), None, ("3A090 Note 2",), id="note2-pd-47-tpp-4799.999"),
        pytest.param(spec(4800, 100, datacenter=False), "3A090.a", (), id="note2-not-at-tpp-exactly-4800"),
        pytest.param(
            spec(1600, die_for(1600, "5.92"), datacenter=False), None, ("3A090 Note 2",), id="note2-excludes-a2"
        ),
        pytest.param(spec(3200, 1000, datacenter=False), None, ("3A090 Note 2",), id="note2-excludes-b"),
        pytest.param(spec(2000, None, datacenter=False), None, ("3A090 Note 2",), id="note2-decides-without-die"),
        pytest.param(spec(3200, 1000, datacenter=True), "3A090.b", (), id="datacenter-item-not-excluded"),
    ],
)
def test_note_2_excludes_non_datacenter_items_below_tpp_4800(
    book: RuleBook, given: Spec, eccn: str | None, notes: tuple[str, ...]
) -> None:
    c = run(book, given, RULE_2023)
    assert c.eccn == eccn
    assert c.notes_applied == notes
    if notes:
        assert c.summary == "Not 3A090: excluded by 3A090 Note 2."


@pytest.mark.parametrize(
    ("given", "eccn"),
    [
        pytest.param(spec(4800, None), "3A090.a", id="tpp-exactly-4800-decides-without-die"),
        pytest.param(spec(15832, None), "3A090.a", id="tpp-15832-decides-without-die"),
        pytest.param(spec("1599.999", None), None, id="tpp-below-1600-decides-without-die"),
    ],
)
def test_missing_die_area_is_fine_where_tpp_decides(book: RuleBook, given: Spec, eccn: str | None) -> None:
    assert run(book, given, RULE_2023).eccn == eccn


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(spec(1600, None), id="tpp-1600"),
        pytest.param(spec(2368, None), id="h20-like-tpp-2368"),
        pytest.param(spec("4799.999", None), id="tpp-4799.999"),
    ],
)
def test_missing_die_area_where_density_decides_is_undetermined_naming_die_area(book: RuleBook, given: Spec) -> None:
    with pytest.raises(UndeterminedError) as err:
        run(book, given, RULE_2023)
    assert err.value.fields == ("die_area_mm2",)
    assert "die_area_mm2" in str(err.value)


# The October 2022 rule: interconnect >= 600 GB/s AND TPP >= 4800; no density, no datacenter test.
@pytest.mark.parametrize(
    ("given", "eccn"),
    [
        pytest.param(spec(4800, 100_000, interconnect=600), "3A090.a", id="2022-both-exactly-on-the-line"),
        pytest.param(spec(4800, 100_000, interconnect="599.999"), None, id="2022-interconnect-599.999"),
        pytest.param(spec("4799.999", 100_000, interconnect=900), None, id="2022-tpp-4799.999"),
        pytest.param(spec(15832, 814, interconnect=400), None, id="2022-h800-like-400-gbps-not-a"),
        pytest.param(spec(15832, 814, interconnect=900), "3A090.a", id="2022-h100-like-900-gbps-is-a"),
        pytest.param(spec(1600, 100, interconnect=900), None, id="2022-density-is-no-parameter"),
        pytest.param(spec(5285, 608, interconnect=600, datacenter=False), "3A090.a", id="2022-no-datacenter-test"),
        pytest.param(spec(4000, None, interconnect=None), None, id="2022-tpp-decides-without-interconnect"),
    ],
)
def test_2022_rule_needs_interconnect_600_and_tpp_4800(book: RuleBook, given: Spec, eccn: str | None) -> None:
    c = run(book, given, RULE_2022)
    assert [r.ruleset.id for r in c.rulesets] == ["ac-2022-10-07"]
    assert c.eccn == eccn
    assert c.notes_applied == ()


def test_2022_rule_without_interconnect_is_undetermined_where_tpp_reaches_4800(book: RuleBook) -> None:
    with pytest.raises(UndeterminedError) as err:
        run(book, spec(4800, 1000), RULE_2022)
    assert err.value.fields == ("interconnect_bandwidth_gbps",)


def hbm(bandwidth: str, area: str | None) -> Spec:
    return Spec((), True, Fraction(area) if area else None, memory_bandwidth_gbps=Fraction(bandwidth), kind="hbm")


@pytest.mark.parametrize(
    ("given", "on", "eccn"),
    [
        pytest.param(hbm("2000.001", "1000"), HBM_FROM, "3A090.c", id="hbm-density-2.000001-is-c"),
        pytest.param(hbm("2000", "1000"), HBM_FROM, None, id="hbm-density-exactly-2-is-not-c"),
        pytest.param(hbm("1999.999", "1000"), HBM_FROM, None, id="hbm-density-1.999999-is-not-c"),
        pytest.param(hbm("3300", "1000"), HBM_FROM, "3A090.c", id="hbm-density-3.3-is-c"),
        pytest.param(hbm("3300", "1000"), date(2024, 12, 1), None, id="hbm-not-controlled-day-before-2024-12-02"),
    ],
)
def test_3A090_c_is_hbm_with_bandwidth_density_above_2(book: RuleBook, given: Spec, on: date, eccn: str | None) -> None:
    c = run(book, given, on)
    assert c.eccn == eccn
    assert c.assembly_eccn is None


def test_hbm_without_area_is_undetermined_naming_die_area(book: RuleBook) -> None:
    with pytest.raises(UndeterminedError) as err:
        run(book, hbm("3000", None), HBM_FROM)
    assert err.value.fields == ("die_area_mm2",)


def test_a_logic_ic_is_never_3A090_c(book: RuleBook) -> None:
    logic = Spec((Throughput("fp16", Fraction(10)),), True, Fraction(10), memory_bandwidth_gbps=Fraction(8000))
    assert run(book, logic, HBM_FROM).eccn is None


def test_margins_name_the_distance_to_the_threshold(book: RuleBook) -> None:
    c = run(book, spec(2368, 814), RULE_2023)
    b1 = next(cl for r in c.rulesets for cl in r.clauses if cl.id == "3A090.b.1")
    tpp = next(cond for cond in b1.conditions if cond.metric == "tpp" and cond.operator == ">=")
    assert tpp.met is False
    assert tpp.margin == -32
    assert "32 below 2,400" in tpp.explanation


@pytest.mark.parametrize(
    ("on", "eccn", "rulesets"),
    [
        pytest.param(date(2022, 10, 6), None, [], id="day-before-first-rule-no-rulesets"),
        pytest.param(date(2022, 10, 7), "3A090.a", ["ac-2022-10-07"], id="first-day-of-2022-rule"),
        pytest.param(
            date(2023, 11, 16), "3A090.a", ["ac-2023-01-17", "ac-2023-10-23-early"], id="last-day-before-2023"
        ),
        pytest.param(date(2023, 11, 17), "3A090.a", ["ac-2023-11-17"], id="first-day-of-2023-rule"),
    ],
)
def test_each_ruleset_in_force_classifies(book: RuleBook, on: date, eccn: str | None, rulesets: list[str]) -> None:
    c = run(book, spec(15832, 814, interconnect=900), on)
    assert c.eccn == eccn
    assert [r.ruleset.id for r in c.rulesets] == rulesets
    if not rulesets:
        assert c.summary == "No advanced-computing control (3A090) was in force on this date."
