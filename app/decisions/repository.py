"""The append-only, hash-chained decision log: its queries and the group-commit writer.

Every writer first bumps the single ``decision_chain`` row: on PostgreSQL that row lock, and on
SQLite the database write lock it takes, serialise writers, so the chain never forks. Nothing
here updates or deletes a decision.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, col, select

from app import chain, clock
from app.canonical import canonical, canonical_plain, sha256
from app.chain import ChainVerification
from app.db import flush_rows, insert_rows
from app.decisions.models import Decision, DecisionChain, DecisionRuleset, IdempotencyRecord
from app.errors import DomainError

log = logging.getLogger("chipclass.decisions")
DECISION_TABLE: Table = Decision.__table__  # type: ignore[attr-defined]
IDEMPOTENCY_TABLE: Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
LINK_TABLE: Table = DecisionRuleset.__table__  # type: ignore[attr-defined]
CHAIN_TABLE: Table = DecisionChain.__table__  # type: ignore[attr-defined]
# the writer's statements, built once (building one costs about as much as executing it)
_TAKE_HEAD = (
    update(CHAIN_TABLE)
    .where(CHAIN_TABLE.c.id == 1)
    .values(last_seq=CHAIN_TABLE.c.last_seq)
    .returning(CHAIN_TABLE.c.last_seq, CHAIN_TABLE.c.last_hash)
)
_SET_HEAD = (
    update(CHAIN_TABLE)
    .where(CHAIN_TABLE.c.id == 1)
    .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))
)


HASHED = (
    "seq",
    "id",
    "kind",
    "created_at",
    "api_key_id",
    "request_id",
    "idempotency_key",
    "request_hash",
    "request",
    "response",
    "rulesets",
    "data_version",
    "prev_hash",
)


def record_hash(d: Decision) -> str:
    """Hash over every field of the record and the previous record's hash."""
    return row_hash({name: getattr(d, name) for name in HASHED})


def row_hash(row: Mapping[str, Any]) -> str:
    """``record_hash`` of a record given as its column values."""
    content = {name: row[name] for name in HASHED}
    content["created_at"] = _utc(row["created_at"]).isoformat()
    return sha256(canonical_plain(content))


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@dataclass(frozen=True)
class Draft:
    id: str
    kind: str
    api_key_id: str | None
    request_id: str
    idempotency_key: str | None
    request: str
    response: str
    rulesets: list[str]
    data_version: str
    # writes that belong to this decision (its screening version, monitor, events): run in the
    # transaction that stores it, after it, and only when it is stored (never for a replay)
    effects: tuple[Callable[[Session], None], ...] = ()

    @cached_property
    def request_hash(self) -> str:
        return sha256(self.request)


@dataclass(frozen=True)
class Stored:
    decision_id: str
    response: str
    replayed: bool


class IdempotencyConflict(DomainError):
    """An Idempotency-Key already used by the same API key for a different request: a 422 for that
    caller only."""

    def __init__(self, key: str | None, decision_id: str) -> None:
        super().__init__(
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} was used for a different request (decision {decision_id})",
        )
        self.decision_id = decision_id


def append(engine: Engine, draft: Draft, idempotency_ttl: timedelta) -> Stored:
    """Commit one decision (or find the one its idempotency key already made)."""
    result = append_many(engine, [draft], idempotency_ttl)[0]
    if isinstance(result, IdempotencyConflict):
        raise result
    return result


