from __future__ import annotations

import json
from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from app.changes import service
from app.changes.schemas import ChangePage, ChangeRead, ChangeVerification
from app.deps import Auditor, EngineDep
from app.errors import responses
from app.vocabulary import IsoDate

router = APIRouter(prefix="/v1/changes", tags=["audit"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "database_unavailable")


def read(c: service.ReferenceChange) -> ChangeRead:
    created = c.created_at if c.created_at.tzinfo else c.created_at.replace(tzinfo=UTC)  # SQLite: naive UTC
    return ChangeRead.model_validate({**c.model_dump(), "created_at": created, "document": json.loads(c.document)})


@router.get("", operation_id="list_changes", response_model=ChangePage, responses=COMMON)
async def list_changes(
    engine: EngineDep,
    _: Auditor,
    kind: Literal["ruleset", "country_group_change", "accelerator"] | None = None,
    since: Annotated[IsoDate | None, Query(description="Recorded on or after this date (UTC)")] = None,
    until: Annotated[IsoDate | None, Query(description="Recorded on or before this date (UTC)")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """The reference-data change log, newest first: who (API key, `cli` or `seed`), when, why, and the
    document, each record hash-linked to the one before (audit scope)."""
    before = service.decode_cursor(cursor) if cursor else None
    rows, next_seq = await run_in_threadpool(
        service.page, engine, limit=limit, before_seq=before, kind=kind, since=since, until=until
    )
    page = ChangePage(
        items=[read(c) for c in rows], next_cursor=service.encode_cursor(next_seq) if next_seq is not None else None
    )
    return Response(page.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/verify", operation_id="verify_changes", response_model=ChangeVerification, responses=COMMON)
async def verify_changes(engine: EngineDep, _: Auditor) -> ChangeVerification:
    """Recompute the change log's hash chain from the first record; report the first broken link."""
    result = await run_in_threadpool(service.verify, engine)
    return ChangeVerification(**result.model_dump())
