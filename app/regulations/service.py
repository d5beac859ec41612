"""Reference data of the regulations: rulesets and Country Group changes.

Writing: seeding from the shipped files and validated admin changes. Rulesets are never edited
once a decision used them; a change is a new ruleset that ``supersedes`` the old one. Every
change bumps the reference revision (``app.revision``) so replicas reload.

Reading: rulesets, changes and countries as the current snapshot has them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app import clock, revision
from app.canonical import canonical, sha256
from app.catalog.service import seed_catalog
from app.changes import service as changelog
from app.changes.service import ChangeRequest
from app.decisions.service import ruleset_used
from app.errors import DomainError
from app.regulations import loader, validation
from app.regulations.loader import COUNTRY_NAMES, ReferenceFiles, build_book
from app.regulations.models import CountryGroupChange, RulesetRevision, StoredRuleset
from app.regulations.schemas import (
    CitationDoc,
    Country,
    CountryDetail,
    CountryList,
    GroupChangeDoc,
    GroupChangeList,
    Membership,
    RulesetDoc,
    RulesetList,
    RulesetRead,
    RulesetRevisionList,
    RulesetRevisionRead,
    RulesetSummary,
)
from app.regulations.snapshot import Snapshot
from app.regulations.validation import (
    DocumentRejected,
    accelerator_check,
    check_accelerator,
    check_group_change,
    check_ruleset,
    reference_vocabulary,
)
from app.vocabulary import in_force

log = logging.getLogger("chipclass.reference")


def content_hash(doc: RulesetDoc) -> str:
    return sha256(canonical(doc.model_dump(mode="json")))


def _validate(files: loader.ReferenceFiles, docs: list[RulesetDoc], changes: list[GroupChangeDoc]) -> None:
    loader.check_references(docs, files.definitions)
    loader.check_overlaps(docs)
    loader.build_book(files, docs, changes, "validation")


def _stored(session: Session) -> tuple[list[RulesetDoc], list[GroupChangeDoc]]:
    docs = [RulesetDoc.model_validate(r.document) for r in session.exec(select(StoredRuleset))]
    changes = [GroupChangeDoc.model_validate(c.fields()) for c in session.exec(select(CountryGroupChange))]
    return docs, changes


@dataclass
class SeedReport:
    rulesets_added: list[str] = field(default_factory=list)
    rulesets_updated: list[str] = field(default_factory=list)
    # shipped corrections to rulesets decisions used: applied, the replaced text kept as a revision
    rulesets_corrected: list[str] = field(default_factory=list)
    group_changes_added: int = 0
    accelerators_added: int = 0
    accelerators_updated: int = 0
    accelerators_kept: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.rulesets_added
            or self.rulesets_updated
            or self.rulesets_corrected
            or self.group_changes_added
            or self.accelerators_added
            or self.accelerators_updated
        )


def check_shipped(files: loader.ReferenceFiles, today: date) -> None:
    """Shipped documents pass the same checks as posted ones (retroactive by nature: they are
    the published history)."""
    vocab = validation.reference_vocabulary(files)
    problems: list[validation.Problem] = []
    for i, doc in enumerate(files.rulesets):
        found = validation.check_ruleset(doc, vocab, files.rulesets, today)
        problems += [validation.Problem(f"/rulesets/{i}{p.pointer}", p.detail) for p in found]
    for i, change in enumerate(files.group_changes):
        others = [c for c in files.group_changes if c is not change]
        found = validation.check_group_change(change, vocab, files, others, today)
        problems += [validation.Problem(f"/group_changes/{i}{p.pointer}", p.detail) for p in found]
    for i, item in enumerate(files.accelerators):
        found = validation.check_accelerator(item, vocab)
        problems += [validation.Problem(f"/accelerators/{i}{p.pointer}", p.detail) for p in found]
    if problems:
        raise validation.DocumentRejected("validation_error", problems)


def seed(engine: Engine, files: loader.ReferenceFiles) -> SeedReport:
    """Bring the database up to the shipped reference data; safe to run any number of times.

    Each ruleset, Country Group change and catalog entry added or updated is recorded in the change
    log (actor ``seed``, the shipped version as the reason) in the same transaction.
    """
    report = SeedReport()
    now = clock.now()
    check_shipped(files, now.date())
    reason = f"shipped reference data {files.version}"
    with Session(engine) as session:
        rev = revision.bump(session)

        recorded: list[str] = []

        def note(kind: changelog.ChangeKind, subject: str, document: dict[str, object], effective: date | None) -> None:
            retro = effective is not None and effective < now.date()
            record = changelog.record(
                session, kind, changelog.SEED, reason, document,
                subject=subject, effective=effective, retroactive=retro, revision=rev,
            )  # fmt: skip
            recorded.append(record.id)

        stored = {r.id: r for r in session.exec(select(StoredRuleset))}
        for doc in files.rulesets:
            digest = content_hash(doc)
            row = stored.get(doc.id)
            if row is None:
                session.add(_ruleset_row(doc, digest, now))
                report.rulesets_added.append(doc.id)
                note("ruleset", doc.id, doc.model_dump(mode="json"), doc.effective_from)
            elif row.content_hash != digest:
                since = row.created_at
                if ruleset_used(session, doc.id):
                    # a correction in a new release: wrong rules must not keep answering, and the
                    # text earlier decisions were answered on stays readable as a revision
                    session.add(_revision(row, digest, files.version, now))
                    since = now
                    log.warning(
                        "shipped ruleset %s corrects the stored one, which decisions used: applied; "
                        "the replaced text is kept as a ruleset revision",
                        doc.id,
                    )
                    report.rulesets_corrected.append(doc.id)
                else:
                    report.rulesets_updated.append(doc.id)
                for key, value in _ruleset_row(doc, digest, since).model_dump().items():
                    setattr(row, key, value)
                session.add(row)
                note("ruleset", doc.id, doc.model_dump(mode="json"), doc.effective_from)
        existing = {(c.group, c.country, c.action, c.effective) for c in session.exec(select(CountryGroupChange))}
        for change in files.group_changes:
            if (change.group, change.country, change.action, change.effective) not in existing:
                session.add(_change_row(change, now))
                report.group_changes_added += 1
                subject = group_change_subject(change)
                note("country_group_change", subject, change.model_dump(mode="json"), change.effective)
        catalog = seed_catalog(session, files.accelerators, files.version, now)
        report.accelerators_added, report.accelerators_updated = catalog.added, catalog.updated
        report.accelerators_kept = catalog.kept
        for item in catalog.written:
            note("accelerator", item.id, item.model_dump(mode="json"), None)
        for item_id in catalog.kept:
            log.warning("shipped accelerator %s differs from the one an admin wrote or imported: kept", item_id)
        if not report.changed:
            session.rollback()  # leaves the revision as it was
            return report
        session.flush()
        _validate(files, *_stored(session))
        revision.announce(
            session,
            rev,
            "shipped_data",
            [*report.rulesets_added, *report.rulesets_updated, *report.rulesets_corrected],
            data_version=files.version,
            change_ids=recorded,
            impact=None,  # a release's effect by date: GET /v1/impact?from=&to=
            group_changes_added=report.group_changes_added,
            accelerators_added=report.accelerators_added,
            accelerators_updated=report.accelerators_updated,
        )  # fmt: skip
        session.commit()
    return report


def _ruleset_row(doc: RulesetDoc, digest: str, now: datetime) -> StoredRuleset:
    return StoredRuleset(
        id=doc.id,
        family=doc.family,
        effective_from=doc.effective_from,
        effective_to=doc.effective_to,
        enforced=doc.enforced,
        document=doc.model_dump(mode="json"),
        content_hash=digest,
        created_at=now,
    )


def _revision(row: StoredRuleset, digest: str, version: str, now: datetime) -> RulesetRevision:
    return RulesetRevision(
        ruleset_id=row.id,
        document=row.document,
        content_hash=row.content_hash,
        stored_at=row.created_at,
        replaced_at=now,
        replaced_by_hash=digest,
        replaced_in=version,
    )


def list_revisions(engine: Engine, snap: Snapshot, ruleset_id: str) -> RulesetRevisionList:
    """Blocking: texts of a ruleset that shipped corrections replaced, oldest first."""
    if ruleset_id not in snap.rulesets:
        raise DomainError("unknown_ruleset", f"No ruleset {ruleset_id!r}")
    with Session(engine) as session:
        rows = session.exec(
            select(RulesetRevision)
            .where(col(RulesetRevision.ruleset_id) == ruleset_id)
            .order_by(col(RulesetRevision.id))
        )
        return RulesetRevisionList(
            items=[
                RulesetRevisionRead(
                    ruleset_id=r.ruleset_id,
                    document=r.document,
                    content_hash=r.content_hash,
                    stored_at=r.stored_at,
                    replaced_at=r.replaced_at,
                    replaced_in=r.replaced_in,
                )
                for r in rows
            ]
        )


def _change_row(change: GroupChangeDoc, now: datetime) -> CountryGroupChange:
    return CountryGroupChange(
        group=change.group,
        country=change.country,
        action=change.action,
        effective=change.effective,
        citation=change.citation.model_dump(mode="json"),
        created_at=now,
    )


__all__ = [
    "COUNTRY_NAMES",
    "DocumentRejected",
    "ReferenceFiles",
    "accelerator_check",
    "build_book",
    "check_accelerator",
    "check_group_change",
    "check_ruleset",
    "reference_vocabulary",
]


def group_change_subject(change: GroupChangeDoc) -> str:
    return f"{change.group} {change.country} {change.action} {change.effective.isoformat()}"


def _reject(code: str, problems: list[validation.Problem]) -> None:
    if problems:
        raise validation.DocumentRejected(code, problems)


def _check_ruleset(
    session: Session, files: loader.ReferenceFiles, doc: RulesetDoc, retroactive: bool, today: date
) -> None:
    """Raise what refuses the ruleset (409 an existing id, 422 invalid) against the stored data."""
    vocab = validation.reference_vocabulary(files)
    if session.get(StoredRuleset, doc.id) is not None:
        raise DomainError("conflict", f"ruleset {doc.id} exists; publish a change as a new id", "/id")
    docs, changes = _stored(session)
    _reject("invalid_ruleset", validation.check_ruleset(doc, vocab, docs, today, retroactive=retroactive))
    try:
        # what is stored must load again: every replica's snapshot re-reads the stored document
        loader.ruleset_document(doc)
        _validate(files, [*docs, doc], changes)
    except ValueError as exc:
        raise DomainError("invalid_ruleset", str(exc), "/") from exc


def _check_group_change(
    session: Session, files: loader.ReferenceFiles, change: GroupChangeDoc, retroactive: bool, today: date
) -> None:
    vocab = validation.reference_vocabulary(files)
    _docs, changes = _stored(session)
    problems = validation.check_group_change(change, vocab, files, changes, today, retroactive=retroactive)
    _reject("validation_error", problems)


def precheck_ruleset(
    engine: Engine, files: loader.ReferenceFiles, doc: RulesetDoc, retroactive: bool, today: date
) -> None:
    """Blocking, read-only: the checks ``add_ruleset`` makes, so that a write it would refuse is
    answered before the change's impact is computed (``add_ruleset`` checks again when it writes)."""
    with Session(engine) as session:
        _check_ruleset(session, files, doc, retroactive, today)


