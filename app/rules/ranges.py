"""Figures known only as ranges: evaluate the answer across the range, say whether it decides.

A catalog figure may be a bound or an estimate (TPU v4's die is published as "under 780 mm2").
Such a figure is a ``FigureRange`` on the spec. The answer is computed at the ends of every range
and at every value where a threshold of the rules in use is crossed (solved exactly from the
thresholds in the data, in fractions), and on both sides of each crossing. If every point gives the
same outcome, the answer stands and the range did not matter; if not, the analysis says where the
outcome changes ("3A090.a if the die area is at most 27500/37 mm2, 3A090.b above") and the headline
answer is the most restrictive outcome, marked undetermined, never a clear one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from itertools import pairwise, product
from typing import TypeVar

from app.rules.book import Condition, FigureRange, ItemScope, RuleBook, Ruleset, Spec
from app.rules.classify import Classification, classify, display
from app.rules.licensing import Licensing, Party, Selection, license_for
from app.rules.metrics import compute

T = TypeVar("T")
Point = tuple[tuple[str, Fraction], ...]
_POINT_FIELDS = ("die_area_mm2", "memory_bandwidth_gbps", "interconnect_bandwidth_gbps")
_LABELS = {
    "die_area_mm2": ("die area", "mm2"),
    "memory_bandwidth_gbps": ("memory bandwidth", "GB/s"),
    "interconnect_bandwidth_gbps": ("interconnect bandwidth", "GB/s"),
}
_PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class RangeOut:
    """A ranged figure as the answer shows it; ``min``/``max`` are exact decimals as written."""

    figure: str
    label: str
    min: str
    max: str
    source: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Segment:
    """Where along one ranged figure an outcome holds; bounds rounded for display, ``*_exact`` as fractions."""

    figure: str
    low: str
    low_exact: str
    low_inclusive: bool
    high: str
    high_exact: str
    high_inclusive: bool
    held: str | None
    outcome: str


@dataclass(frozen=True, slots=True)
class RangeAnalysis:
    """What a ranged figure does to the answer; metric bounds are display values (six places)."""

    figures: tuple[RangeOut, ...]
    decisive: bool
    summary: str
    segments: tuple[Segment, ...]
    tpp_min: float | None = None
    tpp_max: float | None = None
    performance_density_min: float | None = None
    performance_density_max: float | None = None


@dataclass(frozen=True, slots=True)
class _Sample:
    point: Point
    key: Hashable
    outcome: str
    rank: tuple[int, ...]


def _text(value: Fraction) -> str:
    """A decimal for display: exact when it terminates, else rounded to six places."""
    if value.denominator == 1:
        return str(value.numerator)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    if Fraction(exact) == value:
        return f"{exact.normalize():f}"
    return f"{exact.quantize(_PLACES, rounding=ROUND_HALF_EVEN).normalize():f}"


def _exact(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def label(spec: Spec, field: str) -> tuple[str, str]:
    """(name, unit) of a ranged figure, e.g. ("die area", "mm2") or ("fp16 dense throughput", "TOPS")."""
    if field.startswith("throughput."):
        row = spec.throughput[int(field.split(".", 1)[1])]
        return f"{row.precision} dense throughput", "TOPS"
    return _LABELS[field]


def at(spec: Spec, point: Mapping[str, Fraction]) -> Spec:
    """The spec with each ranged figure named in ``point`` set to that value (and no ranges left)."""
    rows = tuple(
        replace(row, dense_tops=point[f"throughput.{i}"]) if f"throughput.{i}" in point else row
        for i, row in enumerate(spec.throughput)
    )
    fixed = {name: point[name] for name in _POINT_FIELDS if name in point}
    return replace(spec, throughput=rows, ranges=(), **fixed)  # type: ignore[arg-type]


def _conditions(rulesets: Iterable[Ruleset]) -> Iterable[Condition]:
    def scope(s: ItemScope) -> Iterable[Condition]:
        for conds in s.any_of:
            yield from conds

    for r in rulesets:
        for clause in r.clauses:
            yield from clause.conditions
        for note in r.notes:
            yield from note.conditions
        for rule in r.destination_rules:
            yield from scope(rule.items)
            for exc in rule.exceptions:
                yield from scope(exc.eligible)
        for policy in r.review_policies:
            yield from scope(policy.items)


def thresholds(rulesets: Iterable[Ruleset]) -> dict[str, frozenset[Fraction]]:
    """Every numeric threshold the rulesets compare a metric with, by metric."""
    out: dict[str, set[Fraction]] = {}
    for cond in _conditions(rulesets):
        if isinstance(cond.value, Fraction):
            out.setdefault(cond.metric, set()).add(cond.value)
    return {metric: frozenset(values) for metric, values in out.items()}


def _tpp(spec: Spec, bit_lengths: Mapping[str, int]) -> Fraction | None:
    values = [row.dense_tops * bit_lengths.get(row.precision, 0) for row in spec.throughput if row.dense_tops]
    return max(values) if values else None


def crossings(
    spec: Spec, field: str, bit_lengths: Mapping[str, int], limits: Mapping[str, frozenset[Fraction]]
) -> set[Fraction]:
    """Values of ``field`` at which some metric meets a threshold, the other figures as in ``spec``.

    Solved exactly from each metric's definition; a value that is not a real crossing only adds a
    sample point, never a wrong answer.
    """

    def th(metric: str) -> frozenset[Fraction]:
        return limits.get(metric, frozenset())

    mem, ic, area = spec.memory_bandwidth_gbps, spec.interconnect_bandwidth_gbps, spec.die_area_mm2
    out: set[Fraction] = set()
    if field == "die_area_mm2":
        tpp = _tpp(spec, bit_lengths)
        if tpp is not None:
            out |= {tpp / t for t in th("performance_density") if t > 0}
        if spec.kind == "hbm" and mem is not None:
            out |= {mem / t for t in th("memory_bandwidth_density") if t > 0}
    elif field == "memory_bandwidth_gbps":
        out |= th("memory_bandwidth_gbps")
        if ic is not None:
            out |= {t - ic for t in th("memory_plus_interconnect_gbps")}
        if spec.kind == "hbm" and area is not None:
            out |= {t * area for t in th("memory_bandwidth_density")}
    elif field == "interconnect_bandwidth_gbps":
        out |= th("interconnect_bandwidth_gbps")
        if mem is not None:
            out |= {t - mem for t in th("memory_plus_interconnect_gbps")}
    elif field.startswith("throughput."):
        row = spec.throughput[int(field.split(".", 1)[1])]
        bits = bit_lengths.get(row.precision)
        if bits:
            out |= {t / bits for t in th("tpp")}
            if area is not None:
                out |= {t * area / bits for t in th("performance_density")}
    return out


def _values(
    spec: Spec, rng: FigureRange, bit_lengths: Mapping[str, int], limits: Mapping[str, frozenset[Fraction]]
) -> tuple[list[Fraction], set[Fraction]]:
    """Sample values along one range: its ends, every crossing inside it, a value between each pair."""
    others = [r for r in spec.ranges if r.field != rng.field]
    cuts: set[Fraction] = set()
    for corner in product(*((r.low, r.high) for r in others)):
        fixed = at(spec, {r.field: v for r, v in zip(others, corner, strict=True)})
        cuts |= {c for c in crossings(fixed, rng.field, bit_lengths, limits) if rng.low <= c <= rng.high}
    marks = sorted({rng.low, rng.high} | cuts)
    if not cuts:
        return marks, cuts
    points = [marks[0]]
    for a, b in pairwise(marks):
        points += [(a + b) / 2, b]
    return points, cuts


def explore(
    spec: Spec,
    bit_lengths: Mapping[str, int],
    limits: Mapping[str, frozenset[Fraction]],
    evaluate: Callable[[Spec], T],
    describe: Callable[[T], tuple[Hashable, str, tuple[int, ...]]],
) -> tuple[list[tuple[_Sample, T]], dict[str, tuple[list[Fraction], set[Fraction]]]]:
    """Evaluate at every combination of sample values of the ranged figures."""
    axes = {r.field: _values(spec, r, bit_lengths, limits) for r in spec.ranges}
    names = list(axes)
    samples: list[tuple[_Sample, T]] = []
    for combo in product(*(axes[n][0] for n in names)):
        point: Point = tuple(zip(names, combo, strict=True))
        result = evaluate(at(spec, dict(point)))
        key, outcome, rank = describe(result)
        samples.append((_Sample(point, key, outcome, rank), result))
    return samples, axes


def _segments(
    spec: Spec,
    field: str,
    line: list[_Sample],
    cuts: set[Fraction],
    held: str | None,
) -> list[Segment]:
    """Merge consecutive samples along one figure with the same outcome into segments."""
    name, unit = label(spec, field)
    out: list[Segment] = []
    start = line[0]
    start_incl = True
    prev = line[0]
    for sample in line[1:]:
        if sample.key != prev.key:
            here = dict(prev.point)[field]
            nxt = dict(sample.point)[field]
            # the outcome changes at a crossing: at a cut value itself, or just above it
            boundary, prev_incl = (here, True) if here in cuts else (nxt, False)
            out.append(_segment(name, unit, field, start, boundary, start_incl, prev_incl, prev.outcome, held))
            start, start_incl = sample, not prev_incl
            start = replace(start, point=tuple((k, boundary if k == field else v) for k, v in start.point))
        prev = sample
    end = dict(prev.point)[field]
    out.append(_segment(name, unit, field, start, end, start_incl, True, prev.outcome, held))
    return out


def _segment(
    name: str,
    unit: str,
    field: str,
    start: _Sample,
    high: Fraction,
    low_incl: bool,
    high_incl: bool,
    outcome: str,
    held: str | None,
) -> Segment:
    low = dict(start.point)[field]
    return Segment(
        figure=field,
        low=_text(low),
        low_exact=_exact(low),
        low_inclusive=low_incl,
        high=_text(high),
        high_exact=_exact(high),
        high_inclusive=high_incl,
        held=held,
        outcome=outcome,
    )


def _phrase(seg: Segment, spec: Spec, first: bool, last: bool) -> str:
    name, unit = label(spec, seg.figure)

    def exact(text: str, ex: str) -> str:
        return f"{text} {unit} (exactly {ex})" if "/" in ex else f"{text} {unit}"

    if first and last:
        return f"{seg.outcome} across the whole range"
    if first:
        word = "at most" if seg.high_inclusive else "below"
        return f"{seg.outcome} if the {name} is {word} {exact(seg.high, seg.high_exact)}"
    if last:
        word = "at least" if seg.low_inclusive else "above"
        return f"{seg.outcome} if it is {word} {exact(seg.low, seg.low_exact)}"
    lo = "from" if seg.low_inclusive else "above"
    hi = "to" if seg.high_inclusive else "below"
    return f"{seg.outcome} if it is {lo} {exact(seg.low, seg.low_exact)} {hi} {exact(seg.high, seg.high_exact)}"


def _bounds(values: list[Fraction]) -> tuple[float | None, float | None]:
    return (display(min(values)), display(max(values))) if values else (None, None)


def analyse(
    spec: Spec,
    samples: list[_Sample],
    axes: Mapping[str, tuple[list[Fraction], set[Fraction]]],
    bit_lengths: Mapping[str, int],
) -> RangeAnalysis:
    """Whether the outcome changes across the ranges and, if so, where (per ranged figure)."""
    tpps: list[Fraction] = []
    densities: list[Fraction] = []
    for s in samples:
        m = compute(at(spec, dict(s.point)), bit_lengths)
        if m.tpp is not None:
            tpps.append(m.tpp)
        if m.performance_density is not None:
            densities.append(m.performance_density)
    bounds = (*_bounds(tpps), *_bounds(densities))
    figures = tuple(
        RangeOut(r.field, "{} ({})".format(*label(spec, r.field)), _text(r.low), _text(r.high), r.source, r.note)
        for r in spec.ranges
    )
    keys = {s.key for s in samples}
    described = ", ".join(
        f"{' '.join(label(spec, r.field)[:1])} {_text(r.low)}-{_text(r.high)} {label(spec, r.field)[1]}"
        for r in spec.ranges
    )
    if len(keys) == 1:
        summary = f"The range did not matter: {samples[0].outcome} anywhere in the given range ({described})."
        return RangeAnalysis(figures, False, summary, (), *bounds)
    ends = {r.field: (r.low, r.high) for r in spec.ranges}
    lines: dict[str, dict[Point, list[_Sample]]] = {}
    for rng in spec.ranges:
        by_rest = lines.setdefault(rng.field, {})
        for s in samples:
            rest = tuple((k, v) for k, v in s.point if k != rng.field)
            if all(v in ends[k] for k, v in rest):  # the other figures at their ends only
                by_rest.setdefault(rest, []).append(s)
    deciding = {f for f, by_rest in lines.items() if any(len({s.key for s in line}) > 1 for line in by_rest.values())}
    segments: list[Segment] = []
    sentences: list[str] = []
    for rng in spec.ranges:
        if rng.field not in deciding:
            continue
        found: dict[tuple[tuple[str, str, bool, str, bool], ...], tuple[Point, list[Segment]]] = {}
        for rest, line in lines[rng.field].items():
            if len({s.key for s in line}) == 1:
                continue
            line.sort(key=lambda s: dict(s.point)[rng.field])
            segs = _segments(spec, rng.field, line, axes[rng.field][1], None)
            shape = tuple((s.outcome, s.low_exact, s.low_inclusive, s.high_exact, s.high_inclusive) for s in segs)
            found.setdefault(shape, (rest, segs))
        for rest, segs in found.values():
            # name the other figures only where they change where this one decides
            held = ", ".join(f"{label(spec, k)[0]} {_text(v)} {label(spec, k)[1]}" for k, v in rest)
            held_or_none = held if len(found) > 1 and held else None
            segs = [replace(seg, held=held_or_none) for seg in segs]
            segments.extend(segs)
            parts = [_phrase(seg, spec, i == 0, i == len(segs) - 1) for i, seg in enumerate(segs)]
            sentences.append("; ".join(parts) + (f" (with {held_or_none})" if held_or_none else ""))
    if not sentences:
        sentences.append("the outcome depends on the ranged figures together: " + described)
    summary = "The range decides: " + ". ".join(sentences) + "."
    return RangeAnalysis(figures, True, summary, tuple(segments), *bounds)


def _headline(pairs: list[tuple[_Sample, T]]) -> T:
    """The most restrictive outcome (lowest rank); among equals the first sample."""
    return min(pairs, key=lambda p: p[0].rank)[1]


def _eccn_rank(eccn: str | None, order: tuple[str, ...]) -> int:
    return order.index(eccn) if eccn in order else len(order)


def classification(
    spec: Spec, rulesets: tuple[Ruleset, ...], book: RuleBook
) -> tuple[Classification, RangeAnalysis | None]:
    """Classify under the given rulesets, across any ranged figure (most controlled ECCN first)."""
    defs = book.definitions

    def run(s: Spec) -> Classification:
        return classify(compute(s, defs.bit_lengths), rulesets, defs)

    if not spec.ranges:
        return run(spec), None

    def describe(c: Classification) -> tuple[Hashable, str, tuple[int, ...]]:
        return c.eccn, c.eccn or "not 3A090", (_eccn_rank(c.eccn, defs.eccn_order),)

    pairs, axes = explore(spec, defs.bit_lengths, thresholds(rulesets), run, describe)
    return _headline(pairs), analyse(spec, [s for s, _ in pairs], axes, defs.bit_lengths)


def outcome_text(c: Classification, lic: Licensing) -> str:
    eccn = c.eccn or "not 3A090"
    if not lic.license_required:
        return f"{eccn}, no licence required"
    policy = f" ({lic.review_policy})" if lic.review_policy else ""
    codes = "/".join(e.code for e in lic.license_exceptions)
    return f"{eccn}, licence required{policy}, " + (f"exception {codes}" if codes else "no exception")


def classify_and_license(
    book: RuleBook, selection: Selection, spec: Spec, party: Party, on: date
) -> tuple[Classification, Licensing, RangeAnalysis | None]:
    """Classification and licence picture for one party and date, across any ranged figure."""
    defs = book.definitions
    policies = defs.review_policy_order

    def run(s: Spec) -> tuple[Classification, Licensing]:
        m = compute(s, defs.bit_lengths)
        c = classify(m, selection.rulesets, defs)
        return c, license_for(book, selection, m, c, party, on)

    if not spec.ranges:
        c, lic = run(spec)
        return c, lic, None

    def describe(result: tuple[Classification, Licensing]) -> tuple[Hashable, str, tuple[int, ...]]:
        c, lic = result
        key = (
            c.eccn,
            lic.license_required,
            lic.review_policy,
            tuple(sorted((e.code, e.notification_required) for e in lic.license_exceptions)),
        )
        policy = policies.index(lic.review_policy) if lic.review_policy in policies else len(policies)
        rank = (
            0 if lic.license_required else 1,
            policy,
            len(lic.license_exceptions),
            _eccn_rank(c.eccn, defs.eccn_order),
        )
        return key, outcome_text(c, lic), rank

    pairs, axes = explore(spec, defs.bit_lengths, thresholds(selection.rulesets), run, describe)
    c, lic = _headline(pairs)
    return c, lic, analyse(spec, [s for s, _ in pairs], axes, defs.bit_lengths)
