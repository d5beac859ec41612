"""The accelerator catalog: entries from the shipped file and from admins, and the spec the
engine reads from an entry or from a caller's figures.

Writes bump the reference revision (``app.revision``) so every replica reloads its snapshot.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app import clock, revision, stored
from app.catalog import exchange
from app.catalog.models import Accelerator
from app.catalog.schemas import (
    AcceleratorCreate,
    AcceleratorPage,
    AcceleratorRead,
    AcceleratorRecord,
    ImportProblem,
    Source,
    SpecIn,
    SpecUsAvailability,
    UsAvailability,
)
from app.catalog.schemas import ImportReport as ImportReportOut
from app.changes import service as changelog
from app.changes.service import ChangeRequest, ReferenceChange
from app.errors import DomainError, FieldProblem, field_error
from app.rules import book

# --- specs: catalog entries and caller figures -> what the engine reads -------------------------


def _point(value: Decimal | None) -> Fraction | None:
    return Fraction(value) if value is not None else None


def us_availability(fact: UsAvailability | SpecUsAvailability | None) -> book.UsAvailability | None:
    """US availability as the engine reads it (a dated fact; None: unknown)."""
    if fact is None:
        return None
    source = fact.source if isinstance(fact, UsAvailability) else None
    note = fact.note if isinstance(fact, UsAvailability) else None
    return book.UsAvailability(fact.value, fact.as_of, source, note)


def spec_from_record(record: AcceleratorRecord) -> book.Spec:
    """A catalog entry's figures, exact; a figure given as a range is None there and listed in ``ranges``."""
    ranges: list[book.FigureRange] = []
    for i, t in enumerate(record.throughput):
        if t.min is not None and t.max is not None:
            ranges.append(book.FigureRange(f"throughput.{i}", Fraction(t.min), Fraction(t.max), t.source, t.note))
    figures = {
        "die_area_mm2": record.die_area_mm2,
        "memory_bandwidth_gbps": record.memory_bandwidth_gbps,
        "interconnect_bandwidth_gbps": record.interconnect_bandwidth_gbps,
    }
    for name, fig in figures.items():
        if fig is not None and fig.min is not None and fig.max is not None:
            ranges.append(book.FigureRange(name, Fraction(fig.min), Fraction(fig.max), fig.source, fig.note))
    return book.Spec(
        throughput=tuple(book.Throughput(t.precision, _point(t.dense_tops)) for t in record.throughput),
        datacenter=record.datacenter,
        die_area_mm2=_point(record.die_area_mm2.value),
        memory_bandwidth_gbps=_point(record.memory_bandwidth_gbps.value) if record.memory_bandwidth_gbps else None,
        interconnect_bandwidth_gbps=_point(record.interconnect_bandwidth_gbps.value)
        if record.interconnect_bandwidth_gbps
        else None,
        kind=record.kind,
        ranges=tuple(ranges),
        us_available=us_availability(record.us_available),
    )


def spec_from_input(spec: SpecIn) -> book.Spec:
    """A caller's spec; sparse figures are halved here, explicitly (Technical Note 3)."""
    return book.Spec(
        throughput=tuple(
            book.Throughput(t.precision, Fraction(t.dense_tops) / 2 if t.sparse else Fraction(t.dense_tops))
            for t in spec.throughput
        ),
        datacenter=spec.datacenter,
        die_area_mm2=Fraction(spec.die_area_mm2) if spec.die_area_mm2 is not None else None,
        memory_bandwidth_gbps=Fraction(spec.memory_bandwidth_gbps) if spec.memory_bandwidth_gbps is not None else None,
        interconnect_bandwidth_gbps=Fraction(spec.interconnect_bandwidth_gbps)
        if spec.interconnect_bandwidth_gbps is not None
        else None,
        kind=spec.kind,
        us_available=us_availability(spec.us_available),
    )


def sparse_notes(spec: SpecIn) -> tuple[str, ...]:
    """What the answer says about each sparse figure it halved."""
    return tuple(
        f"{t.precision}: sparse figure {t.dense_tops} halved to {t.dense_tops / 2} (Technical Note 3)"
        for t in spec.throughput
        if t.sparse
    )


