"""Request and response shapes of classifications, screenings and histories."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.catalog.schemas import AcceleratorId, SpecIn
from app.rules.classify import (
    CitationOut,
    RulesetClassification,
    RulesetRef,
    TppResult,
)
from app.rules.licensing import DISCLAIMER, ExceptionOut, Reason
from app.rules.outcome import Action, Outcome
from app.rules.ranges import RangeAnalysis
from app.text import NO_CONTROLS, NOT_BLANK_NO_CONTROLS, NoControls
from app.vocabulary import AsOf, CountryInput, IsoDate, TransactionType, UtcDatetime

DETERMINED = Field(
    True,
    description="False when a figure known only as a range decides the outcome: the fields then show the most "
    "restrictive outcome across the range, and range_analysis says where each outcome holds",
)
RANGE_ANALYSIS = Field(
    None, description="Present when a figure is a range: whether the range decides, and where each outcome holds"
)

RulesetId = Annotated[str, NoControls, StringConstraints(min_length=1, max_length=80, pattern=NO_CONTROLS)]


class ItemRef(BaseModel):
    """Exactly one of ``accelerator_id`` (catalog) or ``spec`` (figures)."""

    accelerator_id: AcceleratorId | None = None
    spec: SpecIn | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ItemRef:
        if (self.accelerator_id is None) == (self.spec is None):
            raise ValueError("give exactly one of accelerator_id or spec")
        return self


class ClassificationRequest(ItemRef):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"accelerator_id": "nvidia-h100-sxm5-80gb", "as_of": "2025-06-01"},
                {
                    "spec": {
                        "throughput": [{"precision": "fp16", "dense_tops": 148}],
                        "die_area_mm2": 814,
                        "datacenter": True,
                    }
                },
            ]
        },
    )
    as_of: AsOf | None = None
    hypothetical_rulesets: Annotated[list[RulesetId], Field(max_length=5)] = Field(
        default_factory=list,
        description="Evaluate as if these rulesets (e.g. a non-enforced one) applied; "
        "the answer is marked hypothetical",
    )


class ClassificationResponse(BaseModel):
    """A pure function of the item, the day and the rules (``data_version``): the same request gives
    the same bytes and ETag until the rules change. When it was computed is the HTTP ``Date``."""

    accelerator_id: str | None
    as_of: date
    eccn: str | None = Field(description="3A090.a, 3A090.b, 3A090.c, or null when not controlled under 3A090")
    assembly_eccn: str | None = Field(description="ECCN of computers and assemblies containing the IC (4A090)")
    tpp: TppResult | None
    performance_density: float | None
    memory_bandwidth_density: float | None
    notes_applied: list[str]
    summary: str
    rulesets: list[RulesetClassification]
    spec_notes: list[str]
    warnings: list[str]
    hypothetical: bool
    data_version: str
    definitions: CitationOut
    determined: bool = DETERMINED
    range_analysis: RangeAnalysis | None = RANGE_ANALYSIS
    disclaimer: str = DISCLAIMER


class EndUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # bounded as sent (the schema's bound), then trimmed; `\S`: not blank
    name: Annotated[
        str,
        NoControls,
        StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK_NO_CONTROLS),
        AfterValidator(str.strip),
    ]
    headquarters: CountryInput | None = Field(None, description="Where the end user is headquartered")
    parent_headquarters: CountryInput | None = Field(None, description="Where its ultimate parent is headquartered")


class ScreeningLine(ItemRef):
    model_config = ConfigDict(extra="forbid")
    key: Annotated[str, NoControls, StringConstraints(min_length=1, max_length=100, pattern=NO_CONTROLS)] = Field(
        description="Client-chosen line key, echoed in the answer; unique within a screening"
    )
    quantity: StrictInt = Field(ge=1, le=1_000_000_000)


class ScreeningRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "destination": "SG",
                    "end_user": {"name": "Example Pte Ltd", "headquarters": "SG", "parent_headquarters": "CN"},
                    "lines": [
                        {"key": "1", "accelerator_id": "nvidia-h20-96gb", "quantity": 8},
                        {"key": "2", "accelerator_id": "nvidia-l40-48gb", "quantity": 4},
                    ],
                    "as_of": "2026-03-01",
                }
            ]
        },
    )
    destination: CountryInput = Field(description="ISO 3166-1 alpha-2; HK is treated as CN")
    end_user: EndUser
    lines: Annotated[list[ScreeningLine], Field(min_length=1, max_length=1000)]
    as_of: AsOf | None = None
    transaction_type: TransactionType = Field(
        "export", description="export from the US, reexport, or in-country transfer"
    )
    reference: Annotated[str, NoControls, StringConstraints(max_length=200, pattern=NO_CONTROLS)] | None = Field(
        None, description="The caller's order reference, kept with the decision"
    )
    hypothetical_rulesets: Annotated[list[RulesetId], Field(max_length=5)] = Field(
        default_factory=list,
        description="Evaluate as if these rulesets applied; a hypothetical answer is not stored as a decision",
    )
    open_until: IsoDate | None = Field(
        None,
        description="Keep this screening open until this day (the expected ship date, at most "
        "CHIPCLASS_MONITOR_MAX_DAYS ahead): it is screened again after every rule change, and a new "
        "version is stored (with a `screening.outcome_changed` event) when an outcome changes. "
        "Close it earlier with POST /v1/screenings/{id}/close",
    )

    @field_validator("lines")
    @classmethod
    def _unique_keys(cls, lines: list[ScreeningLine]) -> list[ScreeningLine]:
        seen: set[str] = set()
        dupes = [line.key for line in lines if line.key in seen or seen.add(line.key)]  # type: ignore[func-returns-value]
        if dupes:
            raise ValueError(f"line keys must be unique; repeated: {', '.join(sorted(set(dupes))[:10])}")
        return lines


class LineClassification(BaseModel):
    eccn: str | None
    assembly_eccn: str | None
    tpp: TppResult | None
    performance_density: float | None
    notes_applied: list[str]
    summary: str


class LineResult(BaseModel):
    key: str
    accelerator_id: str | None
    quantity: int
    classification: LineClassification
    license_required: bool
    reasons: list[Reason]
    license_exceptions: list[ExceptionOut] = Field(description="Exceptions that cover every reason of this line")
    review_policy: str | None
    outcome: Outcome = Field(
        description="clear: no licence required; exception: a licence exception covers every reason; "
        "license_required: apply for a licence; undetermined: a deciding figure is missing or uncertain"
    )
    action: Action = Field(description="release, or hold (licence, undetermined, or an exception's notification)")
    notification_required: bool = Field(
        description="The exception covering this line needs prior notification to BIS: hold until its review ends"
    )
    warnings: list[str]
    determined: bool = DETERMINED
    range_analysis: RangeAnalysis | None = RANGE_ANALYSIS


class Cause(BaseModel):
    """Why a screening was screened again: a reference-data change, a dated change taking effect, or both."""

    reference_revision: int = Field(description="The reference-data revision screened against")
    previous_revision: int = Field(description="The revision the superseded version was checked against")
    on: date = Field(description="The day screened as of")
    previous_on: date = Field(description="The day the superseded version was last checked as of")
    taking_effect: list[str] = Field(
        description="Rulesets and Country Group changes whose effective date passed between the two days"
    )
    changes: list[str] = Field(
        default_factory=list,
        description="Change-log ids (GET /v1/changes) of the reference changes made between the two revisions",
    )


class Provenance(BaseModel):
    rulesets: list[RulesetRef]
    data_version: str
    as_of: date
    evaluated_at: datetime
    engine: str


class ScreeningResponse(BaseModel):
    id: str | None = Field(description="Decision id; null for a hypothetical answer, which is not stored")
    hypothetical: bool
    license_required: bool
    determined: bool = Field(
        True, description="False when a ranged figure decides the outcome of any line (see that line)"
    )
    outcome: Outcome = Field(description="The most restrictive outcome of the lines")
    action: Action = Field(description="hold when any line is held, else release")
    destination: str
    treated_as: str
    end_user: EndUser
    transaction_type: TransactionType
    reference: str | None
    lines: list[LineResult]
    warnings: list[str]
    provenance: Provenance
    screening_id: str | None = Field(
        None, description="The screening this answer is a version of (its first decision id); null if hypothetical"
    )
    open_until: date | None = Field(None, description="Monitored (re-screened on rule changes) until this day")
    supersedes: str | None = Field(None, description="The decision this re-screening replaces")
    cause: Cause | None = Field(None, description="Why this re-screening was made")
    disclaimer: str = DISCLAIMER
    # each line's JSON, as `model_dump_json` would write it, assembled by the service from pieces
    # serialised once per distinct line (see app/screening/service.py `render`)
    _line_json: list[str] | None = PrivateAttr(default=None)
    _rulesets_json: str | None = PrivateAttr(default=None)  # provenance.rulesets, serialised once


class HistoryInterval(BaseModel):
    effective_from: date | None = Field(description="null: since before the first control")
    effective_to: date | None = Field(description="exclusive; null: still in force")
    rulesets: list[str]
    eccn: str | None
    license_required: bool
    reasons: list[Reason]
    license_exceptions: list[ExceptionOut]
    review_policy: str | None
    summary: str
    warnings: list[str]
    determined: bool = DETERMINED
    range_analysis: RangeAnalysis | None = RANGE_ANALYSIS


class HistoryResponse(BaseModel):
    accelerator_id: str
    destination: str
    headquarters: str | None
    parent_headquarters: str | None
    transaction_type: TransactionType
    intervals: list[HistoryInterval]
    data_version: str
    disclaimer: str = DISCLAIMER


class CloseRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"status": "shipped", "reason": "shipped on AWB 176-12345675"}]}
    )
    status: Literal["shipped", "cancelled"] = Field(description="Why monitoring ends")
    reason: Annotated[
        str, StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")
    ] = Field(description="A human reason, kept in the decision log (e.g. the shipment or cancellation note)")


class MonitorStatus(BaseModel):
    status: Literal["open", "shipped", "cancelled", "expired"]
    open_until: date
    version: int = Field(description="The number of the latest version")
    latest_decision_id: str
    closed_at: UtcDatetime | None
    close_reason: str | None


class ScreeningVersionOut(BaseModel):
    decision_id: str
    version: int
    outcome: Outcome
    created_at: UtcDatetime
    screening: ScreeningResponse = Field(description="The version exactly as stored")


class ScreeningHistory(BaseModel):
    screening_id: str
    reference: str | None
    monitor: MonitorStatus | None = Field(description="null: the screening was not kept open")
    versions: list[ScreeningVersionOut] = Field(description="Latest first")


class ScreeningSummary(BaseModel):
    screening_id: str
    decision_id: str
    version: int
    reference: str | None
    outcome: Outcome
    created_at: UtcDatetime
    status: Literal["open", "shipped", "cancelled", "expired"] | None = Field(description="null: not kept open")


class ScreeningList(BaseModel):
    items: list[ScreeningSummary] = Field(description="Newest first")
    next_cursor: str | None
