"""API keys: stored only as SHA-256 hashes, scoped, revocable; verified through a short cache."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, col, select

from app import clock
from app.clock import SYSTEM, Clock
from app.db import session_scope
from app.errors import DomainError
from app.keys.models import ApiKey
from app.keys.schemas import SCOPES, KeyCreated, KeyList, KeyRead

PREFIX = "cc"
UNAVAILABLE_BACKOFF_S = 1.0
"""After a key read failed because the database is unavailable, stale entries answer at once for this
long (no request waits on a connect timeout per key)."""


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


def read(row: ApiKey) -> KeyRead:
    return KeyRead(id=row.id, name=row.name, scopes=row.scopes, created_at=row.created_at, revoked_at=row.revoked_at)


def add_key(session: Session, name: str, scopes: list[str], raw: str | None = None) -> tuple[ApiKey, str]:
    """Store a new key in ``session``; returns the row and the raw key (shown once, never stored)."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise DomainError("validation_error", f"scopes must be among {', '.join(SCOPES)}", "/scopes")
    if raw is None:
        given_id = secrets.token_hex(6)
        raw = f"{PREFIX}_{given_id}_{secrets.token_urlsafe(32)}"
    else:
        given_id = key_id(raw) or "boot" + secrets.token_hex(4)
    row = ApiKey(id=given_id, name=name, key_hash=_hash(raw), scopes=sorted(set(scopes)), created_at=clock.now())
    session.add(row)
    session.flush()
    return row, raw


def create_key(engine: Engine, name: str, scopes: list[str]) -> KeyCreated:
    """Blocking: create a key and return it with the raw key (the only time it is shown)."""
    with session_scope(engine) as session:
        row, raw = add_key(session, name, scopes)
        return KeyCreated(**read(row).model_dump(), key=raw)


def current_key(engine: Engine, key_id: str) -> KeyRead:
    """Blocking: the key making a request (its name and scopes); unauthorized if it is gone."""
    with Session(engine) as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise DomainError("unauthorized", "Unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        return read(row)


def list_keys(engine: Engine) -> KeyList:
    """Blocking: every key, oldest first (never the keys themselves)."""
    with Session(engine) as session:
        return KeyList(items=[read(r) for r in session.exec(select(ApiKey).order_by(col(ApiKey.created_at)))])


def revoke_key(engine: Engine, key_id: str) -> KeyRead:
    """Blocking: revoke a key (revoking a revoked key is a no-op); ``not_found`` for an unknown id."""
    with session_scope(engine) as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise DomainError("not_found", f"No key {key_id!r}")
        if row.revoked_at is None:
            row.revoked_at = clock.now()
            session.add(row)
        return read(row)


def has_any_key(session: Session) -> bool:
    return session.exec(select(ApiKey.id).limit(1)).first() is not None


class KeyVerifier:
    """Verifies bearer keys; positive and negative results are cached for ``ttl`` seconds.

    A revoked key keeps working on other replicas for at most ``ttl`` seconds.

    ``principal`` (the request path) never lets a busy key's entry lapse: in the second half of its
    lifetime one request starts a re-read in the background and every request meanwhile keeps the
    cached answer. And concurrent misses for one key share one database read: without both, every
    ``ttl`` seconds all requests in flight missed together and each ran its own read in the
    threadpool (dozens of threads contending for the GIL and the pool: a stall of the event loop).
    """

    def __init__(self, engine: Engine, ttl: float, clock: Clock = SYSTEM, stale_if_error: float = 0.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self.clock = clock
        self.stale_if_error = stale_if_error
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()
        self._inflight: dict[str, asyncio.Future[Principal | None]] = {}  # touched on the event loop only
        self._unavailable_until = 0.0  # after a failed read, stale answers are served without waiting

    async def principal(self, raw: str) -> Principal | None:
        """The key's principal (None: unknown or revoked), from the cache when it can.

        While the database is unavailable, a key verified (as valid) within ``ttl + stale_if_error``
        seconds keeps its principal: reads go on through a database outage; see the operations notes
        for the trade-off (a revocation committed just before the outage is seen only after it).
        """
        found, principal = self.peek(raw)
        if found:
            return principal
        stale = self._stale(raw)
        if stale is not None and self.clock.monotonic() < self._unavailable_until:
            return stale
        pending = self._inflight.get(raw) or self._reload(raw)
        try:
            return await asyncio.shield(pending)
        except (OperationalError, InterfaceError, PoolTimeout):
            self._unavailable_until = self.clock.monotonic() + UNAVAILABLE_BACKOFF_S
            if stale is not None:
                return stale
            raise

    def _stale(self, raw: str) -> Principal | None:
        """A valid key's expired entry, while it is within the stale-if-error allowance."""
        hit = self._cache.get(raw)
        if hit is None or hit[0] is None or self.stale_if_error <= 0:
            return None
        return hit[0] if self.clock.monotonic() < hit[1] + self.stale_if_error else None

    def peek(self, raw: str) -> tuple[bool, Principal | None]:
        """A cache hit, if any, without waiting (call on the event loop); a hit in the second half of
        its lifetime starts one background re-read."""
        hit = self._cache.get(raw)
        if hit is None:
            return False, None
        left = hit[1] - self.clock.monotonic()
        if left <= 0:
            return False, None
        if left < self.ttl / 2 and raw not in self._inflight:
            self._reload(raw)
        return True, hit[0]

    def _reload(self, raw: str) -> asyncio.Future[Principal | None]:
        future = asyncio.ensure_future(anyio.to_thread.run_sync(self._fetch, raw))
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
            self._cache[raw] = (principal, self.clock.monotonic() + self.ttl)
        return principal

    def cached(self, raw: str) -> tuple[bool, Principal | None]:
        hit = self._cache.get(raw)
        if hit is not None and hit[1] > self.clock.monotonic():
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
