"""Events: appended in the caller's transaction (the outbox), read in order, waited for."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any, Literal, get_args

from sqlalchemy import Table, bindparam, update
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select
from ulid import ULID

from app import clock
from app.db import add_row
from app.events.models import Event, EventHead

__all__ = [
    "EVENT_TYPES",
    "Event",
    "EventType",
    "Signal",
    "add",
    "append",
    "document",
    "find",
    "head_seq",
    "next_for",
    "page",
]

EventType = Literal[
    "screening.created",
    "screening.outcome_changed",
    "screening.closed",
    "reference.changed",
    "webhook.test",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


def append(session: Session, type_: EventType, data: dict[str, Any], subject: str | None = None) -> Event:
    """Add an event to the caller's transaction; it exists exactly when that transaction commits.

    Call it after the caller's own writes and their locks: it takes the ``event_head`` row lock last,
    so lock order is always (the caller's head, then this one) and two writers never deadlock.

    The first event of a transaction takes the lock and the next number (one UPDATE); later events
    of the same transaction number on from there in memory and the head row is written once, just
    before the commit (``_write_head``): a group commit of many screenings made one UPDATE per event,
    and each statement is a wait for the GIL in the writer thread.
    """
    event = Event(**_row(session, type_, data, subject))
    session.add(event)
    return event


def add(session: Session, type_: EventType, data: dict[str, Any], subject: str | None = None) -> int:
    """``append`` for a busy path (every stored screening): the event is a plain row written with the
    transaction's other events in one multi-row INSERT before the commit (``app.db.add_row``), not an
    ORM object. Same numbering, same transaction; not visible to queries before the commit.
    Returns its number."""
    row = _row(session, type_, data, subject)
    add_row(session, EVENT_TABLE, row)
    return int(row["seq"])


EVENT_TABLE: Table = Event.__table__  # type: ignore[attr-defined]
HEAD_TABLE: Table = EventHead.__table__  # type: ignore[attr-defined]
_TAKE_NUMBER = (
    update(HEAD_TABLE)
    .where(HEAD_TABLE.c.id == 1)
    .values(last_seq=HEAD_TABLE.c.last_seq + 1)
    .returning(HEAD_TABLE.c.last_seq)
)
_SET_HEAD = update(HEAD_TABLE).where(HEAD_TABLE.c.id == 1).values(last_seq=bindparam("new_seq"))


def _row(session: Session, type_: EventType, data: dict[str, Any], subject: str | None) -> dict[str, Any]:
    pending: list[int] | None = session.info.get(_HEAD)
    if pending is None:
        # no autoflush: the caller's pending rows are written once, at its commit
        with session.no_autoflush:
            seq = session.connection().execute(_TAKE_NUMBER).scalar_one()
        session.info[_HEAD] = [seq, seq]  # [number taken from the row, last number given]
    else:
        pending[1] += 1
        seq = pending[1]
    return {
        "seq": seq,
        "id": f"msg_{ULID()}",
        "type": type_,
        "created_at": clock.now(),
        "subject": subject,
        "payload": json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str),
    }


_HEAD = "chipclass.event_head"


@sa_event.listens_for(Session, "before_commit")
def _write_head(session: Session) -> None:
    pending = session.info.get(_HEAD)
    if pending is not None and pending[1] != pending[0]:
        with session.no_autoflush:
            session.connection().execute(_SET_HEAD, {"new_seq": pending[1]})
    session.info.pop(_HEAD, None)


@sa_event.listens_for(Session, "after_rollback")
@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_head(session: Session, *_: object) -> None:
    session.info.pop(_HEAD, None)


def page(engine: Engine, after: int, types: Sequence[str], limit: int) -> list[Event]:
    with Session(engine) as session:
        query = select(Event).where(col(Event.seq) > after)
        if types:
            query = query.where(col(Event.type).in_(list(types)))
        return list(session.exec(query.order_by(col(Event.seq)).limit(limit)))


def last_seq(engine: Engine) -> int:
    with Session(engine) as session:
        return head_seq(session)


def head_seq(session: Session) -> int:
    """The number of the last event committed (0 before the first)."""
    head = session.get(EventHead, 1)
    return head.last_seq if head is not None else 0


def find(engine: Engine, event_id: str) -> Event | None:
    with Session(engine) as session:
        return session.exec(select(Event).where(Event.id == event_id)).first()


def next_for(session: Session, after: int, types: Sequence[str], addressee: str) -> Event | None:
    """The first event after ``after`` that a subscriber to ``types`` receives: one of those types,
    or a ``webhook.test`` addressed to it (a test event reaches only the subscription it names)."""
    broadcast = [t for t in types if t != "webhook.test"]
    addressed = (col(Event.type) == "webhook.test") & (col(Event.subject) == addressee)
    query = select(Event).where(col(Event.seq) > after, or_(col(Event.type).in_(broadcast), addressed))
    return session.exec(query.order_by(col(Event.seq)).limit(1)).first()


def document(event: Event) -> dict[str, Any]:
    """An event as published, on the pull API and as the body of every webhook delivery."""
    created = event.created_at if event.created_at.tzinfo else event.created_at.replace(tzinfo=UTC)
    return {
        "id": event.id,
        "seq": event.seq,
        "type": event.type,
        "timestamp": created.isoformat().replace("+00:00", "Z"),
        "subject": event.subject,
        "data": json.loads(event.payload),
    }


def body(event: Event) -> str:
    return json.dumps(document(event), separators=(",", ":"), ensure_ascii=False)


class Signal:
    """Wakes long-polling readers and the webhook dispatcher when this process commits events.

    A broadcast: every waiter holding the current generation wakes. Take ``generation()`` before
    reading the database, then ``wait`` on it, so a commit between the read and the wait is not
    missed. Other replicas' events are found by polling: waiters also wake on their timeout.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def generation(self) -> asyncio.Event:
        return self._event

    def notify(self) -> None:
        """Thread-safe: called after a commit that wrote events."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        fired, self._event = self._event, asyncio.Event()
        fired.set()

    @staticmethod
    async def wait(generation: asyncio.Event, seconds: float) -> None:
        """Until the generation fires or ``seconds`` pass, whichever is first."""
        try:
            async with asyncio.timeout(seconds):
                await generation.wait()
        except TimeoutError:
            return
