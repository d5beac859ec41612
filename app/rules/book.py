"""The rule book: an immutable snapshot of rulesets, country groups and the catalog.

Plain frozen dataclasses, built once by the loader (``app.regulations.loader``) and swapped
atomically when reference data changes. Nothing here performs I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

from app.vocabulary import ALL_TRANSACTIONS, Basis, SourceKind, TransactionType, in_force

Op = Literal[">=", ">", "<", "<=", "==", "in"]
ConditionValue = Fraction | bool | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Citation:
    source: str
    source_kind: SourceKind
    url: str | None = None
    document: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """``metric op value``; numbers are exact fractions, never floats."""

    metric: str
    op: Op
    value: ConditionValue
    text: str  # the threshold as written in the source, e.g. "4800"


@dataclass(frozen=True, slots=True)
class Clause:
    """One paragraph of a control entry: every condition must hold."""

    id: str
    eccn: str
    text: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Note:
    """A note that takes items out of the entry when all its conditions hold."""

    id: str
    text: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class CountrySet:
    """Countries selected by group membership and by code, on a given date."""

    all_countries: bool = False
    groups: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    except_groups: tuple[str, ...] = ()
    except_countries: tuple[str, ...] = ()

    def contains(self, country: str, groups_of_country: frozenset[str]) -> bool:
        if country in self.except_countries or groups_of_country.intersection(self.except_groups):
            return False
        return self.all_countries or country in self.countries or bool(groups_of_country.intersection(self.groups))


@dataclass(frozen=True, slots=True)
class ItemScope:
    """Which items a rule reaches: every item, an ECCN in ``eccns``, or any of the condition sets."""

    eccns: tuple[str, ...] = ()
    any_of: tuple[tuple[Condition, ...], ...] = ()
    all_items: bool = False


@dataclass(frozen=True, slots=True)
class LicenseException:
    code: str
    name: str
    citation: str
    notification_required: bool
    eligible: ItemScope
    note: str | None = None
    transaction_types: tuple[TransactionType, ...] = ALL_TRANSACTIONS
    # offered only when the end user or its ultimate parent is headquartered here (NAC for a
    # D:5-headquartered buyer located in D:1/D:4, 740.8 from 2024-04-04)
    headquarters: CountrySet | None = None


@dataclass(frozen=True, slots=True)
class DestinationRule:
    id: str
    label: str
    citation: str
    items: ItemScope
    destinations: CountrySet | None
    headquarters: CountrySet | None
    review_policy: str | None
    exceptions: tuple[LicenseException, ...] = ()
    # the provision the requirement sits in ("742.6", "744.23", "746.8", "company letter"):
    # review-policy rules select reasons by it
    section: str | None = None
    # where an entity must be located for the headquarters basis (outside the US)
    headquarters_located: CountrySet | None = None
    # "destination", or "embargo" for part 746 (a licence regardless of the 3A090 rules)
    destination_basis: Basis = "destination"
    # the first day exporters had to comply, when later than the rule's effective date
    compliance_from: date | None = None


@dataclass(frozen=True, slots=True)
class ReviewCondition:
    """One of the conditions a conditional review policy lists, with its source."""

    text: str
    source: str
    source_kind: SourceKind


@dataclass(frozen=True, slots=True)
class ReviewPolicyRule:
    """Replaces the review policy of matching licence reasons (e.g. the 2026 China band)."""

    id: str
    label: str
    citation: str
    destinations: CountrySet
    bases: tuple[Basis, ...]
    transaction_types: tuple[str, ...]
    items: ItemScope
    review_policy: str
    conditions_text: str | None = None
    # only reasons from these provisions change (empty: every reason of a listed basis)
    sections: tuple[str, ...] = ()
    # only items commercially available in the US on this day (a dated catalog fact)
    us_available_on: date | None = None
    conditions: tuple[ReviewCondition, ...] = ()


@dataclass(frozen=True, slots=True)
class Ruleset:
    id: str
    family: str
    title: str
    effective_from: date
    effective_to: date | None  # exclusive
    enforced: bool
    source_kind: SourceKind
    citations: tuple[Citation, ...]
    clauses: tuple[Clause, ...] = ()
    notes: tuple[Note, ...] = ()
    destination_rules: tuple[DestinationRule, ...] = ()
    review_policies: tuple[ReviewPolicyRule, ...] = ()
    summary: str = ""

    def in_force(self, on: date) -> bool:
        return in_force(self.effective_from, self.effective_to, on)


@dataclass(frozen=True, slots=True)
class Membership:
    group: str
    country: str
    effective_from: date | None  # None: since before the first recorded change
    effective_to: date | None  # exclusive; None: still in force
    citation: Citation

    def in_force(self, on: date) -> bool:
        return in_force(self.effective_from, self.effective_to, on)


@dataclass(frozen=True, slots=True)
class CountryAlias:
    """A territory the EAR treats as another country (Hong Kong as China)."""

    country: str
    treated_as: str
    effective_from: date
    citation: Citation


@dataclass(frozen=True, slots=True)
class Advisory:
    """A warning attached to destinations (hubs, embargoes, permits) or to named catalog items."""

    id: str
    text: str
    countries: tuple[str, ...]
    groups: tuple[str, ...]
    effective_from: date | None
    citation: Citation
    # catalog ids: the warning applies to these items whatever the destination (GP10)
    accelerators: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Throughput:
    """One precision's dense peak (TOPS or TFLOPS; a sparse figure is halved before); ``dense_tops`` is
    None when the figure is a range."""

    precision: str
    dense_tops: Fraction | None


RangedField = str
"""A figure that may be a range: a ``Spec`` field name, or ``throughput.<index>``."""


@dataclass(frozen=True, slots=True)
class FigureRange:
    """A figure known only between two bounds (both possible, ``low < high``).

    The spec holds None for it; ``app.rules.ranges`` evaluates the answer across the range.
    """

    field: RangedField
    low: Fraction
    high: Fraction
    source: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class UsAvailability:
    """Whether an item was commercially available in the US, as known on a day (a catalog fact)."""

    value: bool
    as_of: date
    source: str | None = None
    note: str | None = None

    def on(self, day: date) -> bool | None:
        """Available on ``day``? Known only when the fact speaks for that day: a "yes" seen on or
        before it, or a "no" seen on or after it. Otherwise unknown."""
        if self.value and self.as_of <= day:
            return True
        if not self.value and self.as_of >= day:
            return False
        return None


@dataclass(frozen=True, slots=True)
class Spec:
    """The figures the rules read. Missing figures are None and stay unknown.

    A figure given as a range is None here and listed in ``ranges``.
    """

    throughput: tuple[Throughput, ...]
    datacenter: bool
    die_area_mm2: Fraction | None = None
    memory_bandwidth_gbps: Fraction | None = None
    interconnect_bandwidth_gbps: Fraction | None = None
    kind: Literal["logic", "hbm"] = "logic"
    ranges: tuple[FigureRange, ...] = ()
    us_available: UsAvailability | None = None


@dataclass(frozen=True, slots=True)
class Definitions:
    """Definitions from the control entry itself (bit lengths of Technical Note 1)."""

    bit_lengths: Mapping[str, int]
    eccn_order: tuple[str, ...]
    assembly_eccns: Mapping[str, str]
    review_policy_order: tuple[str, ...]  # most restrictive first
    citation: Citation
    license_exceptions: Mapping[str, str] = field(default_factory=dict)  # code -> name
    plausible_maximum: Mapping[str, Fraction] = field(default_factory=dict)  # sanity ceilings, not regulation


GROUPS_MEMO_LIMIT = 100_000  # (country, date) pairs remembered per book; cleared when full


@dataclass(frozen=True, slots=True)
class RuleBook:
    definitions: Definitions
    rulesets: tuple[Ruleset, ...]
    memberships: tuple[Membership, ...]
    aliases: tuple[CountryAlias, ...]
    advisories: tuple[Advisory, ...]
    country_names: Mapping[str, str]
    data_version: str
    _by_id: Mapping[str, Ruleset] = field(init=False, repr=False, compare=False)
    _by_country: Mapping[str, tuple[Membership, ...]] = field(init=False, repr=False, compare=False)
    _groups_memo: dict[tuple[str, date], frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", MappingProxyType({r.id: r for r in self.rulesets}))
        index: dict[str, list[Membership]] = {}
        for m in self.memberships:
            index.setdefault(m.country, []).append(m)
        frozen = {country: tuple(rows) for country, rows in index.items()}
        object.__setattr__(self, "_by_country", MappingProxyType(frozen))
        object.__setattr__(self, "_groups_memo", {})  # the book is immutable, so answers never go stale

    def ruleset(self, ruleset_id: str) -> Ruleset | None:
        return self._by_id.get(ruleset_id)

    def in_force(self, on: date) -> tuple[Ruleset, ...]:
        """Enforced rulesets in force on a date, in data order."""
        return tuple(r for r in self.rulesets if r.enforced and r.in_force(on))

    def change_dates(self) -> tuple[date, ...]:
        """Every day the rules in force may change, sorted: an enforced ruleset starts or ends, a
        Country Group membership starts or ends."""
        dates = {r.effective_from for r in self.rulesets if r.enforced}
        dates |= {r.effective_to for r in self.rulesets if r.enforced and r.effective_to}
        dates |= {m.effective_from for m in self.memberships if m.effective_from}
        dates |= {m.effective_to for m in self.memberships if m.effective_to}
        return tuple(sorted(dates))

    def latest_change(self) -> date | None:
        """The last of ``change_dates`` (None for a book without dates)."""
        dates = self.change_dates()
        return dates[-1] if dates else None

    def resolve_country(self, code: str, on: date) -> tuple[str, CountryAlias | None]:
        for alias in self.aliases:
            if alias.country == code and alias.effective_from <= on:
                return alias.treated_as, alias
        return code, None

    def groups_of(self, country: str, on: date) -> frozenset[str]:
        key = (country, on)
        found = self._groups_memo.get(key)
        if found is None:
            rows = self._by_country.get(country, ())
            found = frozenset(m.group for m in rows if m.in_force(on))
            if len(self._groups_memo) >= GROUPS_MEMO_LIMIT:
                self._groups_memo.clear()
            self._groups_memo[key] = found
        return found
