from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.deps import Auditor, EngineDep
from app.errors import responses
from app.events import service
from app.events.schemas import EventPage, EventRecord
from app.events.service import EventType

router = APIRouter(prefix="/v1/events", tags=["events"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "database_unavailable")
# another replica's events are seen within this long while a request waits
WAIT_POLL_S = 1.0


@router.get("", operation_id="list_events", response_model=EventPage, responses=COMMON)
async def list_events(
    request: Request,
    engine: EngineDep,
    _: Auditor,
    after: Annotated[int, Query(ge=0, le=10**18, description="Return events after this seq (0: from the start)")] = 0,
    type: Annotated[
        list[EventType] | None, Query(max_length=5, description="Only these event types (repeatable)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=9,
            description="Long-poll: wait up to this many seconds for an event (call again to keep waiting)",
        ),
    ] = 0,
) -> Response:
    """The event stream in commit order, resumable from any cursor (audit scope)."""
    signal: service.Signal = request.app.state.events
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        generation = signal.generation()
        rows = await asyncio.to_thread(service.page, engine, after, type or [], limit)
        remaining = deadline - loop.time()
        if rows or remaining <= 0:
            break
        await signal.wait(generation, min(remaining, WAIT_POLL_S))
    items = [EventRecord.model_validate(service.document(row)) for row in rows]
    page = EventPage(items=items, next_cursor=str(rows[-1].seq if rows else after))
    return Response(page.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"})
