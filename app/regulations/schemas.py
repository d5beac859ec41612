"""Ruleset documents: the one schema for shipped YAML, the admin API and browsing.

Validation here is what makes a ruleset well-formed: known metrics, operators that fit their
values, at least one citation, a sane effective range.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from app.changes.schemas import ChangeFields, ChangeReceipt
from app.decimals import ThresholdDecimal
from app.rules.vocabulary import FLAG_METRICS, SET_METRICS, allowed
from app.text import NO_CONTROLS, NoControls
from app.vocabulary import (
    ALL_TRANSACTIONS,
    CountryCode,
    GroupCode,
    PartyBasis,
    Short,
    SourceKind,
    Text,
    TransactionType,
    UtcDatetime,
)

NumericMetric = Literal[
    "tpp",
    "performance_density",
    "memory_bandwidth_density",
    "memory_bandwidth_gbps",
    "interconnect_bandwidth_gbps",
    "memory_plus_interconnect_gbps",
]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.()_: -]{0,79}$")]
Eccn = Annotated[str, StringConstraints(pattern=r"^[0-9][A-Z][0-9]{3}(\.[a-z])?$")]

NumericOperator = Literal[">=", ">", "<", "<=", "=="]
NUMERIC_OPERATORS: tuple[str, ...] = get_args(NumericOperator)
NumericCondition = tuple[NumericMetric, NumericOperator, ThresholdDecimal]
FlagCondition = tuple[Literal["datacenter"], Literal["=="], StrictBool]
SetCondition = tuple[
    Literal["eccn", "kind"],
    Literal["in"],
    Annotated[
        list[Annotated[str, NoControls, StringConstraints(max_length=40, pattern=NO_CONTROLS)]],
        Field(min_length=1, max_length=20),
    ],
]


def _known_metric(value: object) -> object:
    """Name an unknown metric or an operator that does not fit it once, with the allowed values,
    instead of one error per union branch."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        numeric = get_args(NumericMetric)
        known = (*numeric, *FLAG_METRICS, *SET_METRICS)
        if value[0] not in known:
            raise ValueError(f"{value[0]!r} is not a metric the engine knows; allowed: {allowed(known)}")
        ops = NUMERIC_OPERATORS if value[0] in numeric else ("==",) if value[0] in FLAG_METRICS else ("in",)
        if len(value) > 1 and value[1] not in ops:
            raise ValueError(f"operator {value[1]!r} does not fit {value[0]}; allowed: {allowed(ops)}")
    return value


Condition = Annotated[NumericCondition | FlagCondition | SetCondition, BeforeValidator(_known_metric)]
Conditions = Annotated[list[Condition], Field(min_length=1, max_length=20)]

_strict = ConfigDict(extra="forbid")


class CitationDoc(BaseModel):
    model_config = _strict
    source: Short
    source_kind: SourceKind
    url: Annotated[str, NoControls, StringConstraints(pattern=r"^https://\S+$", max_length=500)] | None = None
    document: Short | None = None
    note: Text | None = None


class ItemScopeDoc(BaseModel):
    """Items a rule reaches: every item (part 746 embargoes), ECCNs, or any of several condition sets."""

    model_config = _strict
    all_items: bool = False
    eccns: Annotated[list[Eccn], Field(max_length=20)] = []
    any_of: Annotated[list[Conditions], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _not_empty(self) -> ItemScopeDoc:
        if not self.all_items and not self.eccns and not self.any_of:
            raise ValueError("an item scope needs all_items, eccns or any_of")
        if self.all_items and (self.eccns or self.any_of):
            raise ValueError("all_items reaches every item: give no eccns or any_of with it")
        return self


class CountrySetDoc(BaseModel):
    model_config = _strict
    all_countries: StrictBool = False
    groups: Annotated[list[GroupCode], Field(max_length=20)] = []
    countries: Annotated[list[CountryCode], Field(max_length=300)] = []
    except_groups: Annotated[list[GroupCode], Field(max_length=20)] = []
    except_countries: Annotated[list[CountryCode], Field(max_length=300)] = []

    @model_validator(mode="after")
    def _not_empty(self) -> CountrySetDoc:
        if not (self.all_countries or self.groups or self.countries):
            raise ValueError("a country set needs all_countries, groups or countries")
        return self


TransactionTypes = Annotated[list[TransactionType], Field(min_length=1, max_length=3)]
Section = Annotated[str, NoControls, StringConstraints(min_length=1, max_length=40, pattern=NO_CONTROLS)]


class ExceptionDoc(BaseModel):
    model_config = _strict
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,5}$")]
    name: Short
    citation: Short
    notification_required: StrictBool
    eligible: ItemScopeDoc
    note: Text | None = None
    transaction_types: TransactionTypes = Field(
        default_factory=lambda: list(ALL_TRANSACTIONS),
        description="The transactions the exception authorises (notification is for exports and reexports)",
    )
    headquarters: CountrySetDoc | None = Field(
        None, description="Offered only when the end user or its ultimate parent is headquartered here"
    )


