"""Tables of the regulations package: ruleset versions and dated Country Group changes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.db import UtcDateTime


class StoredRuleset(SQLModel, table=True):
    """A ruleset version. A change is a new row; only a correction shipped in a new release of the
    reference data rewrites one, and then the text it replaces is kept in ``ruleset_revision``."""

    __tablename__ = "ruleset"
    id: str = Field(primary_key=True, max_length=80)
    family: str = Field(max_length=60, index=True)
    effective_from: date
    effective_to: date | None = None
    enforced: bool
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class RulesetRevision(SQLModel, table=True):
    """The text a shipped correction replaced (append-only): what earlier decisions were answered on."""

    __tablename__ = "ruleset_revision"
    id: int | None = Field(default=None, primary_key=True)
    ruleset_id: str = Field(max_length=80, index=True)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    stored_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    replaced_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    replaced_by_hash: str = Field(max_length=64)
    replaced_in: str = Field(max_length=80, description="Reference data version that shipped the correction")


class CountryGroupChange(SQLModel, table=True):
    """A dated add/remove of a country in a Country Group (append-only)."""

    __tablename__ = "country_group_change"
    id: int | None = Field(default=None, primary_key=True)
    group: str = Field(max_length=3)
    country: str = Field(max_length=2)
    action: str = Field(max_length=6)
    effective: date
    citation: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))

    def fields(self) -> dict[str, Any]:
        """The change as a document (GroupChangeDoc's fields)."""
        return {
            "group": self.group,
            "country": self.country,
            "action": self.action,
            "effective": self.effective,
            "citation": self.citation,
        }
