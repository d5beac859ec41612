from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from app.decisions import store
from app.deps import Auditor, EngineDep
from app.errors import responses
from app.http import UtcDatetime

router = APIRouter(prefix="/v1/decisions", tags=["audit"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "database_unavailable")


class DecisionRecord(BaseModel):
    seq: int
    id: str
    kind: str
    created_at: UtcDatetime
    api_key_id: str | None
    request_id: str
    idempotency_key: str | None
    rulesets: list[str]
    data_version: str
    request: dict[str, Any]
    response: dict[str, Any]
    prev_hash: str
    hash: str


class DecisionPage(BaseModel):
    items: list[DecisionRecord]
    next_cursor: str | None


class ChainVerification(BaseModel):
    ok: bool
    checked: int
    last_seq: int
    head_hash: str
    first_broken_seq: int | None
    first_broken_id: str | None
    problem: str | None


@router.get("", operation_id="list_decisions", response_model=DecisionPage, responses=COMMON)
async def list_decisions(
    engine: EngineDep,
    _: Auditor,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """The decision log in order, with each record's hash link (audit scope)."""
    rows = await run_in_threadpool(store.page, engine, int(cursor or 0), limit + 1)
    items = [
        DecisionRecord(
            seq=d.seq,
            id=d.id,
            kind=d.kind,
            created_at=d.created_at,
            api_key_id=d.api_key_id,
            request_id=d.request_id,
            idempotency_key=d.idempotency_key,
            rulesets=json.loads(d.rulesets),
            data_version=d.data_version,
            request=json.loads(d.request),
            response=json.loads(d.response),
            prev_hash=d.prev_hash,
            hash=d.hash,
        )
        for d in rows[:limit]
    ]
    page = DecisionPage(items=items, next_cursor=str(items[-1].seq) if len(rows) > limit else None)
    return Response(page.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/verify", operation_id="verify_decisions", response_model=ChainVerification, responses=COMMON)
async def verify_decisions(engine: EngineDep, _: Auditor) -> ChainVerification:
    """Recompute the hash chain from the first record; report the first broken link."""
    result = await run_in_threadpool(store.verify, engine)
    return ChainVerification(**result.__dict__)
