"""The accelerator catalog over HTTP: browse and search (any reader; JSON or CSV), add entries and
import a CSV/YAML file (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from app import clock
from app.catalog import exchange, service
from app.catalog.schemas import AcceleratorPage, AcceleratorRead, AcceleratorSubmission, ImportReport
from app.changes.schemas import Reason
from app.changes.service import Actor, ChangeRequest
from app.deps import AcceleratorIdPath, Admin, Reader, SnapshotDep, StoreDep
from app.errors import DomainError, responses
from app.http import CSV, cached_csv, cached_json, prefers
from app.impact import service as impact
from app.regulations import service as regulations

router = APIRouter(prefix="/v1/accelerators", tags=["catalog"])
csv_router = APIRouter(tags=["catalog"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "not_ready")
CSV_CONTENT = {CSV: {"schema": {"type": "string"}, "example": "id,vendor,model,aliases,...\r\n"}}
Q = Annotated[str | None, Query(max_length=100, description="Free text on id, vendor, model and aliases")]
Vendor = Annotated[str | None, Query(max_length=60)]
OCTET = "application/octet-stream"
IMPORT_TYPES = (CSV, *exchange.YAML_MEDIA_TYPES, OCTET)


def _csv(request: Request, snap: SnapshotDep, q: str | None, vendor: str | None, datacenter: bool | None) -> Response:
    body = service.export_csv(snap.catalog, q=q, vendor=vendor, datacenter=datacenter)
    return cached_csv(request, snap.data_version, body, f"chipclass-accelerators-{snap.data_version}.csv")


@router.get(
    "",
    operation_id="list_accelerators",
    response_model=AcceleratorPage,
    responses={
        **COMMON,
        200: {
            "content": CSV_CONTENT,
            "description": "A page of entries (JSON), or with "
            "`Accept: text/csv` every matching entry as one CSV (no paging)",
        },
    },
)
async def list_accelerators(
    request: Request,
    snap: SnapshotDep,
    _: Reader,
    q: Q = None,
    vendor: Vendor = None,
    datacenter: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if prefers(request, CSV):
        return _csv(request, snap, q, vendor, datacenter)
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
async def create_accelerator(body: AcceleratorSubmission, store: StoreDep, principal: Admin) -> AcceleratorRead:
    """Add a catalog entry. Fail closed: known precisions, plausible figures, every figure citing a
    source given here; recorded in the change log with who and `reason`."""
    item = body.document()
    announced = await run_in_threadpool(impact.announcement, store.current, store.files, [item], clock.today())
    change = ChangeRequest(Actor.api_key(principal.key_id, principal.name), body.reason, impact=announced)
    check = regulations.accelerator_check(store.files)
    await run_in_threadpool(service.add_accelerator, store.engine, item, check, change)
    await run_in_threadpool(store.refresh)
    return store.current.catalog.entries[body.id]


@csv_router.get(
    "/v1/accelerators.csv",
    operation_id="export_accelerators_csv",
    response_class=Response,
    responses={**COMMON, 200: {"content": CSV_CONTENT, "description": "Every matching entry, one CSV row each"}},
)
async def export_accelerators_csv(
    request: Request, snap: SnapshotDep, _: Reader, q: Q = None, vendor: Vendor = None, datacenter: bool | None = None
) -> Response:
    """The catalog as CSV (the same as `GET /v1/accelerators` with `Accept: text/csv`)."""
    return _csv(request, snap, q, vendor, datacenter)


@router.post(
    "/import",
    operation_id="import_accelerators",
    response_model=ImportReport,
    responses={**COMMON, **responses("payload_too_large", "unsupported_media_type")},
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A CSV export (one row per accelerator) or YAML in the shipped accelerators.yaml format, "
            "UTF-8. Send it as text/csv or application/yaml; as application/octet-stream (what generated clients "
            "send) the format is recognised from the content.",
            # bounded by CHIPCLASS_MAX_BODY_BYTES (default 2,000,000; a larger body is 413)
            "content": {
                OCTET: {
                    "schema": {"type": "string", "format": "binary", "maxLength": 2_000_000},
                    "example": "id,vendor,model,aliases,released,kind,datacenter,...\r\n"
                    "acme-x1,Acme,X1,,2026,logic,true,...\r\n",
                }
            },
        }
    },
)
async def import_accelerators(
    request: Request,
    store: StoreDep,
    principal: Admin,
    dry_run: Annotated[bool, Query(description="Validate and report only; nothing is written")] = False,
    reason: Annotated[
        Reason | None,
        Query(description="Why (recorded in the change log with each entry added or updated); required unless dry_run"),
    ] = None,
) -> ImportReport:
    """Add or update catalog entries from a file, all or nothing; the report names each problem's row,
    column and reason. A dry run answers 200 with the report; a real import with problems is 422."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in IMPORT_TYPES:
        raise DomainError("unsupported_media_type", f"Send the file as {', '.join(IMPORT_TYPES)}")
    if reason is None and not dry_run:
        raise DomainError("validation_error", "an import needs a reason (recorded in the change log)", "/reason")
    raw = await request.body()
    parsed = await run_in_threadpool(service.read_file, raw, media_type=None if media == OCTET else media)
    change = None
    if reason is not None and not dry_run:
        items = parsed.items if not parsed.problems else []
        announced = await run_in_threadpool(impact.announcement, store.current, store.files, items, clock.today())
        change = ChangeRequest(Actor.api_key(principal.key_id, principal.name), reason, impact=announced)
    check = regulations.accelerator_check(store.files)
    result = await run_in_threadpool(
        service.import_catalog, store.engine, parsed, check=check, change=change, dry_run=dry_run
    )
    if result.committed:
        await run_in_threadpool(store.refresh)
    return service.import_answer(result)
