"""The decision log over HTTP (audit scope): page through it and verify its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from app.chain import ChainVerification
from app.decisions import service
from app.decisions.schemas import DecisionPage
from app.deps import Auditor, EngineDep
from app.errors import responses
from app.http import record_json

router = APIRouter(prefix="/v1/decisions", tags=["audit"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "database_unavailable")


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
    page = await run_in_threadpool(service.page, engine, int(cursor or 0), limit)
    return record_json(page.model_dump_json())


@router.get("/verify", operation_id="verify_decisions", response_model=ChainVerification, responses=COMMON)
async def verify_decisions(engine: EngineDep, _: Auditor) -> ChainVerification:
    """Recompute the hash chain from the first record; report the first broken link."""
    return await run_in_threadpool(service.verify, engine)
