"""One metric registry (app.rules.metrics.REGISTRY): the ruleset schema, the explanations, the
fields an undetermined answer names and the range analysis all agree with it, and an unknown
metric is an error, never a silent default."""

from __future__ import annotations

from dataclasses import fields
from fractions import Fraction
from typing import get_args

import pytest

from app.regulations.schemas import FlagCondition, NumericCondition, SetCondition
from app.rules import ranges
from app.rules.book import Condition, Spec, Throughput
from app.rules.classify import evaluate, unknown_fields
from app.rules.metrics import METRICS, REGISTRY, compute, names

BITS = {"fp16": 16}
FULL = Spec(
    (Throughput("fp16", Fraction(300)),),
    datacenter=True,
    die_area_mm2=Fraction(800),
    memory_bandwidth_gbps=Fraction(4000),
    interconnect_bandwidth_gbps=Fraction(900),
)
HBM = Spec((), datacenter=True, die_area_mm2=Fraction(100), memory_bandwidth_gbps=Fraction(800), kind="hbm")


def test_registry_names_are_unique() -> None:
    assert len(METRICS) == len(REGISTRY)


def test_the_ruleset_schema_accepts_exactly_the_registry_s_metrics_by_kind() -> None:
    assert set(get_args(get_args(NumericCondition)[0])) == set(names("number"))
    assert set(get_args(get_args(FlagCondition)[0])) == set(names("flag"))
    assert set(get_args(get_args(SetCondition)[0])) == set(names("set"))


def test_every_metric_names_only_real_spec_fields_and_has_a_label() -> None:
    spec_fields = {f.name for f in fields(Spec)}
    for metric in REGISTRY:
        assert metric.label, metric.name
        assert set(metric.spec_fields) <= spec_fields, metric.name


def _holding(metric: str) -> Condition:
    """A condition on ``metric`` that FULL (or HBM) meets."""
    match METRICS[metric].kind:
        case "number":
            return Condition(metric, ">=", Fraction(1), "1")
        case "flag":
            return Condition(metric, "==", True, "true")
        case _:
            return Condition(metric, "in", ("3A090.a", "logic"), "3A090.a, logic")


@pytest.mark.parametrize("metric", [m.name for m in REGISTRY])
def test_every_metric_is_read_from_a_full_spec_and_explained_with_its_label(metric: str) -> None:
    spec = HBM if metric == "memory_bandwidth_density" else FULL
    m = compute(spec, BITS)
    assert m.value(metric, "3A090.a") is not None
    result = evaluate(_holding(metric), m, "3A090.a")
    assert result.explanation.startswith(METRICS[metric].label)
    assert result.met is True


@pytest.mark.parametrize(
    "metric", [m.name for m in REGISTRY if m.kind == "number" and set(m.spec_fields) - {"throughput"}]
)
def test_an_unknown_metric_value_names_the_spec_fields_the_registry_gives(metric: str) -> None:
    empty = Spec((Throughput("fp16", Fraction(300)),), datacenter=True)
    m = compute(empty, BITS)
    assert m.value(metric) is None
    result = evaluate(Condition(metric, ">=", Fraction(1), "1"), m)
    assert unknown_fields([result], empty) == {f for f in METRICS[metric].spec_fields if getattr(empty, f) is None}


def test_an_unknown_metric_is_an_error_not_a_silent_default() -> None:
    m = compute(FULL, BITS)
    with pytest.raises(KeyError):
        m.value("tpp_typo")
    with pytest.raises(KeyError):
        evaluate(Condition("tpp_typo", ">=", Fraction(1), "1"), m)


@pytest.mark.parametrize("metric", names("number"))
def test_the_range_analysis_solves_a_crossing_for_every_numeric_metric(metric: str) -> None:
    """A new numeric metric must also be taught to app.rules.ranges.crossings (this test fails until
    it is): otherwise a ranged figure could straddle its threshold unnoticed."""
    spec = HBM if metric == "memory_bandwidth_density" else FULL
    limits = {metric: frozenset({Fraction(1234)})}
    found = {
        field: ranges.crossings(spec, field, BITS, limits)
        for field in ("throughput.0", "die_area_mm2", "memory_bandwidth_gbps", "interconnect_bandwidth_gbps")
        if not (field == "throughput.0" and not spec.throughput)
    }
    assert any(found.values()), f"no figure's crossing is solved for {metric}: {found}"


def test_ranged_figures_have_a_label_for_every_field_a_range_may_cover() -> None:
    for field in ("die_area_mm2", "memory_bandwidth_gbps", "interconnect_bandwidth_gbps", "throughput.0"):
        name, unit = ranges.label(FULL, field)
        assert name and unit
    with pytest.raises(KeyError):
        ranges.label(FULL, "kind")