def precheck_group_change(
    engine: Engine, files: loader.ReferenceFiles, change: GroupChangeDoc, retroactive: bool, today: date
) -> None:
    """Blocking, read-only: the checks ``add_group_change`` makes (see ``precheck_ruleset``)."""
    with Session(engine) as session:
        _check_group_change(session, files, change, retroactive, today)


def add_ruleset(
    engine: Engine, files: loader.ReferenceFiles, doc: RulesetDoc, request: ChangeRequest, today: date
) -> changelog.ReferenceChange:
    """Blocking: validate (fail closed), store and record a new ruleset in one transaction."""
    with Session(engine, expire_on_commit=False) as session:
        rev = revision.bump(session)
        _check_ruleset(session, files, doc, request.retroactive, today)
        session.add(_ruleset_row(doc, content_hash(doc), clock.now()))
        change = changelog.record(
            session, "ruleset", request.actor, request.reason, doc.model_dump(mode="json"),
            subject=doc.id, effective=doc.effective_from, retroactive=doc.effective_from < today, revision=rev,
        )  # fmt: skip
        revision.announce(
            session, rev, "ruleset", [doc.id], change_ids=[change.id], impact=request.impact,
            effective_from=doc.effective_from.isoformat(),
        )  # fmt: skip
        session.commit()
        return change


