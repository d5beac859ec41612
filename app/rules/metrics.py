"""Metrics of 3A090: total processing performance, performance density, bandwidth figures.

All arithmetic is exact (``fractions.Fraction``): a value on a threshold stays on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

from app.rules.book import Spec

MetricValue = Fraction | bool | str | None


class SpecError(ValueError):
    """A spec the rules cannot read; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Metrics:
    tpp: Fraction | None
    tpp_precision: str | None
    tpp_dense_tops: Fraction | None
    tpp_bit_length: int | None
    performance_density: Fraction | None
    memory_bandwidth_density: Fraction | None
    spec: Spec

    def value(self, metric: str, eccn: str | None = None) -> MetricValue:
        """The value a condition reads (``eccn``: the ECCN being tested); None when the spec does
        not give it. KeyError for a metric the registry does not define."""
        return METRICS[metric].read(self, eccn)


MetricKind = Literal["number", "flag", "set"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One figure a ruleset condition can read.

    ``name`` is how rulesets write it, ``label`` how an explanation names it (with its unit where
    it has one), ``kind`` what it is compared with (a number, a flag, or membership of a set),
    ``spec_fields`` the spec fields it is computed from (what a caller must give for it to be
    known), and ``read`` how it is taken from computed ``Metrics``.
    """

    name: str
    label: str
    unit: str | None
    kind: MetricKind
    spec_fields: tuple[str, ...]
    read: Callable[[Metrics, str | None], MetricValue]


def _memory_plus_interconnect(m: Metrics, _eccn: str | None) -> Fraction | None:
    mem, io = m.spec.memory_bandwidth_gbps, m.spec.interconnect_bandwidth_gbps
    return None if mem is None or io is None else mem + io


REGISTRY: tuple[Metric, ...] = (
    Metric("tpp", "TPP", None, "number", ("throughput",), lambda m, _: m.tpp),
    Metric(
        "performance_density",
        "performance density",
        None,
        "number",
        ("throughput", "die_area_mm2"),
        lambda m, _: m.performance_density,
    ),
    Metric(
        "memory_bandwidth_density",
        "memory bandwidth density (GB/s/mm2)",
        "GB/s/mm2",
        "number",
        ("memory_bandwidth_gbps", "die_area_mm2"),
        lambda m, _: m.memory_bandwidth_density,
    ),
    Metric(
        "memory_bandwidth_gbps",
        "memory bandwidth (GB/s)",
        "GB/s",
        "number",
        ("memory_bandwidth_gbps",),
        lambda m, _: m.spec.memory_bandwidth_gbps,
    ),
    Metric(
        "interconnect_bandwidth_gbps",
        "interconnect bandwidth (GB/s)",
        "GB/s",
        "number",
        ("interconnect_bandwidth_gbps",),
        lambda m, _: m.spec.interconnect_bandwidth_gbps,
    ),
    Metric(
        "memory_plus_interconnect_gbps",
        "memory + interconnect bandwidth (GB/s)",
        "GB/s",
        "number",
        ("memory_bandwidth_gbps", "interconnect_bandwidth_gbps"),
        _memory_plus_interconnect,
    ),
    Metric(
        "datacenter",
        "designed or marketed for datacenters",
        None,
        "flag",
        ("datacenter",),
        lambda m, _: m.spec.datacenter,
    ),
    Metric("kind", "kind", None, "set", ("kind",), lambda m, _: m.spec.kind),
    # the ECCN a clause or scope is tested against: not a spec field, so never "missing from the spec"
    Metric("eccn", "ECCN", None, "set", (), lambda _, eccn: eccn),
)
"""Every metric, once. Adding a metric is a row here (and its computation in ``compute`` when it is
derived); the ruleset schema, the explanations, the undetermined-field list and the range analysis
read this table, and tests/rules/test_metric_registry.py checks that they agree."""

METRICS: Mapping[str, Metric] = MappingProxyType({m.name: m for m in REGISTRY})


def names(kind: MetricKind) -> tuple[str, ...]:
    """The metric names of one kind, in registry order."""
    return tuple(m.name for m in REGISTRY if m.kind == kind)


def compute(spec: Spec, bit_lengths: Mapping[str, int]) -> Metrics:
    """TPP = dense TOPS x bit length, the highest over precisions (3A090 Technical Note 1).

    Performance density = TPP / applicable die area (Technical Note 4). Memory bandwidth
    density applies to stand-alone HBM only (3A090.c).
    """
    tpp: Fraction | None = None
    best: tuple[str, Fraction, int] | None = None
    for index, row in enumerate(spec.throughput):
        bits = bit_lengths.get(row.precision)
        if bits is None:
            raise SpecError(f"throughput.{index}.precision", f"unknown precision {row.precision!r}")
        if row.dense_tops is None:
            # a ranged figure: TPP is unknown until app.rules.ranges fixes it
            return Metrics(None, None, None, None, None, None, spec)
        if row.dense_tops <= 0:
            raise SpecError(f"throughput.{index}.dense_tops", "must be greater than 0")
        value = row.dense_tops * bits
        if tpp is None or value > tpp:
            tpp, best = value, (row.precision, row.dense_tops, bits)
    if spec.kind == "logic" and tpp is None:
        raise SpecError("throughput", "a logic IC needs at least one dense throughput figure")
    density = None
    if tpp is not None and spec.die_area_mm2 is not None:
        density = tpp / spec.die_area_mm2
    hbm_density = None
    if spec.kind == "hbm" and spec.memory_bandwidth_gbps is not None and spec.die_area_mm2:
        hbm_density = spec.memory_bandwidth_gbps / spec.die_area_mm2
    return Metrics(
        tpp=tpp,
        tpp_precision=best[0] if best else None,
        tpp_dense_tops=best[1] if best else None,
        tpp_bit_length=best[2] if best else None,
        performance_density=density,
        memory_bandwidth_density=hbm_density,
        spec=spec,
    )
