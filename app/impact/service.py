"""Impact analysis: what a proposed or stored change does, as plain data.

:func:`of_proposal` and :func:`of_change` build the rules without and with the change from the
current snapshot and compare them with the pure engine (``app.rules.impact``); nothing is stored.
:func:`between` walks the published changes between two dates. :func:`screenings` re-evaluates
stored screenings on both sides and names those that would come out differently.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine

from app.catalog import service as catalog
from app.catalog.schemas import AcceleratorCreate, SpecIn
from app.changes import service as changes
from app.changes.schemas import DifferenceOut, EccnChangeOut, ImpactResult, OutcomeOut
from app.decisions import service as decisions
from app.errors import DomainError
from app.regulations import service as reference
from app.regulations.schemas import GroupChangeDoc, RulesetDoc
from app.regulations.snapshot import Snapshot
from app.rules import impact as engine
from app.rules.book import RuleBook, Spec
from app.rules.licensing import Party

Proposal = RulesetDoc | GroupChangeDoc | AcceleratorCreate


class ImpactError(DomainError):
    """An impact question that cannot be answered as asked (a DomainError: the API renders it)."""

    def __init__(self, code: str, pointer: str, message: str) -> None:
        super().__init__(code, message, pointer)


@dataclass(frozen=True)
class Comparison:
    """Both sides of a change, what it is, and the pure comparison of the catalog x world."""

    label: str
    before: engine.Side
    after: engine.Side
    impact: engine.Impact


def describe(proposal: Proposal) -> str:
    if isinstance(proposal, RulesetDoc):
        return f"ruleset {proposal.id} (effective {proposal.effective_from.isoformat()})"
    if isinstance(proposal, GroupChangeDoc):
        verb = "added to" if proposal.action == "add" else "removed from"
        return f"{proposal.country} {verb} {proposal.group} on {proposal.effective.isoformat()}"
    return f"catalog entry {proposal.id}"


def default_date(proposal: Proposal, today: date) -> date:
    if isinstance(proposal, RulesetDoc):
        return proposal.effective_from
    if isinstance(proposal, GroupChangeDoc):
        return proposal.effective
    return today


def _book(
    files: reference.ReferenceFiles, docs: list[RulesetDoc], group_changes: list[GroupChangeDoc], label: str
) -> RuleBook:
    try:
        return reference.build_book(files, docs, group_changes, label)
    except ValueError as exc:
        raise ImpactError("validation_error", "/", f"the rules {label} the change cannot be built: {exc}") from exc


def sides(
    snap: Snapshot, files: reference.ReferenceFiles, proposal: Proposal, on: date, today: date
) -> tuple[engine.Side, engine.Side]:
    """The rules without and with ``proposal`` (a document with a stored id replaces it).

    The proposal is validated exactly as a write would be (fail closed, 422 naming the field);
    an effective date before today is allowed here: this is a dry run.
    """
    vocab = reference.reference_vocabulary(files)
    docs = list(snap.rulesets.values())
    group_changes = list(snap.group_changes)
    specs: Mapping[str, Spec] = snap.catalog.specs
    if isinstance(proposal, RulesetDoc):
        others = [d for d in docs if d.id != proposal.id]
        problems = reference.check_ruleset(proposal, vocab, others, today)
        if problems:
            raise reference.DocumentRejected("invalid_ruleset", problems)
        before = _book(files, others, group_changes, "without")
        after = _book(files, [*others, proposal], group_changes, "with")
        return engine.Side(before, on, specs), engine.Side(after, on, specs)
    if isinstance(proposal, GroupChangeDoc):
        # the same event (group, country, action, date) replaces the stored one, whatever its citation
        same = (proposal.group, proposal.country, proposal.action, proposal.effective)
        others_c = [c for c in group_changes if (c.group, c.country, c.action, c.effective) != same]
        problems = reference.check_group_change(proposal, vocab, files, others_c, today)
        if problems:
            raise reference.DocumentRejected("validation_error", problems)
        before = _book(files, docs, others_c, "without")
        after = _book(files, docs, [*others_c, proposal], "with")
        return engine.Side(before, on, specs), engine.Side(after, on, specs)
    problems = reference.check_accelerator(proposal, vocab)
    if problems:
        raise reference.DocumentRejected("validation_error", problems)
    without = {k: v for k, v in specs.items() if k != proposal.id}
    with_it = {**without, proposal.id: catalog.spec_from_record(proposal)}
    stored = snap.catalog.specs.get(proposal.id)
    before_specs = without if stored is None else {**without, proposal.id: stored}
    return engine.Side(snap.book, on, before_specs), engine.Side(snap.book, on, with_it)


def of_proposal(
    snap: Snapshot, files: reference.ReferenceFiles, proposal: Proposal, on: date | None, today: date
) -> Comparison:
    when = on or default_date(proposal, today)
    before, after = sides(snap, files, proposal, when, today)
    return Comparison(describe(proposal), before, after, engine.compare(before, after, reference.COUNTRY_NAMES))


def proposal_of_change(change: changes.ReferenceChange) -> Proposal:
    document = json.loads(change.document)
    if change.kind == "ruleset":
        return RulesetDoc.model_validate(document)
    if change.kind == "country_group_change":
        return GroupChangeDoc.model_validate(document)
    return AcceleratorCreate.model_validate(document)


def of_change(
    engine_: Engine, snap: Snapshot, files: reference.ReferenceFiles, change_id: str, on: date | None, today: date
) -> Comparison:
    """A stored change replayed: the current rules without it against the current rules with it.

    A catalog change compares the entry it recorded with the one stored now (or its absence).
    """
    change = changes.get(engine_, change_id)
    if change is None:
        raise ImpactError("unknown_change", "/change_id", f"no change {change_id!r}")
    proposal = proposal_of_change(change)
    if isinstance(proposal, AcceleratorCreate):
        when = on or today
        specs = dict(snap.catalog.specs)
        specs.pop(proposal.id, None)
        after_specs = {**specs, proposal.id: catalog.spec_from_record(proposal)}
        before, after = engine.Side(snap.book, when, specs), engine.Side(snap.book, when, after_specs)
        label = f"change {change.id}: {describe(proposal)}"
        return Comparison(label, before, after, engine.compare(before, after, reference.COUNTRY_NAMES))
    result = of_proposal(snap, files, proposal, on, today)
    return Comparison(f"change {change.id}: {result.label}", result.before, result.after, result.impact)


def change_dates(snap: Snapshot, start: date, end: date) -> dict[date, list[str]]:
    """Published changes on dates in (start, end]: enforced rulesets starting or ending, group changes."""
    out: dict[date, list[str]] = {}
    for r in snap.book.rulesets:
        if not r.enforced:
            continue
        if start < r.effective_from <= end:
            out.setdefault(r.effective_from, []).append(f"ruleset {r.id} takes effect")
        if r.effective_to and start < r.effective_to <= end:
            out.setdefault(r.effective_to, []).append(f"ruleset {r.id} ends")
    for c in snap.group_changes:
        if start < c.effective <= end:
            out.setdefault(c.effective, []).append(describe(c))
    return dict(sorted(out.items()))


def _step(snap: Snapshot, day: date) -> engine.Impact:
    before = engine.Side(snap.book, day - timedelta(days=1), snap.catalog.specs)
    after = engine.Side(snap.book, day, snap.catalog.specs)
    return engine.compare(before, after, reference.COUNTRY_NAMES)


def between(
    snap: Snapshot, start: date, end: date, limit: int
) -> tuple[list[tuple[date, list[str], engine.Impact]], date | None]:
    """What each published change between two dates did: the day before it against its day.

    At most ``limit`` dates (each is a whole catalog x world comparison, about half a second);
    the second value is the last date answered when more remain (ask again from there). Each
    step is kept with the snapshot, so paging and repeated questions cost nothing more.
    """
    dates = sorted(change_dates(snap, start, end).items())
    steps = []
    for day, what in dates[:limit]:
        steps.append((day, what, snap.remember(("impact-step", day), partial(_step, snap, day))))
    return steps, (steps[-1][0] if len(dates) > limit else None)


@dataclass
class ScreeningsResult:
    checked: int = 0
    differing: int = 0
    ids: list[str] = field(default_factory=list)
    next_seq: int | None = None


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
        if text.startswith("after:"):
            return int(text.removeprefix("after:"))
    except (ValueError, UnicodeDecodeError):
        pass
    raise ImpactError("validation_error", "/screenings_cursor", "not a cursor this service issued")


def _line_spec(line: Mapping[str, Any], specs: Mapping[str, Spec]) -> tuple[str, Spec] | None:
    if line.get("accelerator_id"):
        key = str(line["accelerator_id"])
        spec = specs.get(key)
        return (key, spec) if spec is not None else None
    if line.get("spec") is not None:
        return json.dumps(line["spec"], sort_keys=True), catalog.spec_from_input(SpecIn.model_validate(line["spec"]))
    return None


def screenings(
    db: Engine, comparison: Comparison, *, after_seq: int = 0, limit: int = 100, batch: int = 500
) -> ScreeningsResult:
    """Stored screenings that would come out differently if screened again on the date.

    Each is re-evaluated with the rules and catalog of both sides (same date, same party); a
    screening differs when any line's ECCN, licence requirement, review policy or exceptions do.
    Counts cover the whole log; ``ids`` is one page (after ``after_seq``, oldest first).
    """
    eb, ea = engine.Evaluator(comparison.before), engine.Evaluator(comparison.after)
    result = ScreeningsResult()
    seq, last_listed = 0, after_seq
    while True:
        rows = decisions.page(db, seq, batch).items
        if not rows:
            return result
        for d in rows:
            seq = d.seq
            if d.kind != "screening":
                continue
            result.checked += 1
            if not _differs(d.request, eb, ea):
                continue
            result.differing += 1
            if d.seq <= after_seq:
                continue
            if len(result.ids) < limit:
                result.ids.append(d.id)
                last_listed = d.seq
            elif result.next_seq is None:
                result.next_seq = last_listed


def _differs(request: Mapping[str, Any], eb: engine.Evaluator, ea: engine.Evaluator) -> bool:
    end_user = request.get("end_user") or {}
    args = (request["destination"], end_user.get("headquarters"), end_user.get("parent_headquarters"))
    kind = request.get("transaction_type", "export")
    pb: Party = eb.party(*args, transaction_type=kind)
    pa: Party = ea.party(*args, transaction_type=kind)
    for line in request.get("lines", ()):
        b = _line_spec(line, eb.side.specs)
        a = _line_spec(line, ea.side.specs)
        if (b is None) != (a is None):
            return True
        if b is None or a is None:
            continue
        if eb.eccn(*b) != ea.eccn(*a) or eb.outcome(*b, pb) != ea.outcome(*a, pa):
            return True
    return False


def _outcome(o: engine.Outcome) -> OutcomeOut:
    return OutcomeOut(
        license_required=o.license_required,
        review_policy=o.review_policy,
        license_exceptions=list(o.exceptions),
        undetermined=o.undetermined,
    )


def summary_lines(result: engine.Impact) -> list[str]:
    lines = []
    for e in result.eccn_changes:
        if not e.present_before:
            lines.append(f"{e.accelerator_id}: new in the catalog ({e.after or 'not 3A090'})")
        elif not e.present_after:
            lines.append(f"{e.accelerator_id}: removed from the catalog")
        else:
            lines.append(f"{e.accelerator_id}: ECCN {e.before or 'not 3A090'} -> {e.after or 'not 3A090'}")
    for d in result.differences:
        where = result.where(d.destinations, reference.COUNTRY_NAMES)
        lines.append(f"{d.accelerator_id} ({d.profile}) {where}: {d.summary}")
    return lines


def to_result(result: engine.Impact) -> ImpactResult:
    """The pure comparison as the API and the change log show it."""
    return ImpactResult(
        before_on=result.before_on,
        after_on=result.after_on,
        items=result.items,
        countries=result.countries,
        profiles=list(result.profiles),
        eccn_changes=[
            EccnChangeOut(
                accelerator_id=e.accelerator_id,
                before=e.before,
                after=e.after,
                in_catalog_before=e.present_before,
                in_catalog_after=e.present_after,
            )
            for e in result.eccn_changes
        ],
        differences=[
            DifferenceOut(
                accelerator_id=d.accelerator_id,
                profile=d.profile,
                destinations=list(d.destinations),
                before=_outcome(d.before),
                after=_outcome(d.after),
                summary=f"{result.where(d.destinations, reference.COUNTRY_NAMES)}: {d.summary}",
            )
            for d in result.differences
        ],
        summary=summary_lines(result),
    )


def parse_proposal(raw: object) -> Proposal:
    """A proposal from a file: ``{ruleset: ...}``, ``{country_group_change: ...}``,
    ``{accelerator: ...}``, or a bare document recognised by its fields."""
    if not isinstance(raw, dict):
        raise ImpactError("validation_error", "/", "the file must hold one document (a mapping)")
    wrapped = {k: raw[k] for k in ("ruleset", "country_group_change", "accelerator") if k in raw}
    if len(wrapped) == 1 and len(raw) == 1:
        kind, document = next(iter(wrapped.items()))
    elif "family" in raw:
        kind, document = "ruleset", raw
    elif "group" in raw and "action" in raw:
        kind, document = "country_group_change", raw
    elif "vendor" in raw:
        kind, document = "accelerator", raw
    else:
        raise ImpactError(
            "validation_error",
            "/",
            "not a ruleset, Country Group change or accelerator (or wrap it in one of those keys)",
        )
    if kind == "ruleset":
        return RulesetDoc.model_validate(document)
    if kind == "country_group_change":
        return GroupChangeDoc.model_validate(document)
    return AcceleratorCreate.model_validate(document)


def table(comparison: Comparison, shots: ScreeningsResult | None = None) -> list[str]:
    """The comparison as a readable table (the `chipclass impact` output)."""
    result = comparison.impact
    when = result.after_on.isoformat()
    out = [
        f"Impact of {comparison.label}, evaluated on {when}",
        f"Compared: {result.items} catalog items x {result.countries} countries x {len(result.profiles)} buyer "
        "profiles (headquartered locally; parent headquartered where a headquarters rule reaches)",
        "",
    ]
    if result.empty:
        out.append("No difference: every ECCN, licence requirement, review policy and exception stays the same.")
    if result.eccn_changes:
        out.append("ECCN changes:")
        out += [f"  {line}" for line in summary_lines(replace(result, differences=()))]
        out.append("")
    if result.differences:
        # items that changed identically (same buyer, destinations and change) share one entry
        grouped: dict[tuple[str, tuple[str, ...], str], list[str]] = {}
        for d in result.differences:
            grouped.setdefault((d.profile, d.destinations, d.summary), []).append(d.accelerator_id)
        out.append(f"Differences ({len(result.differences)} item x buyer rows, {len(grouped)} distinct):")
        for (profile, destinations, summary), items in grouped.items():
            buyer = profile
            if buyer.startswith(engine.PARENT):
                codes = buyer.removeprefix(engine.PARENT).strip().split(", ")
                buyer = f"{engine.PARENT} {result.where(codes, reference.COUNTRY_NAMES)}"
            out.append(f"  {', '.join(items)}")
            out.append(f"    buyer {buyer}; {result.where(destinations, reference.COUNTRY_NAMES)}: {summary}")
    if shots is not None:
        out.append("")
        out.append(
            f"Stored screenings that would come out differently on {when}: {shots.differing} of {shots.checked}"
            + (f" ({', '.join(shots.ids[:10])}{', ...' if len(shots.ids) > 10 else ''})" if shots.ids else "")
        )
    return out


ANNOUNCED_LINES = 50  # summary lines a reference.changed event carries (the rest: POST /v1/impact)


def of_catalog_edit(snap: Snapshot, items: Sequence[AcceleratorCreate], on: date) -> Comparison:
    """Several catalog entries written at once (an import) against the catalog as it stands."""
    before_specs: Mapping[str, Spec] = snap.catalog.specs
    after_specs = {**before_specs, **{item.id: catalog.spec_from_record(item) for item in items}}
    before, after = engine.Side(snap.book, on, before_specs), engine.Side(snap.book, on, after_specs)
    label = f"catalog entries {', '.join(item.id for item in items[:5])}{' ...' if len(items) > 5 else ''}"
    return Comparison(label, before, after, engine.compare(before, after, reference.COUNTRY_NAMES))


def announcement(
    snap: Snapshot, files: reference.ReferenceFiles, proposals: Sequence[Proposal], today: date
) -> dict[str, Any] | None:
    """The impact summary a ``reference.changed`` event carries: what the change does on its
    effective date (a catalog edit: today) against the snapshot it was validated on.

    Computed before the write, so the event commits with the change. None when the documents do not
    validate: the write itself then answers with its own 422 and nothing is announced.
    """
    if not proposals:
        return None
    try:
        items = [p for p in proposals if isinstance(p, AcceleratorCreate)]
        if len(items) == len(proposals):
            comparison = of_catalog_edit(snap, items, today)
        elif len(proposals) == 1:
            comparison = of_proposal(snap, files, proposals[0], None, today)
        else:
            raise ImpactError("validation_error", "/", "one ruleset or Country Group change at a time")
    except (DomainError, ValueError, ArithmeticError):
        return None
    lines = summary_lines(comparison.impact)
    result = comparison.impact
    return {
        "on": result.after_on.isoformat(),
        "against_revision": snap.revision,
        "items": result.items,
        "countries": result.countries,
        "profiles": len(result.profiles),
        "eccn_changes": len(result.eccn_changes),
        "differences": len(result.differences),
        "summary": lines[:ANNOUNCED_LINES],
        "truncated": len(lines) > ANNOUNCED_LINES,
    }
