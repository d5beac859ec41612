from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.events.service import EventType
from app.vocabulary import UtcDatetime


class EventRecord(BaseModel):
    """An event as published (the same document a webhook delivery carries as its body)."""

    id: str = Field(description="Stable event id; the `webhook-id` of every delivery of this event")
    seq: int = Field(description="Position in the event stream; pass the last one seen as `after`")
    type: EventType
    timestamp: UtcDatetime
    subject: str | None = Field(description="The screening, change or subscription the event is about")
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventRecord]
    next_cursor: str = Field(description="Pass as `after` to continue (the last seq returned, or `after` if none)")
