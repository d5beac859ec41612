"""The change log's HTTP shapes: the fields every reference write carries, and the log's pages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.chain import ChainVerification

Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$"),
]


class ChangeFields(BaseModel):
    """What every change to reference data carries besides the document itself."""

    reason: Reason = Field(description="Why the change is made (the rule, notice or ticket behind it); recorded")
    retroactive: bool = Field(
        False,
        description="Required (true) when the document takes effect before today: it changes answers already given",
    )


class ChangeRead(BaseModel):
    id: str
    seq: int
    kind: Literal["ruleset", "country_group_change", "accelerator"]
    subject: str = Field(description="What changed: a ruleset id, `D:5 KH remove 2026-02-03`, an accelerator id")
    effective: date | None
    retroactive: bool
    actor_kind: Literal["api_key", "cli", "seed"]
    actor_id: str | None = Field(description="The API key id, for changes made over HTTP")
    actor_name: str
    reason: str
    document: dict[str, Any]
    revision: int | None = Field(description="The reference revision this change produced (data_version +r<n>)")
    created_at: datetime = Field(description="When it was recorded (UTC)")
    prev_hash: str
    hash: str


class ChangePage(BaseModel):
    items: list[ChangeRead]
    next_cursor: str | None


class OutcomeOut(BaseModel):
    license_required: bool | None = Field(description="null when the item's figures cannot decide")
    review_policy: str | None
    license_exceptions: list[str] = Field(description='Codes; "(notification)" when prior notification is needed')
    undetermined: str | None


class EccnChangeOut(BaseModel):
    accelerator_id: str
    before: str | None
    after: str | None
    in_catalog_before: bool
    in_catalog_after: bool


class DifferenceOut(BaseModel):
    accelerator_id: str
    profile: str = Field(description="`headquartered locally`, or `parent headquartered in <countries>`")
    destinations: list[str] = Field(description="Every destination country whose answer changed this way")
    before: OutcomeOut
    after: OutcomeOut
    summary: str = Field(description='e.g. "CN, HK, MO: licence now required"')


class ImpactResult(BaseModel):
    before_on: date
    after_on: date
    items: int = Field(description="Catalog items compared")
    countries: int = Field(description="Destination countries compared (every ISO 3166-1 code)")
    profiles: list[str]
    eccn_changes: list[EccnChangeOut]
    differences: list[DifferenceOut]
    summary: list[str] = Field(description="One line per difference, readable")


class ChangeReceipt(BaseModel):
    """The change a write recorded, and for a retroactive change what it did."""

    change_id: str = Field(description="The change log record (GET /v1/changes)")
    impact: ImpactResult | None = Field(
        None, description="For a retroactive change: what it changed on its effective date"
    )


class ChangeVerification(ChainVerification):
    pass
