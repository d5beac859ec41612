from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.db import UtcDateTime


class Accelerator(SQLModel, table=True):
    """A catalog entry; ``document`` is the validated AcceleratorCreate, sources included."""

    __tablename__ = "accelerator"
    id: str = Field(primary_key=True, max_length=80)
    vendor: str = Field(max_length=60, index=True)
    model: str = Field(max_length=300)
    datacenter: bool
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    data_version: str = Field(max_length=80)
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
