from __future__ import annotations

import base64
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from app import answers
from app.catalog.schemas import AcceleratorCreate, AcceleratorRead
from app.deps import Admin, Reader, SnapshotDep, StoreDep
from app.errors import FieldProblem, ProblemError, responses
from app.http import cached_json
from app.regulations import service as reference
from app.screening import service
from app.screening.schemas import AsOfQuery, ClassificationRequest, ClassificationResponse, HistoryResponse

router = APIRouter(prefix="/v1/accelerators", tags=["catalog"])
PathId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$", max_length=80)]
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "not_ready")


class AcceleratorPage(BaseModel):
    items: list[AcceleratorRead]
    next_cursor: str | None
    data_version: str


def _encode(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> str:
    """The id a page starts after; a cursor this service did not issue is a 422."""
    if not cursor:
        return ""
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("after:"):
        raise ProblemError(
            "validation_error",
            "query:cursor: not a cursor this service issued",
            [FieldProblem(pointer="query:cursor", detail="not a cursor this service issued")],
        )
    return text.removeprefix("after:")


@router.get("", operation_id="list_accelerators", response_model=AcceleratorPage, responses=COMMON)
async def list_accelerators(
    request: Request,
    snap: SnapshotDep,
    _: Reader,
    q: Annotated[str | None, Query(max_length=100, description="Free text on id, vendor, model and aliases")] = None,
    vendor: Annotated[str | None, Query(max_length=60)] = None,
    datacenter: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    after = _decode(cursor)
    words = (q or "").lower().split()
    items: list[AcceleratorRead] = []
    more = False
    for item_id, item in snap.catalog.items():  # sorted by id
        if item_id <= after:
            continue
        if vendor and item.vendor.lower() != vendor.lower():
            continue
        if datacenter is not None and item.datacenter != datacenter:
            continue
        if words and not all(w in snap.search_text[item_id] for w in words):
            continue
        if len(items) == limit:
            more = True
            break
        items.append(item)
    next_cursor = _encode(items[-1].id) if more else None
    return cached_json(
        request, snap, AcceleratorPage(items=items, next_cursor=next_cursor, data_version=snap.data_version)
    )


@router.get(
    "/{accelerator_id}",
    operation_id="get_accelerator",
    response_model=AcceleratorRead,
    responses={**COMMON, **responses("unknown_accelerator")},
)
async def get_accelerator(request: Request, accelerator_id: PathId, snap: SnapshotDep, _: Reader) -> Response:
    item = snap.catalog.get(accelerator_id)
    if item is None:
        raise ProblemError("unknown_accelerator", f"No accelerator {accelerator_id!r} in the catalog")
    return cached_json(request, snap, item)


@router.get(
    "/{accelerator_id}/classification",
    operation_id="classify_catalog_accelerator",
    response_model=ClassificationResponse,
    responses={**COMMON, **responses("unknown_accelerator", "unknown_ruleset")},
)
async def classify_catalog_accelerator(
    request: Request,
    accelerator_id: PathId,
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
    snap.remember(answers.get_key(request.scope), lambda: prepared)
    return answers.respond(request, prepared)


@router.get(
    "/{accelerator_id}/history",
    operation_id="get_accelerator_history",
    response_model=HistoryResponse,
    responses={**COMMON, **responses("unknown_accelerator")},
)
async def get_accelerator_history(
    request: Request,
    accelerator_id: PathId,
    snap: SnapshotDep,
    _: Reader,
    destination: Annotated[str, Query(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")],
    headquarters: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    parent_headquarters: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    transaction_type: Literal["export", "reexport", "transfer"] = "export",
) -> Response:
    result = service.history(
        snap,
        accelerator_id,
        destination.upper(),
        headquarters.upper() if headquarters else None,
        parent_headquarters.upper() if parent_headquarters else None,
        transaction_type,
    )
    return cached_json(request, snap, result)


@router.post(
    "",
    operation_id="create_accelerator",
    status_code=status.HTTP_201_CREATED,
    response_model=AcceleratorRead,
    responses={**COMMON, **responses("conflict", "payload_too_large", "unsupported_media_type")},
)
async def create_accelerator(body: AcceleratorCreate, store: StoreDep, _: Admin) -> AcceleratorRead:
    try:
        await run_in_threadpool(reference.add_accelerator, store.engine, store.files, body)
    except reference.ReferenceError as exc:
        raise ProblemError(exc.code, str(exc)) from exc
    await run_in_threadpool(store.refresh)
    return store.current.catalog[body.id]
