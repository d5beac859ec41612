"""Operational routes: liveness, readiness and Prometheus metrics (no API key)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from app import migrate
from app.direct import Call, Direct
from app.docs import guard
from app.errors import problem_response, responses
from app.regulations.snapshot import SnapshotStore

router = APIRouter(tags=["operations"])
METRICS_SCOPES = frozenset({"admin", "audit"})


ALIVE = b'{"status":"ok"}'  # prepared once: what FastAPI renders for {"status": "ok"}


@router.get("/healthz", operation_id="healthz", response_model=dict[str, str])
async def healthz() -> Response:
    """The process is alive (does not touch the database)."""
    return Response(ALIVE, media_type="application/json")


async def direct_healthz(_: Call) -> Response:
    """Liveness straight from the edge (app/direct.py): probed every few seconds by every kubelet,
    it must cost next to nothing; the answer is the route's own."""
    return await healthz()


DIRECT: dict[tuple[str, str], Direct] = {("GET", "/healthz"): direct_healthz}


@router.get("/readyz", operation_id="readyz", responses=responses("not_ready"))
async def readyz(request: Request) -> Any:
    """Ready: database reachable, migrations at head, rules loaded."""
    settings = request.app.state.settings
    checks: dict[str, str] = {}
    try:
        at_head = await asyncio.wait_for(
            run_in_threadpool(migrate.at_head, request.app.state.engine),
            timeout=settings.db_connect_timeout_s + 1,
        )
        checks["database"] = "ok"
        checks["migrations"] = "ok" if at_head else "behind"
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        checks["database"] = f"unreachable ({type(exc).__name__})"
        checks["migrations"] = "unknown"
    store: SnapshotStore = request.app.state.store
    checks["rules"] = "ok" if store.loaded else f"not loaded ({request.app.state.ready_error})"
    reference = _reference(store)
    if all(v == "ok" for v in checks.values()):
        return {
            "status": "ready",
            "checks": checks,
            "data_version": store.current.data_version,
            "reference": reference,
        }
    detail = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    if reference["status"] != "ok":
        detail += f"; reference data degraded: {reference['summary']}"
    return problem_response(request, "not_ready", detail, headers={"Retry-After": "2"})


def _reference(store: SnapshotStore) -> dict[str, Any]:
    """Stored reference records left out of the rules, and a reload that keeps failing (the service
    then serves its last good rules): still ready, but an admin should look (`chipclass reference`)."""
    rejected = [{"kind": r.kind, "key": r.key, "reason": r.reason} for r in store.rejected]
    parts = [f"{r['kind']} {r['key']} left out" for r in rejected[:10]]
    if store.failing:
        parts.append(store.failing)
    return {
        "status": "degraded" if parts else "ok",
        "summary": "; ".join(parts) or "every stored record loads",
        "rejected": rejected,
        "reload_failing": store.failing,
    }


@router.get("/metrics", operation_id="metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    await guard(request.app.state.settings.metrics_access, METRICS_SCOPES)(request)
    body, ctype = request.app.state.telemetry.render()
    return Response(body, media_type=ctype)