def unverified_warnings(item: AcceleratorRead) -> tuple[str, ...]:
    return tuple(
        f"{item.id}: figure from an unverified source ({key})"
        for key, src in item.sources.items()
        if src.kind == "unverified"
    )


# --- entries ------------------------------------------------------------------------------------


def cited_sources(record: AcceleratorRecord) -> set[str]:
    """The source keys an entry's figures cite."""
    keys = {t.source for t in record.throughput} | {record.die_area_mm2.source}
    for fig in (
        record.memory_bandwidth_gbps,
        record.interconnect_bandwidth_gbps,
        record.datacenter_evidence,
        record.us_available,
    ):
        if fig is not None:
            keys.add(fig.source)
    return keys


def parse_shipped(document: Mapping[str, Any]) -> list[AcceleratorCreate]:
    """``app/data/accelerators.yaml``: entries cite sources by key; each entry gets the ones it cites."""
    sources = {k: Source.model_validate(v) for k, v in document["sources"].items()}
    entries = []
    for raw in document["accelerators"]:
        record = AcceleratorRecord.model_validate(raw)
        used = cited_sources(record)
        missing = used - sources.keys()
        if missing:
            raise ValueError(f"accelerator {record.id}: unknown sources {sorted(missing)}")
        entries.append(
            AcceleratorCreate.model_validate({**raw, "sources": {k: sources[k].model_dump() for k in sorted(used)}})
        )
    return entries


def _row(item: AcceleratorCreate, data_version: str, now: datetime) -> Accelerator:
    return Accelerator(
        id=item.id,
        vendor=item.vendor,
        model=item.model,
        datacenter=item.datacenter,
        document=item.model_dump(mode="json"),
        data_version=data_version,
        created_at=now,
    )


ORIGINS = frozenset({"admin", "import"})
"""``data_version`` of entries written by people (admin POST, import): a later shipped file keeps them."""


@dataclass
class SeedResult:
    added: int = 0
    updated: int = 0
    kept: list[str] = field(default_factory=list)
    written: list[AcceleratorCreate] = field(default_factory=list)  # added or updated, for the change log


def seed_catalog(session: Session, items: Iterable[AcceleratorCreate], data_version: str, now: datetime) -> SeedResult:
    """Bring the stored catalog up to the shipped entries in ``session`` (the caller holds the
    reference lock and commits). An entry an admin added or imported is kept, never overwritten."""
    result = SeedResult()
    existing = {a.id: a for a in session.exec(select(Accelerator))}
    for item in items:
        document = item.model_dump(mode="json")
        row = existing.get(item.id)
        if row is None:
            session.add(_row(item, data_version, now))
            result.added += 1
            result.written.append(item)
        elif row.document != document:
            if row.data_version in ORIGINS:
                result.kept.append(item.id)
                continue
            _update(row, item, document, data_version)
            session.add(row)
            result.updated += 1
            result.written.append(item)
    return result


def _update(row: Accelerator, item: AcceleratorCreate, document: dict[str, Any], data_version: str) -> None:
    row.document = document
    row.vendor, row.model, row.datacenter = item.vendor, item.model, item.datacenter
    row.data_version = data_version


