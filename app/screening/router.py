from __future__ import annotations

import asyncio
import json
import os
import random
import time
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from ulid import ULID

from app.decisions import store
from app.deps import EngineDep, Reader, Screener, ScreenerOrAuditor, SnapshotDep
from app.errors import ProblemError, responses
from app.http import record_json
from app.regulations.snapshot import Snapshot
from app.screening import monitoring, service
from app.screening.schemas import (
    ClassificationRequest,
    ClassificationResponse,
    CloseRequest,
    MonitorStatus,
    ScreeningHistory,
    ScreeningList,
    ScreeningRequest,
    ScreeningResponse,
    ScreeningSummary,
    ScreeningVersionOut,
)
from app.security import Principal

router = APIRouter(prefix="/v1", tags=["screening"])
_random = random.Random(os.urandom(32))


def new_decision_id() -> str:
    """A ULID (time-sortable) whose random part comes from a per-process generator seeded once:
    ``ULID()`` reads os.urandom for every id, a system call that hands the GIL to the decision
    writer thread and makes the event loop wait to get it back."""
    return str(ULID.from_bytes((time.time_ns() // 1_000_000).to_bytes(6, "big") + _random.randbytes(10)))


COMMON = responses(
    "unauthorized",
    "forbidden",
    "validation_error",
    "rate_limited",
    "payload_too_large",
    "unsupported_media_type",
    "not_ready",
)
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key: the same key and body replay the first answer (kept at least 24 h)",
    ),
]


# A screening of many lines, or of a line not evaluated before on this snapshot (an item with ranged
# figures takes hundreds of ms the first time), runs in a worker thread so the event loop keeps
# serving; a few lines answered from the snapshot's memo run inline (a thread hop costs more).
INLINE_LINES = 20


async def _screen(snap: Snapshot, body: ScreeningRequest, decision_id: str | None) -> ScreeningResponse:
    if len(body.lines) <= INLINE_LINES and service.is_warm(snap, body):
        return service.screen(snap, body, decision_id)
    return await run_in_threadpool(service.screen, snap, body, decision_id)


@router.post(
    "/classifications",
    operation_id="classify_accelerator",
    response_model=ClassificationResponse,
    responses={**COMMON, **responses("unknown_accelerator", "unknown_ruleset", "undetermined")},
)
async def classify_accelerator(body: ClassificationRequest, snap: SnapshotDep, _: Reader) -> Response:
    """Classify a catalog accelerator or a spec under the rules in force on ``as_of``."""
    prepared = service.prepared_if_ready(snap, body)
    if prepared is None:
        prepared = await run_in_threadpool(service.classify_prepared, snap, body)
    return Response(prepared.body, media_type="application/json")


@router.post(
    "/screenings",
    operation_id="create_screening",
    status_code=status.HTTP_201_CREATED,
    response_model=ScreeningResponse,
    responses={
        **COMMON,
        **responses("unknown_ruleset", "undetermined", "idempotency_key_reused", "database_unavailable"),
        200: {
            "description": "Replay of an earlier screening with the same Idempotency-Key "
            "(Idempotent-Replayed: true), or a hypothetical answer (not stored)",
            "model": ScreeningResponse,
        },
    },
)
async def create_screening(
    request: Request,
    body: ScreeningRequest,
    snap: SnapshotDep,
    principal: Screener,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Screen order lines for a destination and end user; the answer is stored as a decision
    (committed before it is returned) unless it is hypothetical. A line that cannot be evaluated
    rejects the whole request with 422, naming every bad line key; nothing is stored then."""
    today = service.today()
    monitoring.check_open_until(body, today, request.app.state.settings.monitor_max_days)
    if body.hypothetical_rulesets:
        result = await _screen(snap, body, None)
        return record_json(service.render(result), status_code=200)
    decision_id = new_decision_id()
    result = await _screen(snap, body, decision_id)
    draft = store.Draft(
        id=decision_id,
        kind="screening",
        api_key_id=principal.key_id,
        request_id=request.scope["state"]["request_id"],
        idempotency_key=idempotency_key,
        request=store.canonical_plain(body.model_dump(mode="json")),
        response=service.render(result),
        rulesets=[r.id for r in result.provenance.rulesets],
        data_version=result.provenance.data_version,
        effects=(monitoring.created(result, principal.key_id, snap.revision, today),),
    )
    try:
        stored = await asyncio.wrap_future(request.app.state.writer.submit(draft))
    except store.IdempotencyConflict as exc:
        raise ProblemError(
            "idempotency_key_reused",
            f"Idempotency-Key {idempotency_key!r} was used for a different request (decision {exc.args[0]})",
        ) from exc
    request.app.state.metrics.decisions.labels("screening", str(stored.replayed).lower()).inc()
    headers = {"Location": f"/v1/screenings/{stored.decision_id}"}
    if stored.replayed:
        headers["Idempotent-Replayed"] = "true"
    return record_json(stored.response, status.HTTP_200_OK if stored.replayed else status.HTTP_201_CREATED, headers)


ScreeningId = Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


def _who(principal: Principal) -> monitoring.Visibility:
    return monitoring.Visibility(principal.key_id, bool(principal.scopes & {"audit", "admin"}))


@router.get(
    "/screenings",
    operation_id="list_screenings",
    response_model=ScreeningList,
    responses={**COMMON, **responses("database_unavailable")},
)
async def list_screenings(
    engine: EngineDep,
    principal: ScreenerOrAuditor,
    reference: Annotated[str, Query(min_length=1, max_length=200, description="The order reference")],
    cursor: Annotated[str | None, Query(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ScreeningList:
    """Every version of the screenings made for an order reference, newest first. A `screen` key
    sees its own; `audit`/`admin` any."""
    rows = await run_in_threadpool(monitoring.by_reference, engine, reference, _who(principal), cursor, limit + 1)
    items = [
        ScreeningSummary(
            screening_id=v.screening_id,
            decision_id=v.decision_id,
            version=v.version,
            reference=v.reference,
            outcome=v.outcome,
            created_at=v.created_at,
            status=m.status if m is not None else None,
        )
        for v, m in rows[:limit]
    ]
    return ScreeningList(items=items, next_cursor=items[-1].decision_id if len(rows) > limit else None)


@router.get(
    "/screenings/{screening_id}",
    operation_id="get_screening",
    response_model=ScreeningResponse,
    responses={**COMMON, **responses("unknown_screening", "database_unavailable")},
)
async def get_screening(screening_id: ScreeningId, engine: EngineDep, principal: ScreenerOrAuditor) -> Response:
    """A stored screening (or re-screening) exactly as first returned. A `screen` key reads its own;
    `audit`/`admin` any. `Link: <.../versions>; rel="version-history"` leads to every version,
    and `Chipclass-Latest-Version` names the newest when this one has been superseded."""
    decision = await run_in_threadpool(store.get, engine, screening_id)
    visible = (
        decision is not None
        and decision.kind in ("screening", "rescreening")
        and (decision.api_key_id == principal.key_id or principal.scopes & {"audit", "admin"})
    )
    if decision is None or not visible:
        raise ProblemError("unknown_screening", f"No screening {screening_id!r}")
    root = json.loads(decision.response).get("screening_id") or screening_id
    headers = {"Link": f'</v1/screenings/{root}/versions>; rel="version-history"'}
    latest = await run_in_threadpool(monitoring.latest_id, engine, screening_id)
    if latest is not None and latest != screening_id:
        headers["Chipclass-Latest-Version"] = latest
    return record_json(decision.response, headers=headers)


@router.get(
    "/screenings/{screening_id}/versions",
    operation_id="get_screening_versions",
    response_model=ScreeningHistory,
    responses={**COMMON, **responses("unknown_screening", "database_unavailable")},
)
async def get_screening_versions(
    screening_id: ScreeningId, engine: EngineDep, principal: ScreenerOrAuditor
) -> ScreeningHistory:
    """The chain of versions of a screening, latest first, and whether it is still kept open."""
    found = await run_in_threadpool(monitoring.history, engine, screening_id, _who(principal))
    return _history_out(found)


def _history_out(found: monitoring.History) -> ScreeningHistory:
    m = found.monitor
    return ScreeningHistory(
        screening_id=found.screening_id,
        reference=found.versions[-1].version.reference,
        monitor=None
        if m is None
        else MonitorStatus(
            status=m.status,
            open_until=m.open_until,
            version=m.version,
            latest_decision_id=m.latest_decision_id,
            closed_at=m.closed_at,
            close_reason=m.close_reason,
        ),
        versions=[
            ScreeningVersionOut(
                decision_id=row.version.decision_id,
                version=row.version.version,
                outcome=row.version.outcome,
                created_at=row.version.created_at,
                screening=ScreeningResponse.model_validate(row.response),
            )
            for row in found.versions
        ],
    )


@router.post(
    "/screenings/{screening_id}/close",
    operation_id="close_screening",
    response_model=ScreeningHistory,
    responses={**COMMON, **responses("unknown_screening", "conflict", "payload_too_large", "unsupported_media_type")},
)
async def close_screening(
    request: Request, screening_id: ScreeningId, body: CloseRequest, engine: EngineDep, principal: Screener
) -> ScreeningHistory:
    """End monitoring of an open screening (shipped or cancelled). Recorded in the decision log and
    announced as a `screening.closed` event; a closed screening is never screened again."""
    who = _who(principal)
    ttl = request.app.state.writer.ttl
    request_id = request.scope["state"]["request_id"]
    await run_in_threadpool(monitoring.close, engine, screening_id, body.status, body.reason, who, request_id, ttl)
    request.app.state.events.notify()
    found = await run_in_threadpool(monitoring.history, engine, screening_id, who)
    return _history_out(found)
