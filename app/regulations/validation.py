"""Fail-closed checks of reference documents: the one path every ruleset, Country Group change and
catalog entry takes (admin HTTP, CLI, catalog import, seeding of shipped data) before it is stored.

The schemas make a document well-formed; these checks make it *meaningful* to the engine: every
code is one the engine knows (the vocabulary is derived from it, ``app.rules.vocabulary``), every
figure is positive and plausible, every conjunction of conditions can hold, dates sit in a sane
window and in order, and references (``supersedes``, cited sources) resolve. Each problem names
the field (a JSON pointer) and, for a closed set, the values allowed. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from app.catalog import service as catalog
from app.catalog.schemas import AcceleratorCreate
from app.errors import DomainError, FieldProblem
from app.regulations import loader
from app.regulations.schemas import CountrySetDoc, GroupChangeDoc, ItemScopeDoc, RulesetDoc
from app.rules import metrics
from app.rules.vocabulary import Vocabulary, allowed, contradiction, vocabulary

# The window an effective date may fall in: no US export control the EAR carries predates the
# Export Control Act of 1949 (the embargoes in part 746 are the oldest rules here), and a date more
# than ten years ahead is a typo (9999-12-31), not a plan.
EARLIEST_EFFECTIVE = date(1949, 1, 1)
YEARS_AHEAD = 10


@dataclass(frozen=True, slots=True)
class Problem:
    pointer: str
    detail: str
    retroactive: bool = False  # only the missing acknowledgement of an effective date before today


class DocumentRejected(DomainError):
    """A reference document the engine cannot use as sent; nothing was stored.

    When the only problem is an unacknowledged effective date before today, the code is
    ``retroactive_change`` so a client can tell "confirm it" from "fix it".
    """

    def __init__(self, code: str, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        if all(p.retroactive for p in self.problems):
            code = "retroactive_change"
        shown = "; ".join(f"{p.pointer}: {p.detail}" for p in self.problems[:5])
        more = f"; and {len(self.problems) - 5} more" if len(self.problems) > 5 else ""
        errors = [FieldProblem(pointer=p.pointer, detail=p.detail) for p in self.problems]
        super().__init__(code, f"{shown}{more}; nothing was stored", errors=errors)


def reference_vocabulary(files: loader.ReferenceFiles) -> Vocabulary:
    """The vocabulary of the shipped definitions and Country Groups."""
    return vocabulary(loader.definitions(files.definitions), files.group_base, loader.COUNTRY_NAMES)


def latest_allowed(today: date) -> date:
    return today.replace(year=today.year + YEARS_AHEAD, day=28 if today.month == 2 else today.day)


class _Checker:
    def __init__(self, vocab: Vocabulary, today: date) -> None:
        self.vocab = vocab
        self.today = today
        self.problems: list[Problem] = []

    def add(self, pointer: str, detail: str) -> None:
        self.problems.append(Problem(pointer, detail))

    def member(self, pointer: str, value: str, known: Iterable[str], what: str) -> None:
        known = tuple(known)
        if value not in known:
            self.add(pointer, f"{value!r} is not a {what} the engine knows; allowed: {allowed(known)}")

    def country(self, pointer: str, code: str) -> None:
        if code not in self.vocab.countries:
            self.add(pointer, f"{code!r} is not an ISO 3166-1 alpha-2 country code")

    def date_in_window(self, pointer: str, value: date) -> None:
        latest = latest_allowed(self.today)
        if value < EARLIEST_EFFECTIVE or value > latest:
            window = f"{EARLIEST_EFFECTIVE.isoformat()} to {latest.isoformat()}"
            self.add(pointer, f"{value.isoformat()} is outside the sane window {window}")

    def figure(self, pointer: str, name: str, value: Decimal | Fraction) -> None:
        ceiling = self.vocab.maximum.get(name)
        if value <= 0:
            self.add(pointer, f"{name} must be greater than 0")
        elif ceiling is not None and value > ceiling:
            self.add(pointer, f"{name} {value} is beyond the plausible maximum {ceiling}")

    def conditions(self, pointer: str, raw: Sequence[tuple[object, ...]]) -> None:
        for i, cond in enumerate(raw):
            metric, _op, value = cond
            here = f"{pointer}/{i}"
            if isinstance(value, Decimal):
                self.figure(f"{here}/2", str(metric), value)
            elif isinstance(value, list):
                for j, v in enumerate(value):
                    self.member(f"{here}/2/{j}", str(v), self.vocab.set_values(str(metric)), f"{metric} value")
        reason = contradiction(loader.condition(c) for c in raw)
        if reason:
            self.add(pointer, f"these conditions can never all hold: {reason}")

    def scope(self, pointer: str, doc: ItemScopeDoc) -> None:
        for i, eccn in enumerate(doc.eccns):
            self.member(f"{pointer}/eccns/{i}", eccn, self.vocab.eccns, "ECCN")
        for i, conds in enumerate(doc.any_of):
            self.conditions(f"{pointer}/any_of/{i}", conds)

    def countries(self, pointer: str, doc: CountrySetDoc | None) -> None:
        if doc is None:
            return
        for name in ("groups", "except_groups"):
            for i, group in enumerate(getattr(doc, name)):
                self.member(f"{pointer}/{name}/{i}", group, self.vocab.groups, "Country Group")
        for name in ("countries", "except_countries"):
            for i, code in enumerate(getattr(doc, name)):
                self.country(f"{pointer}/{name}/{i}", code)
        nothing_left = set(doc.groups) <= set(doc.except_groups) and set(doc.countries) <= set(doc.except_countries)
        if not doc.all_countries and nothing_left:
            self.add(pointer, "selects no country: everything it names is also excepted")

    def policy(self, pointer: str, value: str | None) -> None:
        if value is not None:
            self.member(pointer, value, self.vocab.review_policies, "review policy")

    def retroactive(self, pointer: str, effective: date, retroactive: bool) -> None:
        if effective < self.today and not retroactive:
            detail = (
                f"{effective.isoformat()} is before today ({self.today.isoformat()}): this changes answers "
                "already given; send retroactive: true with a reason to apply it anyway"
            )
            self.problems.append(Problem(pointer, detail, retroactive=True))


def check_ruleset(
    doc: RulesetDoc,
    vocab: Vocabulary,
    stored: Sequence[RulesetDoc],
    today: date,
    *,
    retroactive: bool = True,
) -> list[Problem]:
    """Problems with ``doc`` as an addition to ``stored`` (empty when it may be stored)."""
    c = _Checker(vocab, today)
    c.date_in_window("/effective_from", doc.effective_from)
    if doc.effective_to is not None:
        c.date_in_window("/effective_to", doc.effective_to)
    c.retroactive("/effective_from", doc.effective_from, retroactive)
    for i, cit in enumerate(doc.citations):
        c.member(f"/citations/{i}/source_kind", cit.source_kind, vocab.source_kinds, "source kind")
    if doc.classification:
        for i, clause in enumerate(doc.classification.clauses):
            c.member(f"/classification/clauses/{i}/eccn", clause.eccn, vocab.eccns, "ECCN")
            c.conditions(f"/classification/clauses/{i}/all", clause.all)
        for i, note in enumerate(doc.classification.notes):
            c.conditions(f"/classification/notes/{i}/all", note.all)
    for i, rule in enumerate(doc.destination_rules):
        here = f"/destination_rules/{i}"
        c.scope(f"{here}/items", rule.items)
        c.countries(f"{here}/destinations", rule.destinations)
        c.countries(f"{here}/headquarters", rule.headquarters)
        c.countries(f"{here}/headquarters_located", rule.headquarters_located)
        c.policy(f"{here}/review_policy", rule.review_policy)
        if rule.compliance_from is not None:
            c.date_in_window(f"{here}/compliance_from", rule.compliance_from)
        for j, exc in enumerate(rule.exceptions):
            c.member(f"{here}/exceptions/{j}/code", exc.code, vocab.license_exceptions, "licence exception")
            c.scope(f"{here}/exceptions/{j}/eligible", exc.eligible)
            c.countries(f"{here}/exceptions/{j}/headquarters", exc.headquarters)
            for k, kind in enumerate(exc.transaction_types):
                c.member(
                    f"{here}/exceptions/{j}/transaction_types/{k}", kind, vocab.transaction_types, "transaction type"
                )
    # a review policy may narrow itself to reasons of named provisions: each must be one a
    # destination rule (here or stored) holds, or the policy would silently never apply
    sections = {r.section for d in (*stored, doc) for r in d.destination_rules if r.section}
    for i, pol in enumerate(doc.review_policies):
        here = f"/review_policies/{i}"
        c.countries(f"{here}/destinations", pol.destinations)
        c.scope(f"{here}/items", pol.items)
        c.policy(f"{here}/review_policy", pol.review_policy)
        for j, kind in enumerate(pol.transaction_types):
            c.member(f"{here}/transaction_types/{j}", kind, vocab.transaction_types, "transaction type")
        for j, basis in enumerate(pol.bases):
            c.member(f"{here}/bases/{j}", basis, vocab.bases, "basis")
        for j, section in enumerate(pol.sections):
            c.member(f"{here}/sections/{j}", section, sorted(sections), "provision (section)")
        if pol.us_available_on is not None:
            c.date_in_window(f"{here}/us_available_on", pol.us_available_on)
        for j, cond in enumerate(pol.conditions):
            c.member(f"{here}/conditions/{j}/source_kind", cond.source_kind, vocab.source_kinds, "source kind")
    if not c.problems:
        _check_against_stored(c, doc, stored)
    return c.problems


def _check_against_stored(c: _Checker, doc: RulesetDoc, stored: Sequence[RulesetDoc]) -> None:
    others = [d for d in stored if d.id != doc.id]
    if doc.supersedes is not None:
        old = next((d for d in others if d.id == doc.supersedes), None)
        if old is None:
            c.add("/supersedes", f"no ruleset {doc.supersedes!r} to supersede")
            return
        if old.family != doc.family:
            c.add("/supersedes", f"{old.id} is of family {old.family!r}, not {doc.family!r}")
            return
        if doc.effective_from <= old.effective_from:
            c.add("/effective_from", f"must be after {old.id}'s effective_from ({old.effective_from.isoformat()})")
            return
    try:
        loader.check_overlaps([*others, doc])
    except loader.OverlapError as exc:
        c.add("/effective_from", str(exc))
    except ValueError as exc:
        c.add("/supersedes", str(exc))


def check_group_change(
    change: GroupChangeDoc,
    vocab: Vocabulary,
    files: loader.ReferenceFiles,
    stored: Sequence[GroupChangeDoc],
    today: date,
    *,
    retroactive: bool = True,
) -> list[Problem]:
    c = _Checker(vocab, today)
    c.member("/group", change.group, vocab.groups, "Country Group")
    c.country("/country", change.country)
    c.date_in_window("/effective", change.effective)
    c.member("/citation/source_kind", change.citation.source_kind, vocab.source_kinds, "source kind")
    c.retroactive("/effective", change.effective, retroactive)
    if not c.problems:
        try:
            loader.memberships(files.group_base, files.group_citation, [*stored, change])
        except ValueError as exc:
            c.add("/action", str(exc))
    return c.problems


def accelerator_check(files: loader.ReferenceFiles) -> Callable[[AcceleratorCreate], list[FieldProblem]]:
    """``check_accelerator`` against the shipped vocabulary, as the catalog write path takes it."""
    vocab = reference_vocabulary(files)

    def check(item: AcceleratorCreate) -> list[FieldProblem]:
        return [FieldProblem(pointer=p.pointer, detail=p.detail) for p in check_accelerator(item, vocab)]

    return check


def check_accelerator(item: AcceleratorCreate, vocab: Vocabulary) -> list[Problem]:
    """Known precisions, plausible figures, every cited source present, computable metrics."""
    c = _Checker(vocab, date.min)
    for i, row in enumerate(item.throughput):
        c.member(f"/throughput/{i}/precision", row.precision, vocab.precisions, "precision")
        for end in ("dense_tops", "min", "max"):
            if getattr(row, end, None) is not None:
                c.figure(f"/throughput/{i}/{end}", "dense_tops", getattr(row, end))
    for name in ("die_area_mm2", "memory_bandwidth_gbps", "interconnect_bandwidth_gbps"):
        fig = getattr(item, name)
        for end in ("value", "min", "max"):
            if fig is not None and getattr(fig, end) is not None:
                c.figure(f"/{name}/{end}", name, getattr(fig, end))
    if item.memory_gb is not None:
        c.figure("/memory_gb", "memory_gb", item.memory_gb)
    missing = sorted(catalog.cited_sources(item) - item.sources.keys())
    if missing:
        c.add("/sources", f"figures cite sources not given here: {', '.join(missing)}")
    if c.problems:
        return c.problems
    spec = catalog.spec_from_record(item)
    if not spec.ranges:  # a ranged item's metrics are bounded by its figures' ends, checked above
        m = metrics.compute(spec, vocab.bit_lengths)
        for name, value in (("tpp", m.tpp), ("performance_density", m.performance_density)):
            if value is not None:
                c.figure("/throughput", name, value)
    return c.problems
