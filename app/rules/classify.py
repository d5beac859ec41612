"""Threshold clauses -> ECCN, per ruleset, with every condition's margin and the notes applied.

Conditions use three-valued logic: a figure the spec does not give is *unknown*, and the
result is undetermined only when an unknown condition could change the ECCN.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from app.rules.book import Citation, Clause, Condition, Definitions, ItemScope, Ruleset, Spec
from app.rules.metrics import METRICS, Metrics, MetricValue

_PLACES = Decimal("0.000001")


class UndeterminedError(ValueError):
    """The spec lacks a figure that decides the outcome."""

    def __init__(self, fields: Iterable[str], detail: str) -> None:
        self.fields = tuple(sorted(set(fields)))
        super().__init__(detail)


def _rounded(value: Fraction) -> Decimal:
    quotient = Decimal(value.numerator) / Decimal(value.denominator)
    return quotient.quantize(_PLACES, rounding=ROUND_HALF_EVEN).normalize()


def display(value: Fraction) -> float:
    """A display value rounded to six places; decisions never read it (they use the fraction)."""
    return float(_rounded(value))


def _margin(diff: Fraction) -> float:
    """A margin for display; never shown as 0 when the value is off the threshold."""
    shown = display(diff)
    return float(diff) if shown == 0 and diff != 0 else shown


def _fmt(value: Fraction) -> str:
    rounded = _rounded(value)
    if rounded == 0 and value != 0:
        # rounding would hide the difference (PD 1600 / 270.27027 is about 5.9e-9 above 5.92)
        return f"{Decimal(value.numerator) / Decimal(value.denominator):.3g}"
    text = f"{rounded:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class ConditionResult:
    metric: str
    operator: str
    threshold: str
    value: float | bool | str | None
    met: bool | None
    margin: float | None
    explanation: str


@dataclass(frozen=True, slots=True)
class ClauseResult:
    id: str
    eccn: str
    text: str
    met: bool | None
    conditions: tuple[ConditionResult, ...]


@dataclass(frozen=True, slots=True)
class NoteResult:
    id: str
    text: str
    applies: bool | None
    conditions: tuple[ConditionResult, ...]


@dataclass(frozen=True, slots=True)
class CitationOut:
    source: str
    source_kind: str
    url: str | None
    document: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class RulesetRef:
    id: str
    family: str
    title: str
    effective_from: date
    effective_to: date | None
    enforced: bool
    source_kind: str
    citations: tuple[CitationOut, ...]


@dataclass(frozen=True, slots=True)
class RulesetClassification:
    ruleset: RulesetRef
    eccn: str | None
    clauses: tuple[ClauseResult, ...]
    notes: tuple[NoteResult, ...]


@dataclass(frozen=True, slots=True)
class TppResult:
    value: float
    precision: str
    dense_tops: float
    bit_length: int


@dataclass(frozen=True, slots=True)
class Classification:
    eccn: str | None
    assembly_eccn: str | None
    tpp: TppResult | None
    performance_density: float | None
    memory_bandwidth_density: float | None
    notes_applied: tuple[str, ...]
    rulesets: tuple[RulesetClassification, ...]
    summary: str


def citation_out(c: Citation) -> CitationOut:
    return CitationOut(c.source, c.source_kind, c.url, c.document, c.note)


def ruleset_ref(r: Ruleset) -> RulesetRef:
    return RulesetRef(
        id=r.id,
        family=r.family,
        title=r.title,
        effective_from=r.effective_from,
        effective_to=r.effective_to,
        enforced=r.enforced,
        source_kind=r.source_kind,
        citations=tuple(citation_out(c) for c in r.citations),
    )


def _compare(value: Fraction, op: str, threshold: Fraction) -> bool:
    match op:
        case ">=":
            return value >= threshold
        case ">":
            return value > threshold
        case "<":
            return value < threshold
        case "<=":
            return value <= threshold
        case "==":
            return value == threshold
    raise ValueError(f"operator {op!r} does not compare numbers")


def evaluate(cond: Condition, metrics: Metrics, eccn: str | None = None) -> ConditionResult:
    value: MetricValue = metrics.value(cond.metric, eccn)
    label = METRICS[cond.metric].label
    if value is None:
        return ConditionResult(cond.metric, cond.op, cond.text, None, None, None, f"{label} unknown (not in the spec)")
    if isinstance(cond.value, Fraction) and isinstance(value, Fraction):
        met = _compare(value, cond.op, cond.value)
        diff = value - cond.value
        if diff == 0:
            where = f"exactly {_fmt(cond.value)}"
        else:
            where = f"{_fmt(abs(diff))} {'above' if diff > 0 else 'below'} {_fmt(cond.value)}"
        verdict = "meets" if met else "does not meet"
        text = f"{label} {_fmt(value)} is {where}: {verdict} {cond.op} {cond.text}"
        return ConditionResult(cond.metric, cond.op, cond.text, display(value), met, _margin(diff), text)
    met = value in cond.value if cond.op == "in" and isinstance(cond.value, tuple) else value == cond.value
    shown = value if isinstance(value, (bool, str)) else display(value)
    text = f"{label} is {shown}: {'meets' if met else 'does not meet'} {cond.op} {cond.text}"
    return ConditionResult(cond.metric, cond.op, cond.text, shown, met, None, text)


def all_of(results: Iterable[bool | None]) -> bool | None:
    seen_unknown = False
    for r in results:
        if r is False:
            return False
        if r is None:
            seen_unknown = True
    return None if seen_unknown else True


def any_of(results: Iterable[bool | None]) -> bool | None:
    seen_unknown = False
    for r in results:
        if r is True:
            return True
        if r is None:
            seen_unknown = True
    return None if seen_unknown else False


def unknown_fields(results: Iterable[ConditionResult], spec: Spec) -> set[str]:
    """The spec fields that are missing behind the unknown conditions."""
    out: set[str] = set()
    for r in results:
        if r.met is None:
            metric = METRICS[r.metric]
            fields = metric.spec_fields or (metric.name,)
            absent = [f for f in fields if getattr(spec, f, None) in (None, ())]
            out.update(absent or fields)
    return out


def holds(cond: Condition, metrics: Metrics, eccn: str | None = None) -> bool | None:
    """Whether a condition holds (None: unknown), without the explanation ``evaluate`` writes."""
    value: MetricValue = metrics.value(cond.metric, eccn)
    if value is None:
        return None
    if isinstance(cond.value, Fraction) and isinstance(value, Fraction):
        return _compare(value, cond.op, cond.value)
    return value in cond.value if cond.op == "in" and isinstance(cond.value, tuple) else value == cond.value


def in_scope(scope: ItemScope, metrics: Metrics, eccn: str | None) -> tuple[bool | None, set[str]]:
    """Whether an item falls in a rule's scope, and the spec fields that left it unknown."""
    if scope.all_items or (eccn is not None and eccn in scope.eccns):
        return True, set()
    verdict = any_of(all_of(holds(c, metrics, eccn) for c in conds) for conds in scope.any_of)
    if verdict is not None:
        return verdict, set()
    results = [tuple(evaluate(c, metrics, eccn) for c in conds) for conds in scope.any_of]
    return verdict, set().union(*(unknown_fields(r, metrics.spec) for r in results))


