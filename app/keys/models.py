from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.db import UtcDateTime


class ApiKey(SQLModel, table=True):
    """An API key: only its SHA-256 hash is stored; revoked keys stay (revoked_at set)."""

    __tablename__ = "api_key"
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    key_hash: str = Field(max_length=64)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