class DestinationRuleDoc(BaseModel):
    model_config = _strict
    id: Id
    label: Short
    citation: Short
    items: ItemScopeDoc
    destinations: CountrySetDoc | None = None
    headquarters: CountrySetDoc | None = None
    review_policy: Short | None = None
    exceptions: Annotated[list[ExceptionDoc], Field(max_length=10)] = []
    section: Section | None = Field(
        None, description='The provision holding the requirement ("742.6", "744.23", "746.8", "company letter")'
    )
    headquarters_located: CountrySetDoc | None = Field(
        None, description="Where an entity must be located for the headquarters basis to apply"
    )
    destination_basis: Literal["destination", "embargo"] = Field(
        "destination", description='"embargo" for part 746: a licence regardless of the 3A090 rules'
    )
    compliance_from: date | None = Field(
        None, description="First day of compliance, when later than the effective date"
    )

    @model_validator(mode="after")
    def _has_party(self) -> DestinationRuleDoc:
        if self.destinations is None and self.headquarters is None:
            raise ValueError("a destination rule needs destinations or headquarters")
        if self.headquarters_located is not None and self.headquarters is None:
            raise ValueError("headquarters_located needs headquarters")
        return self


class ReviewConditionDoc(BaseModel):
    model_config = _strict
    text: Text
    source: Short
    source_kind: SourceKind


class ReviewPolicyDoc(BaseModel):
    model_config = _strict
    id: Id
    label: Short
    citation: Short
    destinations: CountrySetDoc
    bases: Annotated[list[PartyBasis], Field(min_length=1, max_length=2)]
    transaction_types: TransactionTypes
    items: ItemScopeDoc
    review_policy: Short
    conditions_text: Text | None = None
    sections: Annotated[list[Section], Field(max_length=10)] = Field(
        default_factory=list, description="Only reasons from these provisions change (empty: all)"
    )
    us_available_on: date | None = Field(
        None, description="Only items commercially available in the US on this day (a dated catalog fact)"
    )
    conditions: Annotated[list[ReviewConditionDoc], Field(max_length=20)] = []


class ClauseDoc(BaseModel):
    model_config = _strict
    id: Id
    eccn: Eccn
    text: Text
    all: Conditions


class NoteDoc(BaseModel):
    model_config = _strict
    id: Annotated[str, NoControls, StringConstraints(min_length=1, max_length=80, pattern=NO_CONTROLS)]
    text: Text
    all: Conditions


class ClassificationDoc(BaseModel):
    model_config = _strict
    clauses: Annotated[list[ClauseDoc], Field(min_length=1, max_length=50)]
    notes: Annotated[list[NoteDoc], Field(max_length=20)] = []


