"""What the engine knows: the closed vocabularies a reference document may use, and whether a
conjunction of conditions can hold at all.

Every list here is derived from the engine's own types (``book.Op``, ``book.SourceKind``, ...),
its metric table (``metrics.value``) and the definitions of the rule book (review-policy ranking,
ECCN order, licence exceptions, bit lengths, Country Groups): a value the engine would not
understand has no way in, and there is no second hand-kept list to drift from the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import get_args

from app.rules.book import Condition, Definitions, Op
from app.rules.metrics import REGISTRY
from app.vocabulary import Basis, SourceKind, TransactionType

# the kinds of item a spec may describe (book.Spec.kind)
ITEM_KINDS: tuple[str, ...] = ("logic", "hbm")
FLAG_METRICS: tuple[str, ...] = tuple(m.name for m in REGISTRY if m.kind == "flag")
SET_METRICS: tuple[str, ...] = tuple(m.name for m in REGISTRY if m.kind == "set")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The closed sets a document is checked against (each sorted or in the engine's order)."""

    groups: tuple[str, ...]
    review_policies: tuple[str, ...]  # most restrictive first
    eccns: tuple[str, ...]
    license_exceptions: tuple[str, ...]
    bit_lengths: Mapping[str, int]
    numeric_metrics: tuple[str, ...]
    countries: frozenset[str]
    maximum: dict[str, Fraction]  # plausibility ceilings of figures and thresholds, by name
    operators: tuple[str, ...] = get_args(Op)
    source_kinds: tuple[str, ...] = get_args(SourceKind)
    bases: tuple[str, ...] = get_args(Basis)
    transaction_types: tuple[str, ...] = get_args(TransactionType)
    item_kinds: tuple[str, ...] = ITEM_KINDS

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.bit_lengths)

    def set_values(self, metric: str) -> tuple[str, ...]:
        """The values a set condition (``[metric, in, [...]]``) may name."""
        return self.eccns if metric == "eccn" else self.item_kinds


def vocabulary(definitions: Definitions, groups: Iterable[str], countries: Iterable[str]) -> Vocabulary:
    numeric = tuple(m.name for m in REGISTRY if m.kind == "number")
    return Vocabulary(
        groups=tuple(sorted(set(groups))),
        review_policies=definitions.review_policy_order,
        eccns=definitions.eccn_order,
        license_exceptions=tuple(sorted(definitions.license_exceptions)),
        bit_lengths=definitions.bit_lengths,
        numeric_metrics=numeric,
        countries=frozenset(countries),
        maximum=dict(definitions.plausible_maximum),
    )


def allowed(values: Iterable[str]) -> str:
    """A readable list of allowed values for an error message."""
    return ", ".join(repr(v) for v in values)


@dataclass
class _Range:
    low: Fraction | None = None
    low_open: bool = False
    high: Fraction | None = None
    high_open: bool = False

    def tighten(self, op: str, value: Fraction) -> None:
        if op in (">=", ">", "=="):
            is_open = op == ">"
            if self.low is None or value > self.low or (value == self.low and is_open):
                self.low, self.low_open = value, is_open
        if op in ("<=", "<", "=="):
            is_open = op == "<"
            if self.high is None or value < self.high or (value == self.high and is_open):
                self.high, self.high_open = value, is_open

    def empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > self.high or (self.low == self.high and (self.low_open or self.high_open))


def contradiction(conditions: Iterable[Condition]) -> str | None:
    """Why no item can meet every condition at once, or None when some item can.

    Numbers are intersected as intervals (``tpp >= 5`` and ``tpp < 1`` cannot both hold), flags
    must agree, and set conditions on one metric must share a value.
    """
    ranges: dict[str, _Range] = {}
    flags: dict[str, bool] = {}
    sets: dict[str, set[str]] = {}
    for cond in conditions:
        value = cond.value
        if isinstance(value, bool):
            if flags.setdefault(cond.metric, value) != value:
                return f"{cond.metric} cannot be both true and false"
        elif isinstance(value, Fraction):
            rng = ranges.setdefault(cond.metric, _Range())
            rng.tighten(cond.op, value)
            if rng.empty():
                return f"no value of {cond.metric} meets every condition on it (last: {cond.op} {cond.text})"
        else:
            seen = sets.get(cond.metric)
            sets[cond.metric] = set(value) if seen is None else seen & set(value)
            if not sets[cond.metric]:
                return f"no {cond.metric} is in every list given for it"
    return None
