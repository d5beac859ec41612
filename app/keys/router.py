"""HTTP management of API keys (admin scope). The CLI offers the same."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from app.deps import Admin, AnyKey, EngineDep
from app.errors import responses
from app.http import record_json
from app.keys import service
from app.keys.schemas import KeyCreate, KeyCreated, KeyList, KeyRead

router = APIRouter(prefix="/v1/keys", tags=["keys"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "database_unavailable")


@router.post(
    "",
    operation_id="create_key",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses={**COMMON, **responses("payload_too_large", "unsupported_media_type")},
)
async def create_api_key(body: KeyCreate, engine: EngineDep, _: Admin) -> Response:
    created = await run_in_threadpool(service.create_key, engine, body.name, list(body.scopes))
    return record_json(created.model_dump_json(), status_code=status.HTTP_201_CREATED)


@router.get("/current", operation_id="current_key", response_model=KeyRead, responses=COMMON)
async def current_api_key(engine: EngineDep, principal: AnyKey) -> KeyRead:
    """The key making the request: its name and scopes (any valid key), so a client can offer only
    what the key may do."""
    return await run_in_threadpool(service.current_key, engine, principal.key_id)


@router.get("", operation_id="list_keys", response_model=KeyList, responses=COMMON)
async def list_api_keys(engine: EngineDep, _: Admin) -> KeyList:
    return await run_in_threadpool(service.list_keys, engine)


@router.post(
    "/{key_id}/revoke",
    operation_id="revoke_key",
    response_model=KeyRead,
    responses={**COMMON, **responses("not_found")},
)
async def revoke_api_key(
    request: Request, key_id: Annotated[str, Path(max_length=40)], engine: EngineDep, _: Admin
) -> KeyRead:
    """Revoke a key: at once on this replica, within the key cache TTL on others."""
    result = await run_in_threadpool(service.revoke_key, engine, key_id)
    request.app.state.keys.forget()
    return result
