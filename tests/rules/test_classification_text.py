"""What a classification says, word for word: each condition's explanation (value, distance from
the threshold, verdict), its display value and margin, the numbers as a reader sees them
(thousands separators, six places, never "0" for a difference rounding would hide), the TPP
figures and the one-line summary in each case. On the shipped rules of 2023-11-17 (written
against surviving mutants of the engine run; docs/mutation.md)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from app.rules import classify, licensing, metrics
from app.rules.book import RuleBook, Spec, Throughput
from app.rules.classify import Classification, TppResult

ON = date(2023, 11, 17)


def classified(book: RuleBook, spec: Spec, on: date = ON) -> Classification:
    selection = licensing.select(book, on, on)
    return classify.classify(metrics.compute(spec, book.definitions.bit_lengths), selection.rulesets, book.definitions)


def conditions(c: Classification, clause: str) -> list[tuple[str, object, object, object]]:
    (found,) = [x for r in c.rulesets for x in (*r.clauses, *r.notes) if x.id == clause]
    return [(x.explanation, x.value, x.margin, x.met) for x in found.conditions]


def test_a_density_a_hair_above_the_line_is_explained_without_rounding_it_away(book: RuleBook) -> None:
    """TPP 1,600 on 270.27027 mm2: performance density 5.92000000592, about 5.9e-9 above 5.92."""
    c = classified(
        book, Spec((Throughput("fp16", Fraction(100)),), datacenter=True, die_area_mm2=Fraction("270.27027"))
    )
    assert (c.eccn, c.summary, c.notes_applied) == ("3A090.a", "3A090.a: meets 3A090.a.2.", ())
    assert c.tpp == TppResult(1600.0, "fp16", 100.0, 16)
    assert c.performance_density == 5.92 and c.memory_bandwidth_density is None and c.assembly_eccn == "4A090.a"
    tiny = 5.92000000592e-09
    assert conditions(c, "3A090.a.2") == [
        ("kind is logic: meets in logic", "logic", None, True),
        ("TPP 1,600 is exactly 1,600: meets >= 1600", 1600.0, 0.0, True),
        ("performance density 5.92 is 5.92e-9 above 5.92: meets >= 5.92", 5.92, tiny, True),
    ]
    assert conditions(c, "3A090.b.1") == [
        ("kind is logic: meets in logic", "logic", None, True),
        ("TPP 1,600 is 800 below 2,400: does not meet >= 2400", 1600.0, -800.0, False),
        ("TPP 1,600 is 3,200 below 4,800: meets < 4800", 1600.0, -3200.0, True),
        ("performance density 5.92 is 4.32 above 1.6: meets >= 1.6", 5.92, 4.32, True),
        ("performance density 5.92 is 5.92e-9 above 5.92: does not meet < 5.92", 5.92, tiny, False),
    ]
    assert conditions(c, "3A090 Note 2") == [
        ("kind is logic: meets in logic", "logic", None, True),
        ("designed or marketed for datacenters is True: does not meet == false", True, None, False),
        ("TPP 1,600 is 3,200 below 4,800: meets < 4800", 1600.0, -3200.0, True),
    ]


def test_a_part_exactly_on_tpp_4800_is_3a090a_and_says_exactly(book: RuleBook) -> None:
    c = classified(book, Spec((Throughput("fp16", Fraction(300)),), datacenter=True, die_area_mm2=Fraction(1000)))
    assert (c.eccn, c.summary) == ("3A090.a", "3A090.a: meets 3A090.a.1.")
    assert conditions(c, "3A090.a.1")[1] == ("TPP 4,800 is exactly 4,800: meets >= 4800", 4800.0, 0.0, True)
    assert conditions(c, "3A090.b.1")[2] == ("TPP 4,800 is exactly 4,800: does not meet < 4800", 4800.0, 0.0, False)
    assert conditions(c, "3A090.a.2")[2] == (
        "performance density 4.8 is 1.12 below 5.92: does not meet >= 5.92",
        4.8,
        -1.12,
        False,
    )


@pytest.mark.parametrize(
    ("spec", "on", "eccn", "summary", "notes"),
    [
        pytest.param(
            Spec((Throughput("fp16", Fraction(150)),), datacenter=False, die_area_mm2=Fraction(1000)),
            ON,
            None,
            "Not 3A090: excluded by 3A090 Note 2.",
            ("3A090 Note 2",),
            id="note-2-excludes-a-non-datacenter-part",
        ),
        pytest.param(
            Spec((Throughput("fp16", Fraction(10)),), datacenter=True, die_area_mm2=Fraction(1000)),
            ON,
            None,
            "Not 3A090: no threshold clause is met.",
            (),
            id="below-every-clause",
        ),
        pytest.param(
            Spec((Throughput("fp16", Fraction(10)),), datacenter=True, die_area_mm2=Fraction(1000)),
            date(2020, 1, 1),
            None,
            "No advanced-computing control (3A090) was in force on this date.",
            (),
            id="before-any-3a090-rule",
        ),
        pytest.param(
            Spec((Throughput("fp16", Fraction(1000)),), datacenter=True, die_area_mm2=Fraction(800)),
            ON,
            "3A090.a",
            "3A090.a: meets 3A090.a.1, 3A090.a.2.",
            (),
            id="two-clauses-met",
        ),
    ],
)
def test_the_summary_says_why_in_one_line(
    book: RuleBook, spec: Spec, on: date, eccn: str | None, summary: str, notes: tuple[str, ...]
) -> None:
    c = classified(book, spec, on)
    assert (c.eccn, c.summary, c.notes_applied) == (eccn, summary, notes)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(1234567, 1000), "1,234.567"),
        (Fraction(5), "5"),
        (Fraction(5920, 1000), "5.92"),
        (Fraction(1, 3), "0.333333"),
        (Fraction(2, 3), "0.666667"),
        (Fraction(1, 10**9), "1e-9"),
        (Fraction(123456789, 10**15), "1.23e-7"),
    ],
)
def test_numbers_are_written_with_separators_six_places_and_never_a_hidden_difference(
    value: Fraction, text: str
) -> None:
    assert classify._fmt(value) == text


def test_a_margin_is_never_shown_as_zero_off_the_threshold() -> None:
    assert classify._margin(Fraction(1, 10**9)) == 1e-9
    assert classify._margin(Fraction(-1, 10**9)) == -1e-9
    assert classify._margin(Fraction(0)) == 0.0
    assert classify._margin(Fraction(-2, 3)) == -0.666667
    assert classify.display(Fraction(5, 2 * 10**6)) == 0.000002  # half-even: 0.0000025 -> 0.000002
    assert classify.display(Fraction(7, 2 * 10**6)) == 0.000004  # 0.0000035 -> 0.000004


@pytest.mark.parametrize(
    ("value", "op", "threshold", "met"),
    [
        (Fraction(5), "<=", Fraction(5), True),
        (Fraction(6), "<=", Fraction(5), False),
        (Fraction(5), "==", Fraction(5), True),
        (Fraction(5), "==", Fraction(6), False),
        (Fraction(5), "<", Fraction(5), False),
        (Fraction(5), ">", Fraction(5), False),
        (Fraction(5), ">=", Fraction(5), True),
    ],
)
def test_every_operator_the_data_may_use_compares_exactly(
    value: Fraction, op: str, threshold: Fraction, met: bool
) -> None:
    assert classify._compare(value, op, threshold) is met
    with pytest.raises(ValueError, match="does not compare numbers"):
        classify._compare(value, "in", threshold)


def test_each_clause_and_note_result_carries_the_text_of_the_rule(book: RuleBook) -> None:
    c = classified(book, Spec((Throughput("fp16", Fraction(300)),), datacenter=True, die_area_mm2=Fraction(1000)))
    for result in c.rulesets:
        ruleset = book.ruleset(result.ruleset.id)
        assert ruleset is not None
        assert [(x.id, x.text) for x in result.clauses] == [(x.id, x.text) for x in ruleset.clauses]
        assert [(x.id, x.text) for x in result.notes] == [(x.id, x.text) for x in ruleset.notes]
        assert all(x.text for x in (*result.clauses, *result.notes))


def test_a_condition_result_carries_its_metric_operator_and_threshold_known_or_not(book: RuleBook) -> None:
    """A logic part is not HBM: its 3A090.c clause reads a memory bandwidth density the spec lacks."""
    c = classified(
        book, Spec((Throughput("fp16", Fraction(300)),), datacenter=True, die_area_mm2=Fraction(1000)), date(2025, 6, 1)
    )
    (hbm,) = [x for r in c.rulesets for x in r.clauses if x.id == "3A090.c"]
    unknown = hbm.conditions[1]
    assert (unknown.metric, unknown.operator, unknown.threshold, unknown.value, unknown.met, unknown.margin) == (
        "memory_bandwidth_density",
        ">",
        "2",
        None,
        None,
        None,
    )
    assert unknown.explanation == "memory bandwidth density (GB/s/mm2) unknown (not in the spec)"
    (a1,) = [x for r in c.rulesets for x in r.clauses if x.id == "3A090.a.1"]
    tpp = a1.conditions[1]
    assert (tpp.metric, tpp.operator, tpp.threshold) == ("tpp", ">=", "4800")


def test_a_condition_on_a_word_or_a_flag_carries_its_metric_operator_and_threshold(book: RuleBook) -> None:
    """Conditions that compare a kind or a yes/no figure (not a number) say which figure, how it was
    compared and against what, as the numeric ones do (their results are in every answer's clauses)."""
    c = classified(
        book, Spec((Throughput("fp16", Fraction(300)),), datacenter=True, die_area_mm2=Fraction(1000)), date(2025, 6, 1)
    )
    words = [
        x
        for r in c.rulesets
        for clause in (*r.clauses, *r.notes)
        for x in clause.conditions
        if x.margin is None and x.value is not None and not isinstance(x.value, (int, float))
    ]
    assert words, "the shipped rules compare some figure that is not a number"
    # the 3A090.a/.b clauses ask for a logic part, 3A090.c for an HBM stack
    assert {(x.metric, x.operator, x.threshold, x.value, x.met) for x in words} == {
        ("kind", "in", "logic", "logic", True),
        ("kind", "in", "hbm", "logic", False),
    }


def test_an_item_without_throughput_has_no_tpp_figure_at_all(book: RuleBook) -> None:
    """An HBM stack has no processing throughput: its answer's ``tpp`` is null (not an empty figure),
    while its memory bandwidth density is reported."""
    hbm = Spec((), True, Fraction(1000), memory_bandwidth_gbps=Fraction(2500), kind="hbm")
    c = classified(book, hbm, date(2025, 6, 1))
    assert c.tpp is None
    logic = classified(book, Spec((Throughput("fp16", Fraction(300)),), True, Fraction(1000)), date(2025, 6, 1))
    assert logic.tpp is not None and logic.tpp.bit_length == 16