def append_many(
    engine: Engine, drafts: Sequence[Draft], idempotency_ttl: timedelta
) -> list[Stored | IdempotencyConflict]:
    """Commit decisions in order in one transaction (one fsync), each linked to the one before.

    A draft whose idempotency key was already used gets the earlier decision back (replayed)
    or an IdempotencyConflict; the others are stored. All or none of the new records commit.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            results = append_in(session, drafts, idempotency_ttl)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return results


def append_in(
    session: Session, drafts: Sequence[Draft], idempotency_ttl: timedelta
) -> list[Stored | IdempotencyConflict]:
    """``append_many`` inside the caller's transaction (the caller commits); each stored draft's
    ``effects`` run after the records are inserted, in the same transaction."""
    results: list[Stored | IdempotencyConflict] = []
    stored: list[Draft] = []
    # the first statement takes the chain-head lock: the row lock on PostgreSQL, the
    # database write lock on SQLite (a write before any read: no stale snapshot)
    # Core statements on the session's connection throughout: the ORM's bulk and compile layers cost
    # more CPU than the statements themselves here
    connection = session.connection()
    seq, prev = connection.execute(_TAKE_HEAD).one()
    batch_keys: dict[tuple[str, str], Draft] = {}
    decisions: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for draft in drafts:
        keyed = draft.idempotency_key is not None and draft.api_key_id is not None
        key = (draft.api_key_id or "", draft.idempotency_key or "")
        if keyed:
            earlier = batch_keys.get(key)
            if earlier is not None:
                same = earlier.request_hash == draft.request_hash
                results.append(
                    Stored(earlier.id, earlier.response, True)
                    if same
                    else IdempotencyConflict(draft.idempotency_key, earlier.id)
                )
                continue
            try:
                found = _replay(session, draft, idempotency_ttl)
            except IdempotencyConflict as exc:
                results.append(exc)
                continue
            if found is not None:
                results.append(found)
                continue
        seq += 1
        row = {
            "seq": seq,
            "id": draft.id,
            "kind": draft.kind,
            "created_at": clock.now(),
            "api_key_id": draft.api_key_id,
            "request_id": draft.request_id,
            "idempotency_key": draft.idempotency_key,
            "request_hash": draft.request_hash,
            "request": draft.request,
            "response": draft.response,
            "rulesets": canonical(draft.rulesets),
            "data_version": draft.data_version,
            "prev_hash": prev,
        }
        row["hash"] = prev = row_hash(row)
        decisions.append(row)
        links.extend({"decision_seq": seq, "ruleset_id": r} for r in dict.fromkeys(draft.rulesets))
        if keyed:
            batch_keys[key] = draft
            keys.append(
                {
                    "api_key_id": key[0],
                    "key": key[1],
                    "request_hash": draft.request_hash,
                    "decision_id": draft.id,
                    "created_at": row["created_at"],
                }
            )
        results.append(Stored(draft.id, draft.response, False))
        stored.append(draft)
    # plain INSERTs, many rows per statement: the ORM's unit of work cost more CPU than the
    # statements themselves, CPU the writer thread takes from the event loop (one GIL)
    if decisions:
        insert_rows(connection, DECISION_TABLE, decisions)
    if keys:
        insert_rows(connection, IDEMPOTENCY_TABLE, keys)
    if links:
        insert_rows(connection, LINK_TABLE, links)
    connection.execute(_SET_HEAD, {"new_seq": seq, "new_hash": prev})
    for draft in stored:
        for effect in draft.effects:
            effect(session)
    # the rows the effects queued (screening versions, events: app.db.add_row), one INSERT per table
    flush_rows(session)
    return results


# errors that say the database cannot take writes now: the whole group fails (503, Retry-After) and
# retrying each item alone would only multiply the wait (a lock or a dead server does not clear per item)
UNAVAILABLE: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, PoolTimeout, DisconnectionError)


def append_group(engine: Engine, drafts: Sequence[Draft], idempotency_ttl: timedelta) -> list[Stored | BaseException]:
    """Commit a group in one transaction; if it fails for anything but an unavailable database, commit
    each draft on its own, so a failing item (a bug one request trips, a constraint) fails only itself.

    Each result is the draft's Stored, or the exception that draft alone gets (IdempotencyConflict
    for a reused key with another body).
    """
    try:
        return list(append_many(engine, drafts, idempotency_ttl))
    except UNAVAILABLE as exc:
        return [exc] * len(drafts)
    except Exception as exc:
        if len(drafts) == 1:
            return [exc]
        log.warning("a group of %d decisions failed (%s); committing each alone", len(drafts), type(exc).__name__)
    results: list[Stored | BaseException] = []
    for draft in drafts:
        try:
            results.append(append_many(engine, [draft], idempotency_ttl)[0])
        except Exception as exc:
            results.append(exc)
    return results


class DecisionWriter:
    """Group commit: one thread writes decisions, many per transaction.

    Concurrent screenings share one transaction and one fsync instead of queueing on the
    chain-head lock one commit at a time. Each caller's future resolves only after the
    transaction holding its decision has committed (or fails with the database's error).

    A caller on an event loop (``wait``) is answered by one call into its loop per group, not one
    thread-safe wake-up per decision: each wake-up is a system call and a GIL hand-over.
    """

    def __init__(
        self,
        engine: Engine,
        idempotency_ttl: timedelta,
        max_batch: int = 128,
        on_commit: Callable[[], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_commit = on_commit
        self.on_batch = on_batch  # told the size of each group written (a metric)
        self._pending = 0  # submitted and not yet answered
        self._pending_lock = threading.Lock()
        self.ttl = idempotency_ttl
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Draft, Waiter] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="decision-writer", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, draft: Draft) -> Future[Stored]:
        """Queue a decision; the future resolves once it is committed (for callers off an event loop)."""
        future: Future[Stored] = Future()
        self._enqueue(draft, future)
        future.add_done_callback(lambda _: self._answered(1))
        return future

    async def wait(self, draft: Draft) -> Stored:
        """Queue a decision and wait, on the running event loop, until it is committed."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Stored] = loop.create_future()
        self._enqueue(draft, (loop, waiter))
        return await waiter

    def _enqueue(self, draft: Draft, waiter: Waiter) -> None:
        if self._closed:
            raise RuntimeError("decision writer is closed")
        with self._pending_lock:
            self._pending += 1
        self._queue.put((draft, waiter))

    @property
    def pending(self) -> int:
        """Decisions submitted whose callers are still waiting (queued or being written)."""
        return self._pending

    def _answered(self, n: int) -> None:
        with self._pending_lock:
            self._pending -= n

    def close(self, timeout: float = 30.0) -> None:
        """Write what was submitted, then stop."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        while True:  # anything that raced past the closing: fail it, never leave a caller hanging
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._answer([(item[1], RuntimeError("decision writer is closed"))])

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            self._write(batch)

    def _write(self, batch: list[tuple[Draft, Waiter]]) -> None:
        try:
            if self.on_batch is not None:
                self.on_batch(len(batch))
            results = append_group(self.engine, [draft for draft, _ in batch], self.ttl)
        except BaseException as exc:  # never leave a caller waiting, whatever happened
            results = [exc] * len(batch)
        if self.on_commit is not None and any(not isinstance(r, BaseException) for r in results):
            self.on_commit()
        self._answer([(waiter, result) for (_, waiter), result in zip(batch, results, strict=True)])

    def _answer(self, answers: list[tuple[Waiter, Stored | BaseException]]) -> None:
        """Resolve each caller's waiter: futures here, loop waiters by one call into each loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Stored], Stored | BaseException]]] = {}
        for waiter, result in answers:
            if isinstance(waiter, Future):
                _resolve(waiter, result)
            else:
                by_loop.setdefault(waiter[0], []).append((waiter[1], result))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(self._settle, settled)
            except RuntimeError:  # the loop has closed: nobody is waiting there any more
                self._answered(len(settled))

    def _settle(self, settled: list[tuple[asyncio.Future[Stored], Stored | BaseException]]) -> None:
        """On the callers' loop: hand each waiting request its result (a cancelled one is past caring)."""
        for waiter, result in settled:
            if not waiter.done():
                _resolve(waiter, result)
        self._answered(len(settled))


def _resolve(future: Future[Stored] | asyncio.Future[Stored], result: Stored | BaseException) -> None:
    """A caller's future gets its decision or the error it alone gets."""
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


Waiter = Future[Stored] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[Stored]"]
"""Who waits for a decision: a thread's future, or a future on an event loop (with that loop)."""


def _replay(session: Session, draft: Draft, ttl: timedelta) -> Stored | None:
    cutoff = clock.now() - ttl
    session.execute(
        delete(IdempotencyRecord)
        .where(
            col(IdempotencyRecord.api_key_id) == draft.api_key_id,
            col(IdempotencyRecord.key) == draft.idempotency_key,
            col(IdempotencyRecord.created_at) < cutoff,
        )
        # the database decides what expired; never re-evaluate the criteria on loaded objects in Python
        .execution_options(synchronize_session=False)
    )
    record = session.exec(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == draft.api_key_id, IdempotencyRecord.key == draft.idempotency_key
        )
    ).first()
    if record is None:
        return None
    if record.request_hash != draft.request_hash:
        raise IdempotencyConflict(draft.idempotency_key, record.decision_id)
    stored = session.exec(select(Decision).where(Decision.id == record.decision_id)).one()
    return Stored(stored.id, stored.response, True)


