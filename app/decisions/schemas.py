"""The decision log as an auditor reads it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.vocabulary import UtcDatetime


class DecisionRecord(BaseModel):
    seq: int
    id: str
    kind: str
    created_at: UtcDatetime
    api_key_id: str | None
    request_id: str
    idempotency_key: str | None
    rulesets: list[str]
    data_version: str
    request: dict[str, Any]
    response: dict[str, Any]
    prev_hash: str
    hash: str


class DecisionPage(BaseModel):
    items: list[DecisionRecord]
    next_cursor: str | None
