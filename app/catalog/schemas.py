"""Accelerator specs: the catalog record, and the spec a caller may send instead of an id."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from app.changes.schemas import Reason
from app.decimals import PositiveDecimal
from app.text import NO_CONTROLS, NoControls
from app.vocabulary import Short

Precision = Literal["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp6", "fp4", "int4"]
Positive = PositiveDecimal
AcceleratorId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$")]
SourceKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")]

_strict = ConfigDict(extra="forbid")


class Source(BaseModel):
    model_config = _strict
    title: Short
    url: Annotated[str, NoControls, StringConstraints(max_length=500, pattern=NO_CONTROLS)] | None = None
    kind: Literal["vendor_datasheet", "vendor_page", "database", "press", "filing", "unverified"]
    accessed: Annotated[str, NoControls, StringConstraints(max_length=40, pattern=NO_CONTROLS)] | None = None
    note: Annotated[str, NoControls, StringConstraints(max_length=1000, pattern=NO_CONTROLS)] | None = None


def check_bounds(exact: Decimal | None, low: Decimal | None, high: Decimal | None, name: str) -> None:
    """A figure is either exact (``name``) or a range (``min`` below ``max``), never both."""
    if exact is not None and (low is not None or high is not None):
        raise ValueError(f"give either {name} or min and max, not both")
    if exact is None and (low is None or high is None):
        raise ValueError(f"give {name}, or both min and max for a range")
    if low is not None and high is not None and not low < high:
        raise ValueError(f"min ({low}) must be less than max ({high})")


class Figure(BaseModel):
    """A figure with its source: exact (``value``) or known only between ``min`` and ``max``."""

    model_config = _strict
    value: Positive | None = None
    min: Positive | None = Field(None, description="Lower bound, for a figure known only as a range")
    max: Positive | None = Field(None, description="Upper bound, for a figure known only as a range")
    source: SourceKey
    note: Annotated[str, NoControls, StringConstraints(max_length=1000, pattern=NO_CONTROLS)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Figure:
        check_bounds(self.value, self.min, self.max, "value")
        return self


class Evidence(BaseModel):
    model_config = _strict
    text: Annotated[str, NoControls, StringConstraints(min_length=1, max_length=1000, pattern=NO_CONTROLS)]
    source: SourceKey


class UsAvailability(BaseModel):
    """Whether the item was commercially available in the US, as known on ``as_of`` (a dated fact)."""

    model_config = _strict
    value: StrictBool
    as_of: date
    source: SourceKey
    note: Annotated[str, NoControls, StringConstraints(max_length=1000, pattern=NO_CONTROLS)] | None = None


class CatalogThroughput(BaseModel):
    """Dense peak throughput at one precision: exact (``dense_tops``) or a range (``min``/``max``)."""

    model_config = _strict
    precision: Precision
    dense_tops: Positive | None = None
    min: Positive | None = Field(None, description="Lower bound of the dense figure, for a range")
    max: Positive | None = Field(None, description="Upper bound of the dense figure, for a range")
    source: SourceKey
    note: Annotated[str, NoControls, StringConstraints(max_length=1000, pattern=NO_CONTROLS)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> CatalogThroughput:
        check_bounds(self.dense_tops, self.min, self.max, "dense_tops")
        return self


class AcceleratorRecord(BaseModel):
    """One catalog entry as shipped in app/data/accelerators.yaml (sources by key)."""

    model_config = _strict
    id: AcceleratorId
    vendor: Annotated[str, NoControls, StringConstraints(min_length=1, max_length=60, pattern=NO_CONTROLS)]
    model: Short
    aliases: Annotated[list[Short], Field(max_length=20)] = []
    released: Annotated[str, NoControls, StringConstraints(max_length=20, pattern=NO_CONTROLS)] | None = None
    datacenter: StrictBool
    datacenter_evidence: Evidence | None = None
    throughput: Annotated[list[CatalogThroughput], Field(min_length=1, max_length=10)]
    die_area_mm2: Figure
    memory_bandwidth_gbps: Figure | None = None
    interconnect_bandwidth_gbps: Figure | None = None
    memory_gb: Positive | None = None
    kind: Literal["logic", "hbm"] = "logic"
    us_available: UsAvailability | None = Field(
        None,
        description="Commercially available in the US, as known on a day; unknown never makes an answer "
        "less restrictive (the 2026 China band needs it)",
    )


EXAMPLE: dict[str, Any] = {
    "id": "acme-x1",
    "vendor": "Acme",
    "model": "X1",
    "datacenter": True,
    "throughput": [{"precision": "fp16", "dense_tops": "200", "source": "acme-x1-datasheet"}],
    "die_area_mm2": {"value": "600", "source": "acme-x1-datasheet"},
    "memory_bandwidth_gbps": {"value": "2000", "source": "acme-x1-datasheet"},
    "sources": {"acme-x1-datasheet": {"title": "Acme X1 datasheet", "kind": "vendor_datasheet"}},
}


class AcceleratorCreate(AcceleratorRecord):
    """A new catalog entry; its sources travel with it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE]},
    )
    sources: Annotated[dict[SourceKey, Source], Field(min_length=1, max_length=30)]