def _clause(clause: Clause, metrics: Metrics) -> ClauseResult:
    results = tuple(evaluate(c, metrics) for c in clause.conditions)
    return ClauseResult(clause.id, clause.eccn, clause.text, all_of(r.met for r in results), results)


def classify_ruleset(ruleset: Ruleset, metrics: Metrics, order: tuple[str, ...]) -> RulesetClassification:
    clauses = tuple(_clause(c, metrics) for c in ruleset.clauses)
    notes = tuple(
        NoteResult(n.id, n.text, all_of(r.met for r in rs), rs)
        for n in ruleset.notes
        for rs in [tuple(evaluate(c, metrics) for c in n.conditions)]
    )
    eccn: str | None = None
    if any(note.applies is True for note in notes):
        # a note that certainly applies takes the item out of the entry whatever the clauses
        # say, so a figure only the clauses read (e.g. die area under Note 2) cannot matter
        return RulesetClassification(ruleset_ref(ruleset), None, clauses, notes)
    for candidate in order:
        verdict = any_of(c.met for c in clauses if c.eccn == candidate)
        if verdict is None:
            missing = unknown_fields((r for c in clauses if c.eccn == candidate for r in c.conditions), metrics.spec)
            raise UndeterminedError(
                missing, f"{ruleset.id}: cannot decide {candidate} without {', '.join(sorted(missing))}"
            )
        if verdict:
            eccn = candidate
            break
    if eccn is not None:
        for note in notes:
            if note.applies is None:
                missing = unknown_fields(note.conditions, metrics.spec)
                raise UndeterminedError(
                    missing, f"{ruleset.id}: cannot decide {note.id} without {', '.join(sorted(missing))}"
                )
            if note.applies:
                eccn = None
    return RulesetClassification(ruleset_ref(ruleset), eccn, clauses, notes)


def classify(metrics: Metrics, rulesets: tuple[Ruleset, ...], definitions: Definitions) -> Classification:
    """Classify under every ruleset that holds clauses; the most controlled ECCN wins."""
    order = definitions.eccn_order
    results = tuple(classify_ruleset(r, metrics, order) for r in rulesets if r.clauses)
    found = [r.eccn for r in results if r.eccn is not None]
    eccn = min(found, key=order.index) if found else None
    notes_applied = tuple(dict.fromkeys(n.id for r in results for n in r.notes if n.applies and r.eccn is None))
    tpp = None
    if metrics.tpp is not None and metrics.tpp_precision and metrics.tpp_dense_tops is not None:
        tpp = TppResult(
            display(metrics.tpp),
            metrics.tpp_precision,
            display(metrics.tpp_dense_tops),
            metrics.tpp_bit_length or 0,
        )
    density = metrics.performance_density
    hbm = metrics.memory_bandwidth_density
    return Classification(
        eccn=eccn,
        assembly_eccn=definitions.assembly_eccns.get(eccn) if eccn else None,
        tpp=tpp,
        performance_density=display(density) if density is not None else None,
        memory_bandwidth_density=display(hbm) if hbm is not None else None,
        notes_applied=notes_applied,
        rulesets=results,
        summary=_summary(eccn, results, notes_applied),
    )


def _summary(eccn: str | None, results: tuple[RulesetClassification, ...], notes: tuple[str, ...]) -> str:
    if not results:
        return "No advanced-computing control (3A090) was in force on this date."
    if eccn is None:
        if notes:
            return f"Not 3A090: excluded by {', '.join(notes)}."
        return "Not 3A090: no threshold clause is met."
    clauses = [c.id for r in results if r.eccn == eccn for c in r.clauses if c.met and c.eccn == eccn]
    return f"{eccn}: meets {', '.join(dict.fromkeys(clauses))}."
