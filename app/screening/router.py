"""Classifications, screenings, their versions and histories over HTTP: the engine over the current
snapshot, answers stored in the decision log."""

from __future__ import annotations

import json
import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from app import clock
from app.decisions.service import get_visible, new_decision_id, new_draft, record
from app.deps import AcceleratorIdPath, AsOfQuery, EngineDep, Reader, Screener, ScreenerOrAuditor, SnapshotDep
from app.direct import Call
from app.errors import responses
from app.http import cached_json, prepared_json, record_json, remember_key
from app.keys.service import Principal
from app.regulations.snapshot import Snapshot
from app.screening import monitoring, service
from app.screening.schemas import (
    ClassificationRequest,
    ClassificationResponse,
    CloseRequest,
    HistoryResponse,
    ScreeningHistory,
    ScreeningList,
    ScreeningRequest,
    ScreeningResponse,
    ScreeningSummary,
)
from app.vocabulary import COUNTRY_PATTERN, TransactionType

# no router-wide tag: the classification and history of a catalog item are listed under "catalog"
router = APIRouter(prefix="/v1")
READ = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "not_ready")

COMMON = responses(
    "unauthorized",
    "forbidden",
    "validation_error",
    "rate_limited",
    "payload_too_large",
    "unsupported_media_type",
    "not_ready",
)
IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN = 200, r"^[\x21-\x7e]+$"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX,
        pattern=IDEMPOTENCY_KEY_PATTERN,
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
    tags=["screening"],
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
    tags=["screening"],
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
    today = clock.today()
    monitoring.check_open_until(body, today, request.app.state.settings.monitor_max_days)
    if body.hypothetical_rulesets:
        result = await _screen(snap, body, None)
        return record_json(service.render(result), status_code=200)
    decision_id = new_decision_id()
    result = await _screen(snap, body, decision_id)
    draft = new_draft(
        decision_id=decision_id,
        kind="screening",
        api_key_id=principal.key_id,
        request_id=request.scope["state"]["request_id"],
        idempotency_key=idempotency_key,
        request=body.model_dump(mode="json"),
        response=service.render(result),
        rulesets=[r.id for r in result.provenance.rulesets],
        data_version=result.provenance.data_version,
        effects=(monitoring.created(result, principal.key_id, snap.revision, today),),
    )
    stored = await record(request.app.state.writer, draft)
    request.app.state.telemetry.decisions.labels("screening", str(stored.replayed).lower()).inc()
    headers = {"Location": f"/v1/screenings/{stored.decision_id}"}
    if stored.replayed:
        headers["Idempotent-Replayed"] = "true"
    return record_json(stored.response, status.HTTP_200_OK if stored.replayed else status.HTTP_201_CREATED, headers)


# The two hot routes, called straight from the edge when every parameter is certain (app/direct.py):
# the same endpoints with the parameters FastAPI would solve; anything else goes through FastAPI.
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


async def direct_classify_accelerator(call: Call) -> Response | None:
    snap, principal, body = call.snapshot(), call.holder("read"), call.body(ClassificationRequest)
    if snap is None or principal is None or body is None or not call.admit(principal):
        return None
    return await classify_accelerator(body, snap, principal)


async def direct_create_screening(call: Call) -> Response | None:
    snap, principal, body = call.snapshot(), call.holder("screen"), call.body(ScreeningRequest)
    usable, idempotency_key = call.header(b"idempotency-key", _IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_MAX)
    if snap is None or principal is None or body is None or not usable or not call.admit(principal):
        return None
    return await create_screening(call.request(), body, snap, principal, idempotency_key)


DIRECT = {
    ("POST", "/v1/classifications"): direct_classify_accelerator,
    ("POST", "/v1/screenings"): direct_create_screening,
}


ScreeningId = Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


def _who(principal: Principal) -> monitoring.Visibility:
    return monitoring.Visibility(principal.key_id, bool(principal.scopes & {"audit", "admin"}))


