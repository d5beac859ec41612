"""Annotated dependencies and parameters shared by the routers (HTTP only)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator
from sqlalchemy.engine import Engine

from app.clock import SYSTEM, Clock
from app.errors import DomainError
from app.keys.schemas import Scope
from app.keys.service import KeyVerifier, Principal
from app.regulations.snapshot import Snapshot, SnapshotStore
from app.vocabulary import AS_OF_DESCRIPTION, EARLIEST_AS_OF, LATEST_AS_OF, iso_date_text

# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in the
# threadpool, a thread hop per request for what is an attribute read.
bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer cc_...`")


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_store(request: Request) -> SnapshotStore:
    store: SnapshotStore = request.app.state.store
    return store


async def get_snapshot(request: Request) -> Snapshot:
    store: SnapshotStore = request.app.state.store
    return store.ready()


class RateLimiter:
    """A token bucket per API key (in-process)."""

    def __init__(self, rate: float, burst: int, clock: Clock = SYSTEM) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> float:
        """0 when allowed, else seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = self.clock.monotonic()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        return 0.0


def require(*scopes: Scope) -> object:
    """A dependency that authenticates the bearer key and checks it holds one of ``scopes``
    (``admin`` implies every scope)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None or not credentials.credentials:
            raise DomainError(
                "unauthorized", "Send an API key: Authorization: Bearer <key>", headers={"WWW-Authenticate": "Bearer"}
            )
        verifier: KeyVerifier = request.app.state.keys
        raw = credentials.credentials
        principal = await verifier.principal(raw)
        if principal is None:
            raise DomainError("unauthorized", "Unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if not principal.scopes.intersection(scopes) and "admin" not in principal.scopes:
            raise DomainError("forbidden", f"This operation needs the scope {' or '.join(scopes)}")
        wait = request.app.state.rate_limiter.allow(principal.key_id)
        if wait:
            raise DomainError(
                "rate_limited",
                "Rate limit exceeded for this API key",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        request.scope.setdefault("state", {})["api_key_id"] = principal.key_id
        return principal

    return Depends(dependency)


EngineDep = Annotated[Engine, Depends(get_engine)]
StoreDep = Annotated[SnapshotStore, Depends(get_store)]
SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]
Reader = Annotated[Principal, require("read")]
Screener = Annotated[Principal, require("screen")]
Admin = Annotated[Principal, require("admin")]
Auditor = Annotated[Principal, require("audit")]
ScreenerOrAuditor = Annotated[Principal, require("screen", "audit")]
AnyKey = Annotated[Principal, require("read", "screen", "audit", "admin")]

AsOfQuery = Annotated[
    date | None,
    Query(ge=EARLIEST_AS_OF, le=LATEST_AS_OF, description=AS_OF_DESCRIPTION),
    BeforeValidator(iso_date_text),
]
AcceleratorIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$", max_length=80)]
