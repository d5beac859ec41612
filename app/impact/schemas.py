"""Impact analysis over HTTP: a proposed document (or a stored change) in, differences out."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.catalog.schemas import AcceleratorCreate
from app.changes.schemas import ImpactResult
from app.regulations.schemas import GroupChangeDoc, RulesetDoc
from app.vocabulary import IsoDate

ChangeId = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


class ImpactRequest(BaseModel):
    """Exactly one of a proposed ruleset, Country Group change or catalog entry, or a stored change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "country_group_change": {
                        "group": "D:5",
                        "country": "KH",
                        "action": "remove",
                        "effective": "2026-02-03",
                        "citation": {"source": "BIS conforming rule, RIN 0694-AK41", "source_kind": "regulation"},
                    }
                }
            ]
        },
    )
    ruleset: RulesetDoc | None = None
    country_group_change: GroupChangeDoc | None = None
    accelerator: AcceleratorCreate | None = None
    change_id: ChangeId | None = Field(None, description="A change from GET /v1/changes, replayed")
    on: IsoDate | None = Field(
        None, description="The date both sides are evaluated on (default: the document's effective date, else today)"
    )
    screenings_limit: Annotated[int, Field(ge=0, le=1000)] = Field(
        100, description="How many ids of stored screenings that would come out differently to return"
    )
    screenings_cursor: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="`screenings.next_cursor` of a previous answer: the next page of ids"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ImpactRequest:
        given = [self.ruleset, self.country_group_change, self.accelerator, self.change_id]
        if sum(x is not None for x in given) != 1:
            raise ValueError("give exactly one of ruleset, country_group_change, accelerator or change_id")
        return self


class ScreeningsImpact(BaseModel):
    checked: int = Field(description="Stored screenings re-evaluated on the date")
    differing: int = Field(description="How many would come out differently")
    ids: list[str] = Field(description="One page of their ids, oldest first")
    next_cursor: str | None


class ImpactResponse(ImpactResult):
    change: str = Field(description="What was compared")
    screenings: ScreeningsImpact | None = Field(description="Stored screenings that would come out differently")


class ImpactStep(BaseModel):
    date: date
    changes: list[str] = Field(description="Rulesets starting or ending, Country Group changes, on this date")
    impact: ImpactResult


class ImpactBetween(BaseModel):
    from_date: date = Field(alias="from")
    to_date: date = Field(alias="to")
    steps: list[ImpactStep] = Field(description="Each date in (from, to] on which the published rules changed")
    next_from: date | None = Field(
        None, description="More change dates remain after this one: ask again with `from` set to it"
    )

    model_config = ConfigDict(populate_by_name=True)
