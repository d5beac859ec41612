"""The reference-data revision: one row that every write to rulesets, Country Group changes or the
catalog bumps, in the same transaction, so that every replica knows to rebuild its snapshot.

Shared by ``app.regulations`` and ``app.catalog`` (both write reference data); owned by neither.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, update
from sqlmodel import Field, Session, SQLModel, col

from app import clock
from app.db import UtcDateTime
from app.events import service as events


class ReferenceState(SQLModel, table=True):
    """One row: bumped on every reference-data change so replicas know to reload."""

    __tablename__ = "reference_state"
    id: int = Field(default=1, primary_key=True)
    revision: int = 0
    updated_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


def bump(session: Session) -> int:
    """Take the reference writers' lock (the row) and move the revision on; returns the new one.

    The first statement of every reference write, so writers are serialised and a validation
    reads what is committed.
    """
    row = session.execute(
        update(ReferenceState)
        .where(col(ReferenceState.id) == 1)
        .values(revision=ReferenceState.revision + 1, updated_at=clock.now())
        .returning(col(ReferenceState.revision))
    ).first()
    if row is None:
        raise RuntimeError("reference_state row missing: run `chipclass migrate`")
    return int(row[0])


def current(session: Session) -> int:
    state = session.get(ReferenceState, 1)
    return state.revision if state else 0


def announce(session: Session, revision: int, kind: str, subjects: list[str], **detail: object) -> None:
    """Add this write's ``reference.changed`` event to its transaction (call it after the writes):
    the event exists exactly when the change does. Open screenings are re-screened for it."""
    events.append(
        session,
        "reference.changed",
        {"revision": revision, "kind": kind, "subjects": subjects, **detail},
        subject=f"revision:{revision}",
    )
