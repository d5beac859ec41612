from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from ulid import ULID

from app.decisions import store
from app.deps import EngineDep, Reader, Screener, ScreenerOrAuditor, SnapshotDep
from app.errors import ProblemError, responses
from app.http import record_json
from app.regulations.snapshot import Snapshot
from app.screening import service
from app.screening.schemas import (
    ClassificationRequest,
    ClassificationResponse,
    ScreeningRequest,
    ScreeningResponse,
)

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


@router.get(
    "/screenings/{screening_id}",
    operation_id="get_screening",
    response_model=ScreeningResponse,
    responses={**COMMON, **responses("unknown_screening", "database_unavailable")},
)
async def get_screening(
    screening_id: Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")],
    engine: EngineDep,
    principal: ScreenerOrAuditor,
) -> Response:
    """A stored screening exactly as first returned. A `screen` key reads its own; `audit`/`admin` any."""
    decision = await run_in_threadpool(store.get, engine, screening_id)
    visible = decision is not None and (
        decision.api_key_id == principal.key_id or principal.scopes & {"audit", "admin"}
    )
    if decision is None or not visible:
        raise ProblemError("unknown_screening", f"No screening {screening_id!r}")
    return record_json(decision.response)