@dataclass
class WriteReport:
    """What a write did (or, for a dry run, would do), by accelerator id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    changes: list[ReferenceChange] = field(default_factory=list)  # the change-log records written


AcceleratorCheck = Callable[[AcceleratorCreate], Sequence[FieldProblem]]
"""The fail-closed check of one entry against the engine's vocabulary and plausibility ceilings
(``app.regulations.validation.accelerator_check``): the problems, each with its pointer."""


def _check_vocabulary(items: Sequence[AcceleratorCreate], check: AcceleratorCheck, prefix: bool) -> None:
    problems = [
        FieldProblem(pointer=f"/{i}{p.pointer}" if prefix else p.pointer, detail=p.detail)
        for i, item in enumerate(items)
        for p in check(item)
    ]
    if problems:
        raise DomainError("validation_error", problems[0].detail, errors=problems)


def _check_citations(items: Sequence[AcceleratorCreate], pointer: Callable[[int], str]) -> None:
    problems = []
    for i, item in enumerate(items):
        missing = cited_sources(item) - item.sources.keys()
        if missing:
            problems.append(FieldProblem(pointer=pointer(i), detail=f"figures cite unknown sources: {sorted(missing)}"))
    if problems:
        raise DomainError("validation_error", problems[0].detail, errors=problems)


def _check_loads(items: Sequence[AcceleratorCreate], prefix: str | None) -> None:
    """What is stored is read back first as every replica will read it (``load_accelerator``): it
    loads, or nothing is stored (a 422 naming the field)."""
    problems = []
    for i, item in enumerate(items):
        try:
            load_accelerator(stored.as_stored(item), "check")
        except stored.StoredDocumentError as exc:
            where = exc.pointer if prefix is not None else f"/{i}{exc.pointer}"
            problems.append(FieldProblem(pointer=where, detail=str(exc)))
    if problems:
        raise DomainError("validation_error", problems[0].detail, errors=problems)


def write_accelerators(
    engine: Engine,
    items: Sequence[AcceleratorCreate],
    *,
    origin: Literal["admin", "import"],
    replace: bool,
    check: AcceleratorCheck,
    change: ChangeRequest | None,
    dry_run: bool = False,
    progress: Callable[[AcceleratorCreate], None] | None = None,
) -> WriteReport:
    """Blocking. The one path every catalog write takes (admin POST, CSV/YAML import, the CLI).

    All or nothing: every entry is checked (citations, ``check``: the engine's vocabulary and
    plausible figures, and that it loads as replicas will read it), then all are written in one
    transaction that bumps the reference revision and records each added or updated entry in the
    change log (who and why: ``change``), or none is. ``replace`` False refuses an existing id (ids
    are never reused by a create); True updates it. A dry run computes the same report and writes
    nothing (``change`` may then be None).
    """
    if change is None and not dry_run:
        raise DomainError("validation_error", "a catalog write needs a reason (recorded in the change log)", "/reason")
    _check_citations(items, (lambda i: "/sources") if len(items) == 1 else (lambda i: f"/{i}/sources"))
    _check_vocabulary(items, check, prefix=len(items) != 1)
    _check_loads(items, "" if len(items) == 1 else None)
    report = WriteReport()
    now = clock.now()
    with Session(engine, expire_on_commit=False) as session:
        rev = 0 if dry_run else revision.bump(session)  # the reference writers' lock, taken first
        ids = [item.id for item in items]
        existing = {a.id: a for a in session.exec(select(Accelerator).where(col(Accelerator.id).in_(ids)))}
        for item in items:
            document = item.model_dump(mode="json")
            row = existing.get(item.id)
            if row is None:
                session.add(_row(item, origin, now))
                report.added.append(item.id)
            elif not replace:
                raise DomainError("conflict", f"accelerator {item.id} exists", "/id")
            elif row.document == document:
                report.unchanged.append(item.id)
            else:
                _update(row, item, document, origin)
                session.add(row)
                report.updated.append(item.id)
            if progress is not None:
                progress(item)
        if dry_run or not (report.added or report.updated):
            session.rollback()  # nothing to write: the revision stays as it was
            return report
        assert change is not None
        written = set(report.added) | set(report.updated)
        for item in items:
            if item.id in written:
                document = item.model_dump(mode="json")
                record = changelog.record(
                    session, "accelerator", change.actor, change.reason, document, subject=item.id, revision=rev
                )
                report.changes.append(record)
        revision.announce(
            session, rev, "accelerators", [*report.added, *report.updated], origin=origin,
            change_ids=[c.id for c in report.changes], impact=change.impact,
        )  # fmt: skip
        session.commit()
    return report


def load_accelerator(document: dict[str, Any], data_version: str) -> tuple[AcceleratorRead, book.Spec]:
    """A stored catalog document as the snapshot reads it, with its engine spec (the one check the
    write path and the loader share: see app.regulations.stored)."""
    try:
        item = AcceleratorRead.model_validate({**document, "data_version": data_version})
    except ValidationError as exc:
        raise stored.problem(exc) from exc
    try:
        return item, spec_from_record(item)
    except (ArithmeticError, ValueError) as exc:
        raise stored.StoredDocumentError(f"the figures cannot be evaluated: {exc}") from exc


def add_accelerator(engine: Engine, item: AcceleratorCreate, check: AcceleratorCheck, change: ChangeRequest) -> str:
    """Blocking: store a new entry (every figure must cite one of its sources; ids are never reused);
    returns the id of its change-log record."""
    return write_accelerators(engine, [item], origin="admin", replace=False, check=check, change=change).changes[0].id


@dataclass
class ImportReport:
    """The answer to an import: the per-row problems, or what was (or would be) written."""

    dry_run: bool
    committed: bool
    rows: int
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    problems: list[exchange.RowProblem]

    def lines(self) -> list[str]:
        """A readable report, one line per problem, then the counts."""
        out = [p.line() for p in self.problems]
        verb = "would be" if self.dry_run else "were"
        if self.problems:
            out.append(f"{len(self.problems)} problem(s) in {self.rows} row(s): nothing was written")
        else:
            out.append(
                f"{self.rows} row(s) valid: {len(self.added)} {verb} added, {len(self.updated)} {verb} updated, "
                f"{len(self.unchanged)} unchanged"
            )
        return out


def import_catalog(
    engine: Engine,
    parsed: exchange.Parsed,
    *,
    check: AcceleratorCheck,
    change: ChangeRequest | None,
    dry_run: bool,
    progress: Callable[[AcceleratorCreate], None] | None = None,
) -> ImportReport:
    """Blocking. A parsed CSV/YAML file through the one write path: all rows or none."""
    rows = len(parsed.items) + len({p.row for p in parsed.problems})
    if parsed.problems:
        return ImportReport(dry_run, False, rows, [], [], [], parsed.problems)
    if not parsed.items:
        problem = exchange.RowProblem("2", "(row)", "the file holds no accelerators")
        return ImportReport(dry_run, False, 0, [], [], [], [problem])
    try:
        report = write_accelerators(
            engine,
            parsed.items,
            origin="import",
            replace=True,
            check=check,
            change=change,
            dry_run=dry_run,
            progress=progress,
        )
    except DomainError as exc:
        problems = [exchange.RowProblem("(file)", e.pointer, e.detail) for e in exc.errors] or [
            exchange.RowProblem("(file)", exc.pointer or "(row)", exc.detail)
        ]
        return ImportReport(dry_run, False, rows, [], [], [], problems)
    committed = not dry_run and bool(report.added or report.updated)
    return ImportReport(dry_run, committed, rows, report.added, report.updated, report.unchanged, [])


def read_file(raw: bytes, *, media_type: str | None = None, filename: str | None = None) -> exchange.Parsed:
    """A catalog file (CSV, or YAML in the shipped format) parsed and checked row by row; a file that is
    not UTF-8 is one problem naming the byte."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = exchange.RowProblem("(file)", "(encoding)", f"not UTF-8 (byte {exc.start})")
        return exchange.Parsed(problems=[problem])
    return exchange.parse(text, filename=filename, media_type=media_type)