def add_group_change(
    engine: Engine, files: loader.ReferenceFiles, change: GroupChangeDoc, request: ChangeRequest, today: date
) -> changelog.ReferenceChange:
    """Blocking: record a dated Country Group change that keeps every membership consistent."""
    with Session(engine, expire_on_commit=False) as session:
        rev = revision.bump(session)
        _check_group_change(session, files, change, request.retroactive, today)
        session.add(_change_row(change, clock.now()))
        record = changelog.record(
            session, "country_group_change", request.actor, request.reason, change.model_dump(mode="json"),
            subject=group_change_subject(change), effective=change.effective,
            retroactive=change.effective < today, revision=rev,
        )  # fmt: skip
        subject = f"{change.group}:{change.country}:{change.action}"
        revision.announce(
            session, rev, "country_group_change", [subject], change_ids=[record.id], impact=request.impact,
            effective=change.effective.isoformat(),
        )  # fmt: skip
        session.commit()
        return record


# --- reading the current snapshot ---------------------------------------------------------------


def list_rulesets(snap: Snapshot, today: date) -> RulesetList:
    """Every ruleset, enforced or not, oldest first, with its derived end and whether it is in force."""
    docs = list(snap.rulesets.values())
    ranges = loader.effective_ranges(docs)
    items = []
    for d in docs:
        start, end, by = ranges[d.id]
        items.append(
            RulesetSummary(
                id=d.id,
                family=d.family,
                title=d.title,
                effective_from=start,
                effective_to=end,
                superseded_by=by,
                enforced=d.enforced,
                source_kind=d.source_kind,
                in_force_today=d.enforced and in_force(start, end, today),
            )
        )
    return RulesetList(items=items, data_version=snap.data_version)