@router.get(
    "/screenings",
    tags=["screening"],
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
    tags=["screening"],
    operation_id="get_screening",
    response_model=ScreeningResponse,
    responses={**COMMON, **responses("unknown_screening", "database_unavailable")},
)
async def get_screening(screening_id: ScreeningId, engine: EngineDep, principal: ScreenerOrAuditor) -> Response:
    """A stored screening (or re-screening) exactly as first returned. A `screen` key reads its own;
    `audit`/`admin` any. `Link: <.../versions>; rel="version-history"` leads to every version,
    and `Chipclass-Latest-Version` names the newest when this one has been superseded."""
    decision = await run_in_threadpool(
        get_visible, engine, screening_id, principal.key_id, principal.scopes, ("screening", "rescreening")
    )
    root = json.loads(decision.response).get("screening_id") or screening_id
    headers = {"Link": f'</v1/screenings/{root}/versions>; rel="version-history"'}
    latest = await run_in_threadpool(monitoring.latest_id, engine, screening_id)
    if latest is not None and latest != screening_id:
        headers["Chipclass-Latest-Version"] = latest
    return record_json(decision.response, headers=headers)


@router.get(
    "/screenings/{screening_id}/versions",
    tags=["screening"],
    operation_id="get_screening_versions",
    response_model=ScreeningHistory,
    responses={**COMMON, **responses("unknown_screening", "database_unavailable")},
)
async def get_screening_versions(
    screening_id: ScreeningId, engine: EngineDep, principal: ScreenerOrAuditor
) -> ScreeningHistory:
    """The chain of versions of a screening, latest first, and whether it is still kept open."""
    found = await run_in_threadpool(monitoring.history, engine, screening_id, _who(principal))
    return monitoring.history_out(found)


@router.post(
    "/screenings/{screening_id}/close",
    tags=["screening"],
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
    return monitoring.history_out(found)


@router.get(
    "/accelerators/{accelerator_id}/classification",
    operation_id="classify_catalog_accelerator",
    tags=["catalog"],
    response_model=ClassificationResponse,
    responses={**READ, **responses("unknown_accelerator", "unknown_ruleset")},
)
async def classify_catalog_accelerator(
    request: Request,
    accelerator_id: AcceleratorIdPath,
    snap: SnapshotDep,
    _: Reader,
    as_of: AsOfQuery = None,
) -> Response:
    """The same bytes and strong ETag for the same item, day and rules; `If-None-Match` gets 304."""
    req = ClassificationRequest(accelerator_id=accelerator_id, as_of=as_of)
    prepared = service.prepared_if_ready(snap, req)
    if prepared is None:
        prepared = await run_in_threadpool(service.classify_prepared, snap, req)
    # remembered under this exact path and query too, so the edge can repeat it (app/answers.py)
    snap.remember(remember_key(request.scope), lambda: prepared)
    return prepared_json(request, prepared)


@router.get(
    "/accelerators/{accelerator_id}/history",
    operation_id="get_accelerator_history",
    tags=["catalog"],
    response_model=HistoryResponse,
    responses={**READ, **responses("unknown_accelerator")},
)
async def get_accelerator_history(
    request: Request,
    accelerator_id: AcceleratorIdPath,
    snap: SnapshotDep,
    _: Reader,
    destination: Annotated[str, Query(pattern=COUNTRY_PATTERN, description="ISO 3166-1 alpha-2")],
    headquarters: Annotated[str | None, Query(pattern=COUNTRY_PATTERN)] = None,
    parent_headquarters: Annotated[str | None, Query(pattern=COUNTRY_PATTERN)] = None,
    transaction_type: TransactionType = "export",
) -> Response:
    result = service.history(
        snap,
        accelerator_id,
        destination.upper(),
        headquarters.upper() if headquarters else None,
        parent_headquarters.upper() if parent_headquarters else None,
        transaction_type,
    )
    return cached_json(request, snap.data_version, result)
