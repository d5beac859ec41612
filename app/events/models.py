"""The outbox: every event is written in the transaction of the record it reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Text
from sqlmodel import Field, SQLModel


class Event(SQLModel, table=True):
    """One event, numbered in commit order (``seq``) and named by a stable ``id``.

    ``seq`` is taken from the single ``event_head`` row inside the writing transaction, so the
    row lock orders events exactly as their transactions commit: a reader paging ``seq > cursor``
    never skips an event that commits later with a smaller number.
    """

    __tablename__ = "event"
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    id: str = Field(max_length=40, unique=True)
    type: str = Field(max_length=40, index=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    subject: str | None = Field(default=None, max_length=80, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))


class EventHead(SQLModel, table=True):
    """The last event number: one row, locked by every event writer until it commits."""

    __tablename__ = "event_head"
    id: int = Field(default=1, primary_key=True)
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
