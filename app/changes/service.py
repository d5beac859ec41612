"""The change log of reference data: who changed what, when and why, append-only and hash-chained.

Every path that changes reference data (admin HTTP, the ``chipclass`` CLI, seeding a new shipped
version, catalog import) calls :func:`record` inside its own transaction, after the reference
writer lock and before its commit: the change and its record commit together or not at all.

The log has its own chain, not the decisions' one. Decisions are written on the hot path by a
group-commit writer; a reference change is rare, slow (validation, a snapshot rebuild) and read
by a different audience. Sharing one head would make admin writes queue behind screenings (and
the reverse), and verifying the rules' history would mean walking every screening. The two logs
are still linked: a record holds the reference ``revision`` it produced, and every decision names
that revision in its ``data_version`` (``<version>+r<revision>``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from ulid import ULID

from app import chain
from app.canonical import canonical, sha256
from app.chain import ChainVerification
from app.changes.models import ChangeChain, ReferenceChange
from app.errors import DomainError

ChangeKind = Literal["ruleset", "country_group_change", "accelerator"]
ActorKind = Literal["api_key", "cli", "seed"]
__all__ = ["CLI", "SEED", "Actor", "ChangeKind", "ChangeRequest", "ReferenceChange", "made_between", "record", "verify"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("ruleset", "country_group_change", "accelerator")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: an API key (id and name), the CLI, or the seeding of shipped data."""

    kind: ActorKind
    name: str
    id: str | None = None

    @classmethod
    def api_key(cls, key_id: str, name: str) -> Actor:
        return cls("api_key", name, key_id)


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """Who asks for a change and why; ``retroactive`` acknowledges an effective date before today."""

    actor: Actor
    reason: str
    retroactive: bool = False
    # what the change does, computed before the write (app.impact.service.announcement): carried
    # by the change's reference.changed event
    impact: Mapping[str, Any] | None = None


CLI = Actor("cli", "cli")
SEED = Actor("seed", "seed")


class ChangeLogError(DomainError):
    """A change-log request refused as sent (a DomainError: the API renders it as a 422)."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__("validation_error", message, pointer)


def record_hash(c: ReferenceChange) -> str:
    """Hash over every field of the record and the previous record's hash."""
    content = {
        "seq": c.seq,
        "id": c.id,
        "kind": c.kind,
        "subject": c.subject,
        "effective": c.effective.isoformat() if c.effective else None,
        "retroactive": c.retroactive,
        "actor_kind": c.actor_kind,
        "actor_id": c.actor_id,
        "actor_name": c.actor_name,
        "reason": c.reason,
        "document": c.document,
        "revision": c.revision,
        "created_at": _utc(c.created_at).isoformat(),
        "prev_hash": c.prev_hash,
    }
    return sha256(canonical(content))


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def record(
    session: Session,
    kind: ChangeKind,
    actor: Actor,
    reason: str,
    document: Mapping[str, Any],
    *,
    subject: str,
    effective: date | None = None,
    retroactive: bool = False,
    revision: int | None = None,
) -> ReferenceChange:
    """Append one change record in the caller's transaction (the caller commits).

    ``reason`` is required: a change nobody can explain is refused before anything is written.
    """
    if not reason.strip():
        raise ChangeLogError("/reason", "a change needs a reason (who asked for it, which rule or notice)")
    seq, prev = session.execute(
        update(ChangeChain)
        .where(col(ChangeChain.id) == 1)
        .values(last_seq=ChangeChain.last_seq)
        .returning(col(ChangeChain.last_seq), col(ChangeChain.last_hash))
    ).one()
    change = ReferenceChange(
        seq=seq + 1,
        id=str(ULID()),
        kind=kind,
        subject=subject,
        effective=effective,
        retroactive=retroactive,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        reason=reason.strip(),
        document=canonical(dict(document)),
        revision=revision,
        created_at=datetime.now(UTC),
        prev_hash=prev,
        hash="",
    )
    change.hash = record_hash(change)
    session.add(change)
    session.execute(
        update(ChangeChain).where(col(ChangeChain.id) == 1).values(last_seq=change.seq, last_hash=change.hash)
    )
    return change


def get(engine: Engine, change_id: str) -> ReferenceChange | None:
    with Session(engine) as session:
        return session.exec(select(ReferenceChange).where(ReferenceChange.id == change_id)).first()


def made_between(session: Session, after_revision: int, upto_revision: int) -> list[str]:
    """Ids of the changes that produced reference revisions in (after, upto], oldest first: what a
    re-screening from one revision to the other was caused by."""
    query = (
        select(ReferenceChange.id)
        .where(col(ReferenceChange.revision) > after_revision, col(ReferenceChange.revision) <= upto_revision)
        .order_by(col(ReferenceChange.seq))
    )
    return list(session.exec(query))


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"before:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The seq a page starts before; raises ChangeLogError for a cursor this service did not issue."""
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
        if text.startswith("before:"):
            return int(text.removeprefix("before:"))
    except (ValueError, UnicodeDecodeError):
        pass
    raise ChangeLogError("query:cursor", "not a cursor this service issued")


def page(
    engine: Engine,
    *,
    limit: int,
    before_seq: int | None = None,
    kind: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> tuple[list[ReferenceChange], int | None]:
    """Newest first; ``since``/``until`` bound the recording date (UTC, inclusive).

    Returns the page and the seq the next page starts before (None on the last page).
    """
    query = select(ReferenceChange)
    if before_seq is not None:
        query = query.where(col(ReferenceChange.seq) < before_seq)
    if kind is not None:
        query = query.where(col(ReferenceChange.kind) == kind)
    if since is not None:
        query = query.where(col(ReferenceChange.created_at) >= datetime(since.year, since.month, since.day, tzinfo=UTC))
    if until is not None:
        end = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
        query = query.where(col(ReferenceChange.created_at) < end)
    with Session(engine) as session:
        rows = list(session.exec(query.order_by(col(ReferenceChange.seq).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)


def verify(engine: Engine, batch: int = 1000) -> ChainVerification:
    """The change log's chain walked and checked (``app.chain.verify``)."""
    return chain.verify(engine, ReferenceChange, ChangeChain, record_hash, batch)
