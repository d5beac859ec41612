"""Metrics of 3A090: total processing performance, performance density, bandwidth figures.

All arithmetic is exact (``fractions.Fraction``): a value on a threshold stays on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

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
        """The value a condition reads; None when the spec does not give it."""
        spec = self.spec
        match metric:
            case "tpp":
                return self.tpp
            case "performance_density":
                return self.performance_density
            case "memory_bandwidth_density":
                return self.memory_bandwidth_density
            case "memory_bandwidth_gbps":
                return spec.memory_bandwidth_gbps
            case "interconnect_bandwidth_gbps":
                return spec.interconnect_bandwidth_gbps
            case "memory_plus_interconnect_gbps":
                if spec.memory_bandwidth_gbps is None or spec.interconnect_bandwidth_gbps is None:
                    return None
                return spec.memory_bandwidth_gbps + spec.interconnect_bandwidth_gbps
            case "datacenter":
                return spec.datacenter
            case "kind":
                return spec.kind
            case "eccn":
                return eccn
        raise KeyError(f"unknown metric {metric!r}")


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
