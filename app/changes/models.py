from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, DateTime, Text
from sqlmodel import Field, SQLModel


class ReferenceChange(SQLModel, table=True):
    """One change to reference data, hash-chained to the one before. Never updated or deleted."""

    __tablename__ = "reference_change"
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    id: str = Field(max_length=26, unique=True)
    kind: str = Field(max_length=30, index=True)
    subject: str = Field(max_length=200)
    effective: date | None = None
    retroactive: bool
    actor_kind: str = Field(max_length=10)
    actor_id: str | None = Field(default=None, max_length=40)
    actor_name: str = Field(max_length=100)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    document: str = Field(sa_column=Column(Text, nullable=False))
    revision: int | None = None
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class ChangeChain(SQLModel, table=True):
    """The change log's chain head: one row, locked by every writer so the chain never forks."""

    __tablename__ = "change_chain"
    id: int = Field(default=1, primary_key=True)
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_hash: str = Field(max_length=64)
