"""API key requests and responses, and the scopes a key may hold."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.text import NOT_BLANK_NO_CONTROLS, NoControls
from app.vocabulary import UtcDatetime

Scope = Literal["read", "screen", "admin", "audit"]
SCOPES: tuple[Scope, ...] = ("read", "screen", "admin", "audit")


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "erp-prod", "scopes": ["read", "screen"]}]}
    )
    # bounded as sent (the schema's bound), then trimmed; `\S`: not blank
    name: Annotated[
        str,
        NoControls,
        StringConstraints(min_length=1, max_length=100, pattern=NOT_BLANK_NO_CONTROLS),
        AfterValidator(str.strip),
    ]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=4)]


class KeyRead(BaseModel):
    id: str
    name: str
    scopes: list[str]
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None


class KeyCreated(KeyRead):
    key: str = Field(description="The key itself; shown once, never stored")


class KeyList(BaseModel):
    items: list[KeyRead]