def import_answer(result: ImportReport) -> ImportReportOut:
    """The HTTP answer to an import: the report, or (a real import with problems) a 422 naming each."""
    if result.problems and not result.dry_run:
        errors = [FieldProblem(pointer=f"row:{p.row}/column:{p.column}", detail=p.line()) for p in result.problems]
        raise DomainError("validation_error", result.lines()[-1], errors=errors[:200])
    return ImportReportOut(
        dry_run=result.dry_run,
        committed=result.committed,
        rows=result.rows,
        added=result.added,
        updated=result.updated,
        unchanged=result.unchanged,
        problems=[ImportProblem(row=p.row, column=p.column, reason=p.reason, id=p.id) for p in result.problems],
        report=result.lines(),
    )


def export_csv(
    view: CatalogView, *, q: str | None = None, vendor: str | None = None, datacenter: bool | None = None
) -> str:
    """The matching entries (every page) as CSV, in id order; the same bytes for the same catalog."""
    items = [
        AcceleratorCreate.model_validate(item.model_dump(exclude={"data_version"}))
        for item in matching(view, q=q, vendor=vendor, datacenter=datacenter)
    ]
    return exchange.to_csv(items)


def retire_accelerator(session: Session, accelerator_id: str) -> dict[str, Any] | None:
    """Delete a stored entry in the caller's transaction (``chipclass reference retire``); returns
    what was stored, or None when there is no such entry."""
    row = session.get(Accelerator, accelerator_id)
    if row is None:
        return None
    document = row.model_dump(mode="json")
    session.delete(row)
    return document


