"""What a change to the rules does: the same questions asked of two rule books, differences only.

A *side* is a rule book, a date and a catalog. :func:`compare` answers, for every catalog item,
its ECCN on each side, and for every item x destination country x buyer profile the licence
requirement, review policy and licence exceptions on each side, keeping only what differs and
grouping the destinations that change identically ("CN, HK, MO: licence now required").

It stays fast on the whole world because countries the rules cannot tell apart are evaluated
once: two countries get the same answer on a side when they resolve alike, belong to the same
Country Groups and neither is named in a country set of a ruleset in force. Countries with the same
signature on both sides form one class; the engine runs once per class and the answer is copied
to every member.

Pure: plain data in and out; callers build the books and read the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import product

from app.rules import licensing, ranges
from app.rules.book import CountrySet, RuleBook, Spec
from app.rules.classify import Classification, UndeterminedError, classify
from app.rules.licensing import Party
from app.rules.metrics import Metrics, SpecError, compute
from app.vocabulary import TransactionType


@dataclass(frozen=True, slots=True)
class Side:
    """One set of rules on one date, over one catalog (accelerator id -> spec)."""

    book: RuleBook
    on: date
    specs: Mapping[str, Spec]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an answer says about one item to one party (or why there is none)."""

    license_required: bool | None
    review_policy: str | None = None
    exceptions: tuple[str, ...] = ()  # "NAC (notification)", "ACA"
    undetermined: str | None = None
    range_note: str | None = None  # a ranged figure decides it: the most restrictive end is shown

    def describe(self) -> str:
        if self.undetermined is not None:
            return f"undetermined ({self.undetermined})"
        if not self.license_required:
            return "no licence required"
        parts = ["licence required"]
        if self.review_policy:
            parts.append(f"review: {self.review_policy}")
        parts.append(f"exceptions: {', '.join(self.exceptions) if self.exceptions else 'none'}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class EccnChange:
    accelerator_id: str
    before: str | None
    after: str | None
    present_before: bool = True
    present_after: bool = True


@dataclass(frozen=True, slots=True)
class Difference:
    """One item, one buyer profile, every destination whose answer changed the same way."""

    accelerator_id: str
    profile: str
    destinations: tuple[str, ...]
    before: Outcome
    after: Outcome
    summary: str


@dataclass(frozen=True, slots=True)
class Impact:
    before_on: date
    after_on: date
    items: int
    countries: int
    profiles: tuple[str, ...]
    eccn_changes: tuple[EccnChange, ...]
    differences: tuple[Difference, ...]
    evaluations: int = 0  # engine runs actually made (one per country class)
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    def where(self, codes: Iterable[str], world: Iterable[str]) -> str:
        """Destinations (or parents) in a few words, Country Groups named as of the date compared."""
        return describe_countries(codes, self.groups, world)

    @property
    def empty(self) -> bool:
        return not self.eccn_changes and not self.differences


LOCAL = "headquartered locally"
PARENT = "parent headquartered in"


def _outcome(lic: licensing.Licensing) -> Outcome:
    codes = tuple(f"{e.code} (notification)" if e.notification_required else e.code for e in lic.license_exceptions)
    return Outcome(lic.license_required, lic.review_policy, codes)


def _rank(o: Outcome, policies: tuple[str, ...]) -> tuple[int, int, int]:
    """Most restrictive first: a licence, then the stricter policy, then fewer exceptions."""
    policy = policies.index(o.review_policy) if o.review_policy in policies else -1
    return (0 if o.license_required else 1, policy, len(o.exceptions))


def summarise(before: Outcome, after: Outcome) -> str:
    """A short phrase for a change of outcome ("licence now required", "review policy ...")."""
    if before.undetermined != after.undetermined or (before.undetermined and after.undetermined):
        return f"now {after.describe()} (was {before.describe()})"
    if not before.license_required and after.license_required:
        return f"licence now required ({after.describe().removeprefix('licence required; ')})"
    if before.license_required and not after.license_required:
        return "licence no longer required"
    parts = []
    if before.review_policy != after.review_policy:
        parts.append(f"review policy {before.review_policy} -> {after.review_policy}")
    if before.exceptions != after.exceptions:
        was = ", ".join(before.exceptions) or "none"
        now = ", ".join(after.exceptions) or "none"
        parts.append(f"exceptions {was} -> {now}")
    if before.range_note != after.range_note:
        if after.range_note:
            parts.append("now depends on where its ranged figures fall (the most restrictive end shown)")
        else:
            parts.append(f"its ranged figures no longer decide the answer: both ends now {after.describe()}")
    return "; ".join(parts)


def _named(book: RuleBook, on: date) -> frozenset[str]:
    """Countries a ruleset in force names explicitly (they may be answered differently)."""
    out: set[str] = set()

    def add(cs: CountrySet | None) -> None:
        if cs is not None:
            out.update(cs.countries)
            out.update(cs.except_countries)

    for r in book.in_force(on):
        for rule in r.destination_rules:
            add(rule.destinations)
            add(rule.headquarters)
            add(rule.headquarters_located)
            for exc in rule.exceptions:
                add(exc.headquarters)
        for policy in r.review_policies:
            add(policy.destinations)
    return frozenset(out)


def _signature(side: Side, named: frozenset[str], code: str) -> tuple[str | None, frozenset[str]]:
    resolved, _ = side.book.resolve_country(code, side.on)
    return (resolved if resolved in named else None, side.book.groups_of(resolved, side.on))


def country_classes(before: Side, after: Side, countries: Iterable[str]) -> list[tuple[str, ...]]:
    """Countries grouped by the signature they have on both sides (members sorted)."""
    nb, na = _named(before.book, before.on), _named(after.book, after.on)
    classes: dict[object, list[str]] = {}
    for code in sorted(countries):
        key = (_signature(before, nb, code), _signature(after, na, code))
        classes.setdefault(key, []).append(code)
    return [tuple(members) for members in classes.values()]


def _hq_sets(side: Side) -> list[CountrySet]:
    """The country sets a buyer's (or its parent's) headquarters is tested against on a side."""
    out: list[CountrySet] = []
    for r in side.book.in_force(side.on):
        for rule in r.destination_rules:
            if rule.headquarters:
                out.append(rule.headquarters)
            out.extend(e.headquarters for e in rule.exceptions if e.headquarters is not None)
    return out


def parent_classes(before: Side, after: Side, countries: Iterable[str]) -> list[tuple[str, ...]]:
    """Parents grouped by what the engine can see of them: a parent's country is read only through
    headquarters country sets, so parents inside exactly the same sets (on both sides) answer
    alike. Countries inside none on either side are left out (a parent there changes nothing)."""
    sides = [(side, _hq_sets(side)) for side in (before, after)]
    classes: dict[tuple[tuple[bool, ...], ...], list[str]] = {}
    for code in sorted(countries):
        key = []
        for side, sets in sides:
            resolved, _ = side.book.resolve_country(code, side.on)
            groups = side.book.groups_of(resolved, side.on)
            key.append(tuple(cs.contains(resolved, groups) for cs in sets))
        if any(any(k) for k in key):
            classes.setdefault(tuple(key), []).append(code)
    return [tuple(members) for members in classes.values()]


@dataclass
class Evaluator:
    """The engine on one side, memoised per item and party.

    A figure known only as a range is evaluated at the ends of each range (every combination of
    ends); where the ends disagree the most restrictive answer stands and says so.
    """

    side: Side
    _points: dict[str, list[tuple[Metrics, Classification]] | str] = field(default_factory=dict)
    _outcomes: dict[tuple[str, Party], Outcome] = field(default_factory=dict)
    runs: int = 0

    def __post_init__(self) -> None:
        self.selection = licensing.select(self.side.book, self.side.on, self.side.on)

    def _evaluated(self, key: str, spec: Spec) -> list[tuple[Metrics, Classification]] | str:
        found = self._points.get(key)
        if found is None:
            defs = self.side.book.definitions
            corners = [spec]
            if spec.ranges:
                names = [r.field for r in spec.ranges]
                ends = product(*((r.low, r.high) for r in spec.ranges))
                corners = [ranges.at(spec, dict(zip(names, combo, strict=True))) for combo in ends]
            try:
                found = []
                for corner in corners:
                    m = compute(corner, defs.bit_lengths)
                    found.append((m, classify(m, self.selection.rulesets, defs)))
            except (UndeterminedError, SpecError) as exc:
                found = str(exc)
            self._points[key] = found
        return found

    def eccn(self, key: str, spec: Spec) -> str | None:
        points = self._evaluated(key, spec)
        if isinstance(points, str):
            return points
        order = self.side.book.definitions.eccn_order
        return min((c.eccn for _, c in points), key=lambda e: order.index(e) if e in order else len(order))

    def outcome(self, key: str, spec: Spec, party: Party) -> Outcome:
        memo = (key, party)
        found = self._outcomes.get(memo)
        if found is not None:
            return found
        points = self._evaluated(key, spec)
        if isinstance(points, str):
            found = Outcome(None, undetermined=points)
        else:
            book, on = self.side.book, self.side.on
            try:
                answers = {_outcome(licensing.license_for(book, self.selection, m, c, party, on)) for m, c in points}
                found = min(answers, key=lambda o: _rank(o, book.definitions.review_policy_order))
                if len(answers) > 1:
                    fields = ", ".join(r.field for r in spec.ranges)
                    found = replace(found, range_note=f"the ends of the range of {fields} disagree: most restrictive")
            except (UndeterminedError, SpecError) as exc:
                found = Outcome(None, undetermined=str(exc))
        self.runs += 1
        self._outcomes[memo] = found
        return found

    def party(
        self,
        destination: str,
        headquarters: str | None,
        parent: str | None,
        transaction_type: TransactionType = "export",
    ) -> Party:
        book, on = self.side.book, self.side.on
        return Party(
            destination=book.resolve_country(destination, on)[0],
            headquarters=book.resolve_country(headquarters, on)[0] if headquarters else None,
            parent_headquarters=book.resolve_country(parent, on)[0] if parent else None,
            transaction_type=transaction_type,
        )


def compare(before: Side, after: Side, countries: Iterable[str]) -> Impact:
    """Every item x every country x the buyer profiles, before and after; differences only."""
    countries = sorted(countries)
    classes = country_classes(before, after, countries)
    parents = parent_classes(before, after, countries)
    profiles: list[tuple[str, str | None]] = [(LOCAL, None)]
    profiles += [(f"{PARENT} {', '.join(members)}", members[0]) for members in parents]
    parent_members = {members[0]: members for members in parents}

    eb, ea = Evaluator(before), Evaluator(after)
    ids = sorted(set(before.specs) | set(after.specs))
    eccns: list[EccnChange] = []
    differences: list[Difference] = []
    for item in ids:
        sb, sa = before.specs.get(item), after.specs.get(item)
        if sb is None or sa is None:
            eccns.append(
                EccnChange(
                    item,
                    eb.eccn(item, sb) if sb else None,
                    ea.eccn(item, sa) if sa else None,
                    present_before=sb is not None,
                    present_after=sa is not None,
                )
            )
            continue
        if eb.eccn(item, sb) != ea.eccn(item, sa):
            eccns.append(EccnChange(item, eb.eccn(item, sb), ea.eccn(item, sa)))
        by_parent: dict[tuple[tuple[str, ...], Outcome, Outcome], list[str]] = {}
        for label, parent in profiles:
            grouped: dict[tuple[Outcome, Outcome], list[str]] = {}
            for members in classes:
                rep = members[0]
                ob = eb.outcome(item, sb, eb.party(rep, rep, parent))
                oa = ea.outcome(item, sa, ea.party(rep, rep, parent))
                if ob != oa:
                    grouped.setdefault((ob, oa), []).extend(members)
            for (ob, oa), dests in grouped.items():
                if parent is None:
                    differences.append(Difference(item, label, tuple(sorted(dests)), ob, oa, summarise(ob, oa)))
                else:  # parents whose buyers change identically are one profile
                    by_parent.setdefault((tuple(sorted(dests)), ob, oa), []).extend(parent_members[parent])
        for (where, ob, oa), parents_alike in by_parent.items():
            label = f"{PARENT} {', '.join(sorted(parents_alike))}"
            differences.append(Difference(item, label, where, ob, oa, summarise(ob, oa)))
    differences.sort(key=lambda d: (d.accelerator_id, d.profile != LOCAL, d.profile, d.destinations))
    return Impact(
        before_on=before.on,
        after_on=after.on,
        items=len(ids),
        countries=len(countries),
        profiles=tuple(label for label, _ in profiles),
        eccn_changes=tuple(eccns),
        differences=tuple(differences),
        evaluations=eb.runs + ea.runs,
        groups=group_members(after.book, after.on),
    )


def describe_countries(codes: Iterable[str], members: Mapping[str, frozenset[str]], every: Iterable[str]) -> str:
    """Countries in a few words: whole Country Groups (``members``: group -> countries) named as
    groups, the rest by code; a set larger than half the world as "every country but ..."."""
    chosen, world = set(codes), set(every)
    if chosen == world:
        return "every country"
    if len(chosen) > len(world) / 2:
        return f"every country but {_compress(world - chosen, members)}"
    return _compress(chosen, members)


def _compress(codes: set[str], members: Mapping[str, frozenset[str]]) -> str:
    left, names = set(codes), []
    for group in sorted(members, key=lambda g: (-len(members[g]), g)):
        if members[group] <= left:
            names.append(group)
            left -= members[group]
    return ", ".join([*names, *sorted(left)])


def group_members(book: RuleBook, on: date) -> dict[str, frozenset[str]]:
    """Members of each Country Group on a date."""
    out: dict[str, set[str]] = {}
    for code in book.country_names:
        for group in book.groups_of(code, on):
            out.setdefault(group, set()).add(code)
    return {group: frozenset(codes) for group, codes in out.items()}