class RulesetDoc(BaseModel):
    """A versioned ruleset: thresholds, destination rules, review policies, citations."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "example-2027-01-01",
                    "family": "example-family",
                    "title": "Example: licence for 3A090.a items to D:5",
                    "effective_from": "2027-01-01",
                    "enforced": True,
                    "source_kind": "regulation",
                    "citations": [{"source": "92 FR 1 (2027-01-01)", "source_kind": "regulation"}],
                    "destination_rules": [
                        {
                            "id": "example-d5",
                            "label": "3A090.a to D:5",
                            "citation": "15 CFR 742.6",
                            "items": {"eccns": ["3A090.a"]},
                            "destinations": {"groups": ["D:5"]},
                            "review_policy": "presumption of denial",
                        }
                    ],
                }
            ]
        },
    )
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{2,79}$")]
    family: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{2,59}$")]
    title: Short
    summary: Annotated[str, NoControls, StringConstraints(max_length=2000, pattern=NO_CONTROLS)] = ""
    effective_from: date
    effective_to: date | None = Field(None, description="First day it no longer applies (exclusive)")
    supersedes: Annotated[str, NoControls, StringConstraints(max_length=80, pattern=NO_CONTROLS)] | None = Field(
        None, description="An older ruleset of the same family that this one ends on its effective_from"
    )
    enforced: StrictBool = True
    source_kind: SourceKind
    citations: Annotated[list[CitationDoc], Field(min_length=1, max_length=20)]
    classification: ClassificationDoc | None = None
    destination_rules: Annotated[list[DestinationRuleDoc], Field(max_length=50)] = []
    review_policies: Annotated[list[ReviewPolicyDoc], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _consistent(self) -> RulesetDoc:
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        if not (self.classification or self.destination_rules or self.review_policies):
            raise ValueError("a ruleset needs classification, destination_rules or review_policies")
        rule_ids = [r.id for r in self.destination_rules] + [p.id for p in self.review_policies]
        if len(rule_ids) != len(set(rule_ids)):
            raise ValueError("rule ids must be unique within a ruleset")
        return self


class GroupChangeDoc(BaseModel):
    """One dated change of a Country Group membership."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "group": "D:5",
                    "country": "KH",
                    "action": "remove",
                    "effective": "2026-02-03",
                    "citation": {"source": "BIS conforming rule, RIN 0694-AK41", "source_kind": "regulation"},
                }
            ]
        },
    )
    group: GroupCode
    country: CountryCode
    action: Literal["add", "remove"]
    effective: date
    citation: CitationDoc


def _example_with_reason(model: type[BaseModel], reason: str) -> dict[str, Any]:
    extra: Any = model.model_config.get("json_schema_extra")
    return {**extra["examples"][0], "reason": reason}


class RulesetSubmission(RulesetDoc, ChangeFields):
    """A ruleset to add, with the reason for the change (recorded in the change log)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [_example_with_reason(RulesetDoc, "92 FR 1 published today; EXP-1234")]},
    )

    def document(self) -> RulesetDoc:
        return RulesetDoc.model_validate(self.model_dump(exclude=set(ChangeFields.model_fields)))


class GroupChangeSubmission(GroupChangeDoc, ChangeFields):
    """A Country Group change to record, with the reason for the change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "group": "D:5",
                    "country": "MY",
                    "action": "add",
                    "effective": "2030-01-01",
                    "citation": {"source": "BIS rule adding Malaysia to D:5", "source_kind": "regulation"},
                    "reason": "Published today; ticket EXP-1235",
                }
            ]
        },
    )

    def document(self) -> GroupChangeDoc:
        return GroupChangeDoc.model_validate(self.model_dump(exclude=set(ChangeFields.model_fields)))


class GroupChangeCreated(GroupChangeDoc, ChangeReceipt):
    """The recorded Country Group change, its change-log id and (if retroactive) its impact."""


# --- responses -----------------------------------------------------------------------------------


class RulesetSummary(BaseModel):
    id: str
    family: str
    title: str
    effective_from: date
    effective_to: date | None = Field(description="Exclusive end, including an end set by a superseding ruleset")
    superseded_by: str | None
    enforced: bool
    source_kind: str
    in_force_today: bool


class RulesetRead(RulesetDoc):
    effective_to_derived: date | None = Field(description="End date after applying `supersedes` links")
    superseded_by: str | None


class RulesetCreated(RulesetRead, ChangeReceipt):
    """The stored ruleset, its change-log id and (if retroactive) its impact."""


class RulesetList(BaseModel):
    items: list[RulesetSummary]
    data_version: str


class RulesetRevisionRead(BaseModel):
    ruleset_id: str
    document: dict[str, Any] = Field(description="The ruleset document as it was before the correction")
    content_hash: str
    stored_at: UtcDatetime = Field(description="When this text was stored")
    replaced_at: UtcDatetime
    replaced_in: str = Field(description="Reference data version that shipped the correction")


class RulesetRevisionList(BaseModel):
    items: list[RulesetRevisionRead]


class GroupChangeList(BaseModel):
    items: list[GroupChangeDoc]
    data_version: str


class Membership(BaseModel):
    group: str
    effective_from: date | None = Field(description="null: since before the first recorded change")
    effective_to: date | None
    citation: CitationDoc


class Country(BaseModel):
    code: str
    name: str
    treated_as: str | None = Field(description="The country the EAR treats it as (HK -> CN)")
    groups: list[str] = Field(description="Country Groups on as_of (of the treated-as country)")


class CountryDetail(Country):
    as_of: date
    memberships: list[Membership] = Field(description="Every recorded membership, past and present")


class CountryList(BaseModel):
    as_of: date
    items: list[Country]
    data_version: str
