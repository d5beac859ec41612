"""The accelerator catalog over HTTP: browse and search (any reader), add entries (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from app.catalog import service
from app.catalog.schemas import AcceleratorCreate, AcceleratorPage, AcceleratorRead
from app.deps import AcceleratorIdPath, Admin, Reader, SnapshotDep, StoreDep
from app.errors import responses
from app.http import cached_json

router = APIRouter(prefix="/v1/accelerators", tags=["catalog"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "not_ready")


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
    page = service.search(
        snap.catalog, snap.data_version, q=q, vendor=vendor, datacenter=datacenter, limit=limit, cursor=cursor
    )
    return cached_json(request, snap.data_version, page)


@router.get(
    "/{accelerator_id}",
    operation_id="get_accelerator",
    response_model=AcceleratorRead,
    responses={**COMMON, **responses("unknown_accelerator")},
)
async def get_accelerator(
    request: Request, accelerator_id: AcceleratorIdPath, snap: SnapshotDep, _: Reader
) -> Response:
    return cached_json(request, snap.data_version, service.get(snap.catalog, accelerator_id))


@router.post(
    "",
    operation_id="create_accelerator",
    status_code=status.HTTP_201_CREATED,
    response_model=AcceleratorRead,
    responses={**COMMON, **responses("conflict", "payload_too_large", "unsupported_media_type")},
)
async def create_accelerator(body: AcceleratorCreate, store: StoreDep, _: Admin) -> AcceleratorRead:
    await run_in_threadpool(service.add_accelerator, store.engine, body)
    await run_in_threadpool(store.refresh)
    return store.current.catalog.entries[body.id]