def get_ruleset(snap: Snapshot, ruleset_id: str) -> RulesetRead:
    doc = snap.rulesets.get(ruleset_id)
    if doc is None:
        raise DomainError("unknown_ruleset", f"No ruleset {ruleset_id!r}")
    _start, end, by = loader.effective_ranges(list(snap.rulesets.values()))[doc.id]
    return RulesetRead(**doc.model_dump(), effective_to_derived=end, superseded_by=by)


def list_group_changes(snap: Snapshot) -> GroupChangeList:
    return GroupChangeList(items=list(snap.group_changes), data_version=snap.data_version)


def _country(snap: Snapshot, code: str, on: date) -> Country:
    book = snap.book
    target, alias = book.resolve_country(code, on)
    return Country(
        code=code,
        name=book.country_names[code],
        treated_as=target if alias else None,
        groups=sorted(book.groups_of(target, on)),
    )


def list_countries(snap: Snapshot, on: date, group: str | None) -> CountryList:
    items = [_country(snap, code, on) for code in sorted(snap.book.country_names)]
    if group:
        items = [c for c in items if group in c.groups]
    return CountryList(as_of=on, items=items, data_version=snap.data_version)


def get_country(snap: Snapshot, code: str, on: date) -> CountryDetail:
    code = code.upper()
    if code not in snap.book.country_names:
        raise DomainError("unknown_country", f"{code!r} is not an ISO 3166-1 alpha-2 code")
    base = _country(snap, code, on)
    target = base.treated_as or code
    memberships = [
        Membership(
            group=m.group,
            effective_from=m.effective_from,
            effective_to=m.effective_to,
            citation=CitationDoc(
                source=m.citation.source,
                source_kind=m.citation.source_kind,
                url=m.citation.url,
                document=m.citation.document,
                note=m.citation.note,
            ),
        )
        for m in snap.book.memberships
        if m.country == target
    ]
    return CountryDetail(**base.model_dump(), as_of=on, memberships=memberships)