class AcceleratorSubmission(AcceleratorCreate):
    """A new catalog entry to add, with the reason for the change (recorded in the change log)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{**EXAMPLE, "reason": "Datasheet v1.2 published today; EXP-9"}]},
    )
    reason: Reason = Field(description="Why the entry is added (the datasheet, notice or ticket behind it); recorded")

    def document(self) -> AcceleratorCreate:
        return AcceleratorCreate.model_validate(self.model_dump(exclude={"reason"}))


class AcceleratorRead(AcceleratorCreate):
    """A catalog entry with the sources its figures cite."""

    data_version: str


class AcceleratorPage(BaseModel):
    items: list[AcceleratorRead]
    next_cursor: str | None
    data_version: str


class SpecThroughput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    precision: Precision
    dense_tops: Positive = Field(description="Dense (not sparse) peak TOPS or TFLOPS at this precision")
    sparse: StrictBool = Field(
        False, description="Set when the figure is a structured-sparsity figure: it is halved, and said so"
    )


class SpecUsAvailability(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: bool
    as_of: date = Field(description="The day the fact was true (YYYY-MM-DD)")


class SpecIn(BaseModel):
    """An accelerator described by its figures instead of a catalog id."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "throughput": [{"precision": "fp16", "dense_tops": 148}],
                    "die_area_mm2": 814,
                    "memory_bandwidth_gbps": 4000,
                    "interconnect_bandwidth_gbps": 900,
                    "datacenter": True,
                }
            ]
        },
    )
    throughput: Annotated[list[SpecThroughput], Field(max_length=10)] = Field(
        default_factory=list, description="Dense peak throughput per precision; required for a logic IC"
    )
    die_area_mm2: Positive | None = Field(None, description="Applicable die area (Technical Note 4), mm2")
    memory_bandwidth_gbps: Positive | None = None
    interconnect_bandwidth_gbps: Positive | None = Field(
        None, description="Aggregate bidirectional chip-to-chip I/O bandwidth, GB/s"
    )
    datacenter: StrictBool = Field(description="Designed or marketed for use in datacenters")
    kind: Literal["logic", "hbm"] = Field("logic", description="logic IC, or a stand-alone HBM stack (3A090.c)")
    us_available: SpecUsAvailability | None = Field(
        None, description="Commercially available in the US as known on a day; omitted means unknown"
    )


class ImportProblem(BaseModel):
    row: str = Field(description="Spreadsheet line (the header is row 1), or a YAML path such as accelerators[3]")
    column: str = Field(description="The column (CSV) or field path (YAML) at fault")
    reason: str
    id: str | None = Field(None, description="The accelerator id of the row, when it could be read")


class ImportReport(BaseModel):
    """What an import did, or would do (dry run); nothing is written when ``problems`` is not empty."""

    dry_run: bool
    committed: bool = Field(description="True when this import wrote to the catalog (all rows, in one transaction)")
    rows: int
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    problems: list[ImportProblem]
    report: list[str] = Field(description="The same, as readable lines (as `chipclass catalog import` prints)")
