"""Webhook subscriptions and their delivery log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Text
from sqlmodel import Field, SQLModel


class WebhookSubscription(SQLModel, table=True):
    """Where to push events. ``cursor`` is the last event handled: events after it are delivered
    one at a time in order, so a receiver that was down gets everything, in order, when it returns."""

    __tablename__ = "webhook_subscription"
    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(max_length=2000)
    event_types: str = Field(sa_column=Column(Text, nullable=False))
    secret: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_by: str | None = Field(default=None, max_length=40)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=500)
    cursor: int = Field(sa_column=Column(BigInteger, nullable=False))
    failures: int = 0
    failing_since: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    lease_owner: str | None = Field(default=None, max_length=60)
    lease_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class WebhookDelivery(SQLModel, table=True):
    """One delivery attempt, as the receiver answered it."""

    __tablename__ = "webhook_delivery"
    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(max_length=40, index=True)
    event_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_id: str = Field(max_length=40)
    event_type: str = Field(max_length=40)
    attempt: int
    attempted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    outcome: str = Field(max_length=20)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int
    manual: bool = False
