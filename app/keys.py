"""HTTP management of API keys (admin scope). The CLI offers the same."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import Session, col, select

from app.db import session_scope
from app.deps import Admin, AnyKey, EngineDep
from app.errors import ProblemError, responses
from app.http import UtcDatetime
from app.security import ApiKey, Scope, create_key, revoke
from app.text import NOT_BLANK_NO_CONTROLS, NoControls

router = APIRouter(prefix="/v1/keys", tags=["keys"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "database_unavailable")


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "erp-prod", "scopes": ["read", "screen"]}]}
    )
    # bounded as sent (the schema's bound), then trimmed; `\S`: not blank
    name: Annotated[
        str,
        NoControls,
        StringConstraints(min_length=1, max_length=100, pattern=NOT_BLANK_NO_CONTROLS),
        AfterValidator(str.strip),
    ]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=4)]


class KeyRead(BaseModel):
    id: str
    name: str
    scopes: list[str]
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None


class KeyCreated(KeyRead):
    key: str = Field(description="The key itself; shown once, never stored")


class KeyList(BaseModel):
    items: list[KeyRead]


def _read(row: ApiKey) -> KeyRead:
    return KeyRead(id=row.id, name=row.name, scopes=row.scopes, created_at=row.created_at, revoked_at=row.revoked_at)


@router.post(
    "",
    operation_id="create_key",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses={**COMMON, **responses("payload_too_large", "unsupported_media_type")},
)
async def create_api_key(body: KeyCreate, engine: EngineDep, _: Admin) -> Response:
    def work() -> KeyCreated:
        with session_scope(engine) as session:
            row, raw = create_key(session, body.name, list(body.scopes))
            return KeyCreated(**_read(row).model_dump(), key=raw)

    created = await run_in_threadpool(work)
    return Response(
        created.model_dump_json(), status_code=201, media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.get("/current", operation_id="current_key", response_model=KeyRead, responses=COMMON)
async def current_api_key(engine: EngineDep, principal: AnyKey) -> KeyRead:
    """The key making the request: its name and scopes (any valid key), so a client can offer only
    what the key may do."""

    def work() -> KeyRead | None:
        with Session(engine) as session:
            row = session.get(ApiKey, principal.key_id)
            return _read(row) if row else None

    result = await run_in_threadpool(work)
    if result is None:
        raise ProblemError("unauthorized", "Unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return result


@router.get("", operation_id="list_keys", response_model=KeyList, responses=COMMON)
async def list_api_keys(engine: EngineDep, _: Admin) -> KeyList:
    def work() -> KeyList:
        with Session(engine) as session:
            return KeyList(items=[_read(r) for r in session.exec(select(ApiKey).order_by(col(ApiKey.created_at)))])

    return await run_in_threadpool(work)


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

    def work() -> KeyRead | None:
        with session_scope(engine) as session:
            if not revoke(session, key_id):
                return None
            row = session.get(ApiKey, key_id)
            return _read(row) if row else None

    result = await run_in_threadpool(work)
    if result is None:
        raise ProblemError("not_found", f"No key {key_id!r}")
    request.app.state.keys.forget()
    return result
