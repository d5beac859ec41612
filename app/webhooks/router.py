from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.deps import Admin, EngineDep
from app.errors import responses
from app.webhooks import service
from app.webhooks.schemas import (
    Accepted,
    DeliveryPage,
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookRead,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "database_unavailable")
NOT_FOUND = responses("unknown_webhook")
WebhookId = Annotated[str, Path(pattern=r"^wh_[0-9A-HJKMNP-TV-Z]{26}$")]


@router.post(
    "",
    operation_id="create_webhook",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses={**COMMON, **responses("payload_too_large", "unsupported_media_type")},
)
async def create_webhook(request: Request, body: WebhookCreate, engine: EngineDep, principal: Admin) -> WebhookCreated:
    """Subscribe a URL to events (admin). Deliveries start with the next event; the signing secret
    is in this answer only."""
    sub = await asyncio.to_thread(
        service.create,
        engine,
        body.url,
        list(body.event_types),
        body.description,
        principal.key_id,
        request.app.state.webhook_policy,
    )
    return WebhookCreated(**WebhookRead.of(sub).model_dump(), secret=sub.secret)


@router.get("", operation_id="list_webhooks", response_model=WebhookList, responses=COMMON)
async def list_webhooks(engine: EngineDep, _: Admin) -> WebhookList:
    return WebhookList(items=[WebhookRead.of(s) for s in await asyncio.to_thread(service.listing, engine)])


@router.get("/{webhook_id}", operation_id="get_webhook", response_model=WebhookRead, responses={**COMMON, **NOT_FOUND})
async def get_webhook(webhook_id: WebhookId, engine: EngineDep, _: Admin) -> WebhookRead:
    return WebhookRead.of(await asyncio.to_thread(service.get, engine, webhook_id))


@router.delete(
    "/{webhook_id}",
    operation_id="delete_webhook",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**COMMON, **NOT_FOUND},
)
async def delete_webhook(webhook_id: WebhookId, engine: EngineDep, _: Admin) -> Response:
    """Stop delivering to this subscription and forget it (its delivery log goes too)."""
    await asyncio.to_thread(service.delete, engine, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/enable",
    operation_id="enable_webhook",
    response_model=WebhookRead,
    responses={**COMMON, **NOT_FOUND},
)
async def enable_webhook(request: Request, webhook_id: WebhookId, engine: EngineDep, _: Admin) -> WebhookRead:
    """Resume deliveries (after a failure disabled it): the held event is tried again at once."""
    sub = await asyncio.to_thread(service.set_enabled, engine, webhook_id, True)
    request.app.state.events.notify()
    return WebhookRead.of(sub)


@router.post(
    "/{webhook_id}/disable",
    operation_id="disable_webhook",
    response_model=WebhookRead,
    responses={**COMMON, **NOT_FOUND},
)
async def disable_webhook(webhook_id: WebhookId, engine: EngineDep, _: Admin) -> WebhookRead:
    """Pause deliveries; events keep accumulating and are delivered in order once enabled."""
    return WebhookRead.of(await asyncio.to_thread(service.set_enabled, engine, webhook_id, False))


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="list_webhook_deliveries",
    response_model=DeliveryPage,
    responses={**COMMON, **NOT_FOUND},
)
async def list_webhook_deliveries(
    webhook_id: WebhookId,
    engine: EngineDep,
    _: Admin,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    """Every delivery attempt, newest first."""
    rows = await asyncio.to_thread(service.deliveries, engine, webhook_id, int(cursor) if cursor else None, limit + 1)
    items = [DeliveryRead.of(d) for d in rows[:limit]]
    return DeliveryPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


@router.post(
    "/{webhook_id}/deliveries/{event_id}/redeliver",
    operation_id="redeliver_webhook_event",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**COMMON, **NOT_FOUND, **responses("unknown_event")},
)
async def redeliver_webhook_event(
    request: Request,
    webhook_id: WebhookId,
    event_id: Annotated[str, Path(pattern=r"^msg_[0-9A-HJKMNP-TV-Z]{26}$")],
    engine: EngineDep,
    _: Admin,
) -> Accepted:
    """Send one event again now, with its original `webhook-id` (logged as a manual attempt)."""
    sub = await asyncio.to_thread(service.get, engine, webhook_id)
    event = await asyncio.to_thread(service.find_event, engine, event_id)
    request.app.state.dispatcher.spawn(request.app.state.dispatcher.redeliver(sub, event))
    return Accepted(event_id=event.id)


@router.post(
    "/{webhook_id}/test",
    operation_id="test_webhook",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={**COMMON, **NOT_FOUND},
)
async def test_webhook(request: Request, webhook_id: WebhookId, engine: EngineDep, _: Admin) -> Accepted:
    """Queue a `webhook.test` event for this subscription only; it is delivered in order."""
    event = await asyncio.to_thread(service.send_test, engine, webhook_id)
    request.app.state.events.notify()
    return Accepted(event_id=event.id)
