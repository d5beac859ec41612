"""Writing reference data: seeding from the shipped files and validated admin changes.

Rulesets are never edited once a decision used them; a change is a new ruleset that
``supersedes`` the old one. Every change bumps ``reference_state.revision`` so replicas reload.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.catalog.models import Accelerator
from app.catalog.schemas import AcceleratorCreate
from app.decisions.models import Decision
from app.decisions.store import canonical
from app.regulations import loader
from app.regulations.models import CountryGroupChange, ReferenceState, Ruleset, RulesetRevision
from app.regulations.schemas import GroupChangeDoc, RulesetDoc

log = logging.getLogger("chipclass.reference")


class ReferenceError(ValueError):
    def __init__(self, code: str, message: str, pointer: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.pointer = pointer


def content_hash(doc: RulesetDoc) -> str:
    return hashlib.sha256(canonical(doc.model_dump(mode="json")).encode()).hexdigest()


def _lock(session: Session) -> int:
    """Serialise reference writers; returns the next revision number."""
    now = datetime.now(UTC)
    row = session.execute(
        update(ReferenceState)
        .where(col(ReferenceState.id) == 1)
        .values(revision=ReferenceState.revision + 1, updated_at=now)
        .returning(col(ReferenceState.revision))
    ).first()
    if row is None:
        raise RuntimeError("reference_state row missing: run `chipclass migrate`")
    return int(row[0])


def _used_by_decision(session: Session, ruleset_id: str) -> bool:
    pattern = f'%"{ruleset_id}"%'
    return session.exec(select(Decision.seq).where(col(Decision.rulesets).like(pattern)).limit(1)).first() is not None


def _validate(files: loader.ReferenceFiles, docs: list[RulesetDoc], changes: list[GroupChangeDoc]) -> None:
    loader.check_references(docs, files.definitions)
    loader.check_overlaps(docs)
    loader.build_book(files, docs, changes, "validation")


@dataclass
class SeedReport:
    rulesets_added: list[str] = field(default_factory=list)
    rulesets_updated: list[str] = field(default_factory=list)
    # shipped corrections to rulesets decisions used: applied, the replaced text kept as a revision
    rulesets_corrected: list[str] = field(default_factory=list)
    group_changes_added: int = 0
    accelerators_added: int = 0
    accelerators_updated: int = 0

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


def seed(engine: Engine, files: loader.ReferenceFiles) -> SeedReport:
    """Bring the database up to the shipped reference data; safe to run any number of times."""
    report = SeedReport()
    now = datetime.now(UTC)
    with Session(engine) as session:
        _lock(session)
        stored = {r.id: r for r in session.exec(select(Ruleset))}
        for doc in files.rulesets:
            digest = content_hash(doc)
            row = stored.get(doc.id)
            if row is None:
                session.add(_ruleset_row(doc, digest, now))
                report.rulesets_added.append(doc.id)
            elif row.content_hash != digest:
                since = row.created_at
                if _used_by_decision(session, doc.id):
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
        existing = {(c.group, c.country, c.action, c.effective) for c in session.exec(select(CountryGroupChange))}
        for change in files.group_changes:
            if (change.group, change.country, change.action, change.effective) not in existing:
                session.add(_change_row(change, now))
                report.group_changes_added += 1
        catalog = {a.id: a for a in session.exec(select(Accelerator))}
        for item in files.accelerators:
            document = item.model_dump(mode="json")
            acc = catalog.get(item.id)
            if acc is None:
                session.add(_accelerator_row(item, files.version, now))
                report.accelerators_added += 1
            elif acc.document != document:
                acc.document = document
                acc.vendor, acc.model, acc.datacenter = item.vendor, item.model, item.datacenter
                acc.data_version = files.version
                session.add(acc)
                report.accelerators_updated += 1
        if not report.changed:
            session.rollback()  # leaves the revision as it was
            return report
        session.flush()
        docs = [RulesetDoc.model_validate(r.document) for r in session.exec(select(Ruleset))]
        changes = [_change_doc(c) for c in session.exec(select(CountryGroupChange))]
        _validate(files, docs, changes)
        session.commit()
    return report


def _ruleset_row(doc: RulesetDoc, digest: str, now: datetime) -> Ruleset:
    return Ruleset(
        id=doc.id,
        family=doc.family,
        effective_from=doc.effective_from,
        effective_to=doc.effective_to,
        enforced=doc.enforced,
        document=doc.model_dump(mode="json"),
        content_hash=digest,
        created_at=now,
    )


def _revision(row: Ruleset, digest: str, version: str, now: datetime) -> RulesetRevision:
    return RulesetRevision(
        ruleset_id=row.id,
        document=row.document,
        content_hash=row.content_hash,
        stored_at=row.created_at,
        replaced_at=now,
        replaced_by_hash=digest,
        replaced_in=version,
    )


def revisions(engine: Engine, ruleset_id: str) -> list[RulesetRevision]:
    """Texts of a ruleset that shipped corrections replaced, oldest first."""
    with Session(engine) as session:
        rows = session.exec(
            select(RulesetRevision)
            .where(col(RulesetRevision.ruleset_id) == ruleset_id)
            .order_by(col(RulesetRevision.id))
        )
        return list(rows)


def _change_row(change: GroupChangeDoc, now: datetime) -> CountryGroupChange:
    return CountryGroupChange(
        group=change.group,
        country=change.country,
        action=change.action,
        effective=change.effective,
        citation=change.citation.model_dump(mode="json"),
        created_at=now,
    )


def _change_doc(c: CountryGroupChange) -> GroupChangeDoc:
    return GroupChangeDoc.model_validate(c.fields())


def _accelerator_row(item: AcceleratorCreate, version: str, now: datetime) -> Accelerator:
    return Accelerator(
        id=item.id,
        vendor=item.vendor,
        model=item.model,
        datacenter=item.datacenter,
        document=item.model_dump(mode="json"),
        data_version=version,
        created_at=now,
    )


def add_ruleset(engine: Engine, files: loader.ReferenceFiles, doc: RulesetDoc) -> None:
    with Session(engine) as session:
        _lock(session)
        if session.get(Ruleset, doc.id) is not None:
            raise ReferenceError("conflict", f"ruleset {doc.id} exists; publish a change as a new id", "/id")
        docs = [RulesetDoc.model_validate(r.document) for r in session.exec(select(Ruleset))]
        changes = [_change_doc(c) for c in session.exec(select(CountryGroupChange))]
        try:
            # what is stored must load again: every replica's snapshot re-reads the stored document
            RulesetDoc.model_validate(doc.model_dump(mode="json"))
            _validate(files, [*docs, doc], changes)
        except loader.OverlapError as exc:
            raise ReferenceError("invalid_ruleset", str(exc), "/effective_from") from exc
        except ValueError as exc:
            raise ReferenceError("invalid_ruleset", str(exc)) from exc
        session.add(_ruleset_row(doc, content_hash(doc), datetime.now(UTC)))
        session.commit()


def add_group_change(engine: Engine, files: loader.ReferenceFiles, change: GroupChangeDoc) -> None:
    if not loader.country_exists(change.country):
        raise ReferenceError("validation_error", f"unknown country {change.country}", "/country")
    if change.group not in files.group_base:
        raise ReferenceError("validation_error", f"unknown group {change.group}", "/group")
    with Session(engine) as session:
        _lock(session)
        changes = [_change_doc(c) for c in session.exec(select(CountryGroupChange))]
        try:
            loader.memberships(files.group_base, files.group_citation, [*changes, change])
        except ValueError as exc:
            raise ReferenceError("validation_error", str(exc), "/action") from exc
        session.add(_change_row(change, datetime.now(UTC)))
        session.commit()


def add_accelerator(engine: Engine, files: loader.ReferenceFiles, item: AcceleratorCreate) -> None:
    missing = loader.cited_sources(item) - item.sources.keys()
    if missing:
        raise ReferenceError("validation_error", f"figures cite unknown sources: {sorted(missing)}", "/sources")
    with Session(engine) as session:
        _lock(session)
        if session.get(Accelerator, item.id) is not None:
            raise ReferenceError("conflict", f"accelerator {item.id} exists", "/id")
        session.add(_accelerator_row(item, "admin", datetime.now(UTC)))
        session.commit()


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