def ruleset_used(session: Session, ruleset_id: str) -> bool:
    query = select(DecisionRuleset.decision_seq).where(DecisionRuleset.ruleset_id == ruleset_id).limit(1)
    return session.exec(query).first() is not None


def responses(session: Session, decision_ids: Sequence[str]) -> dict[str, str]:
    """The stored response (JSON text) of each decision id given that exists."""
    query = select(Decision.id, Decision.response).where(col(Decision.id).in_(list(decision_ids)))
    return {decision_id: response for decision_id, response in session.exec(query)}


def request_of(session: Session, decision_id: str) -> str:
    """The stored request (canonical JSON text) of a decision that exists."""
    return session.exec(select(Decision.request).where(Decision.id == decision_id)).one()


def get(engine: Engine, decision_id: str) -> Decision | None:
    with Session(engine) as session:
        return session.exec(select(Decision).where(Decision.id == decision_id)).first()


def page(engine: Engine, after_seq: int, limit: int) -> list[Decision]:
    with Session(engine) as session:
        query = select(Decision).where(col(Decision.seq) > after_seq).order_by(col(Decision.seq)).limit(limit)
        return list(session.exec(query))


def verify(engine: Engine, batch: int = 1000) -> ChainVerification:
    """The decision log's chain walked and checked (``app.chain.verify``)."""
    return chain.verify(engine, Decision, DecisionChain, record_hash, batch)
