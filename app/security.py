"""API keys: stored only as SHA-256 hashes, scoped, revocable; verified through a short cache."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import JSON, Column
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from app.db import UtcDateTime

Scope = Literal["read", "screen", "admin", "audit"]
SCOPES: tuple[Scope, ...] = ("read", "screen", "admin", "audit")
PREFIX = "cc"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    key_hash: str = Field(max_length=64)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id(raw: str) -> str | None:
    """The id part of ``cc_<id>_<secret>``; None for a key in another format."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or len(parts[2]) < 16:
        return None
    return parts[1]


def create_key(session: Session, name: str, scopes: list[str], raw: str | None = None) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the raw key (shown once, never stored)."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}")
    if raw is None:
        given_id = secrets.token_hex(6)
        raw = f"{PREFIX}_{given_id}_{secrets.token_urlsafe(32)}"
    else:
        given_id = key_id(raw) or "boot" + secrets.token_hex(4)
    row = ApiKey(
        id=given_id,
        name=name,
        key_hash=_hash(raw),
        scopes=sorted(set(scopes)),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row, raw


class KeyVerifier:
    """Verifies bearer keys; positive and negative results are cached for ``ttl`` seconds.

    A revoked key keeps working on other replicas for at most ``ttl`` seconds.

    ``principal`` (the request path) never lets a busy key's entry lapse: in the second half of its
    lifetime one request starts a re-read in the background and every request meanwhile keeps the
    cached answer. And concurrent misses for one key share one database read: without both, every
    ``ttl`` seconds all requests in flight missed together and each ran its own read in the
    threadpool (dozens of threads contending for the GIL and the pool: a stall of the event loop).
    """

    def __init__(self, engine: Engine, ttl: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()
        self._inflight: dict[str, asyncio.Future[Principal | None]] = {}  # touched on the event loop only

    async def principal(self, raw: str) -> Principal | None:
        """The key's principal (None: unknown or revoked), from the cache when it can."""
        found, principal = self.peek(raw)
        if found:
            return principal
        pending = self._inflight.get(raw) or self._reload(raw)
        return await asyncio.shield(pending)

    def peek(self, raw: str) -> tuple[bool, Principal | None]:
        """A cache hit, if any, without waiting (call on the event loop); a hit in the second half of
        its lifetime starts one background re-read."""
        hit = self._cache.get(raw)
        if hit is None:
            return False, None
        left = hit[1] - time.monotonic()
        if left <= 0:
            return False, None
        if left < self.ttl / 2 and raw not in self._inflight:
            self._reload(raw)
        return True, hit[0]

    def _reload(self, raw: str) -> asyncio.Future[Principal | None]:
        future = asyncio.ensure_future(run_in_threadpool(self._fetch, raw))
        self._inflight[raw] = future

        def done(f: asyncio.Future[Principal | None]) -> None:
            self._inflight.pop(raw, None)
            if not f.cancelled():
                f.exception()  # a failed background re-read is not an unhandled error; waiters get it

        future.add_done_callback(done)
        return future

    def _fetch(self, raw: str) -> Principal | None:
        principal = self._load(raw)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[raw] = (principal, time.monotonic() + self.ttl)
        return principal

    def cached(self, raw: str) -> tuple[bool, Principal | None]:
        hit = self._cache.get(raw)
        if hit is not None and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    def verify(self, raw: str) -> Principal | None:
        """Blocking: reads the database on a cache miss (call from a worker thread)."""
        found, principal = self.cached(raw)
        if found:
            return principal
        return self._fetch(raw)

    def _load(self, raw: str) -> Principal | None:
        # keys are found by their hash, so a key from configuration need not follow the cc_ format
        with Session(self.engine) as session:
            row = session.exec(select(ApiKey).where(ApiKey.key_hash == _hash(raw))).first()
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.id, row.name, frozenset(row.scopes))

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def has_any_key(session: Session) -> bool:
    return session.exec(select(ApiKey.id).limit(1)).first() is not None


def revoke(session: Session, key_id: str) -> bool:
    row = session.get(ApiKey, key_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.add(row)
    return True