# --- the in-memory catalog the hot path reads ----------------------------------------------------


@dataclass(frozen=True)
class CatalogView:
    """Every entry by id (sorted), its spec, and the text a search matches."""

    entries: Mapping[str, AcceleratorRead]
    specs: Mapping[str, book.Spec]
    search_text: Mapping[str, str]


def load_catalog(session: Session, rejected: list[stored.Rejected] | None = None) -> CatalogView:
    """Every stored entry that loads; one that does not is left out and added to ``rejected``."""
    entries: dict[str, AcceleratorRead] = {}
    specs: dict[str, book.Spec] = {}
    text: dict[str, str] = {}
    for row in session.exec(select(Accelerator).order_by(col(Accelerator.id))):
        try:
            item, spec = load_accelerator(row.document, row.data_version)
        except stored.StoredDocumentError as exc:
            if rejected is None:
                raise
            rejected.append(stored.Rejected("accelerator", row.id, str(exc)))
            continue
        entries[item.id] = item
        specs[item.id] = spec
        text[item.id] = " ".join([item.id, item.vendor, item.model, *item.aliases]).lower()
    return CatalogView(MappingProxyType(entries), MappingProxyType(specs), MappingProxyType(text))


def get(view: CatalogView, accelerator_id: str) -> AcceleratorRead:
    item = view.entries.get(accelerator_id)
    if item is None:
        raise DomainError("unknown_accelerator", f"No accelerator {accelerator_id!r} in the catalog")
    return item


def _cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _after(cursor: str | None) -> str:
    """The id a page starts after; a cursor this service did not issue is a 422."""
    if not cursor:
        return ""
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("after:"):
        raise field_error("query:cursor", "not a cursor this service issued")
    return text.removeprefix("after:")


def matching(
    view: CatalogView,
    *,
    q: str | None,
    vendor: str | None,
    datacenter: bool | None,
    after: str = "",
) -> Iterator[AcceleratorRead]:
    """Entries matching every word of ``q`` and the filters, in id order, after the id ``after``."""
    words = (q or "").lower().split()
    for item_id, item in view.entries.items():  # sorted by id
        if item_id <= after:
            continue
        if vendor and item.vendor.lower() != vendor.lower():
            continue
        if datacenter is not None and item.datacenter != datacenter:
            continue
        if words and not all(w in view.search_text[item_id] for w in words):
            continue
        yield item


def search(
    view: CatalogView,
    data_version: str,
    *,
    q: str | None,
    vendor: str | None,
    datacenter: bool | None,
    limit: int,
    cursor: str | None,
) -> AcceleratorPage:
    """One page of entries matching every word of ``q`` and the filters, in id order."""
    items: list[AcceleratorRead] = []
    more = False
    for item in matching(view, q=q, vendor=vendor, datacenter=datacenter, after=_after(cursor)):
        if len(items) == limit:
            more = True
            break
        items.append(item)
    next_cursor = _cursor(items[-1].id) if more else None
    return AcceleratorPage(items=items, next_cursor=next_cursor, data_version=data_version)
