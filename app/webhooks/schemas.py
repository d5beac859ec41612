from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.events.service import EventType
from app.vocabulary import UtcDatetime
from app.webhooks.models import WebhookDelivery, WebhookSubscription

Url = Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$")]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://erp.example.com/hooks/chipclass",
                    "event_types": ["screening.outcome_changed", "screening.closed"],
                    "description": "order desk",
                }
            ]
        },
    )
    url: Url = Field(description="http(s) endpoint that receives signed POSTs")
    event_types: list[EventType] = Field(min_length=1, max_length=10, description="Event types to deliver")
    description: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] | None = None


class WebhookRead(BaseModel):
    id: str
    url: str
    event_types: list[EventType]
    description: str | None
    created_at: UtcDatetime
    enabled: bool
    disabled_reason: str | None
    cursor: int = Field(description="Seq of the last event delivered or skipped; later events are pending")
    failures: int = Field(description="Consecutive failed attempts at the pending event")
    next_attempt_at: UtcDatetime | None

    @classmethod
    def of(cls, sub: WebhookSubscription) -> WebhookRead:
        return cls(
            id=sub.id,
            url=sub.url,
            event_types=json.loads(sub.event_types),
            description=sub.description,
            created_at=sub.created_at,
            enabled=sub.enabled,
            disabled_reason=sub.disabled_reason,
            cursor=sub.cursor,
            failures=sub.failures,
            next_attempt_at=sub.next_attempt_at,
        )


class WebhookCreated(WebhookRead):
    secret: str = Field(description="Signing secret (Standard Webhooks `whsec_...`): shown once, store it now")


class WebhookList(BaseModel):
    items: list[WebhookRead]


class DeliveryRead(BaseModel):
    id: int
    event_id: str
    event_seq: int
    event_type: str
    attempt: int = Field(description="Attempt number for this event (0 for a manual redelivery)")
    attempted_at: UtcDatetime
    outcome: str = Field(
        description="succeeded, retrying (will be retried), or failed (gave up; subscription disabled)"
    )
    status_code: int | None
    error: str | None
    duration_ms: int
    manual: bool

    @classmethod
    def of(cls, d: WebhookDelivery) -> DeliveryRead:
        assert d.id is not None
        return cls(
            id=d.id,
            event_id=d.event_id,
            event_seq=d.event_seq,
            event_type=d.event_type,
            attempt=d.attempt,
            attempted_at=d.attempted_at,
            outcome=d.outcome,
            status_code=d.status_code,
            error=d.error,
            duration_ms=d.duration_ms,
            manual=d.manual,
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None


class Accepted(BaseModel):
    event_id: str
    status: str = "queued"
