from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from app.deps import Admin, Reader, SnapshotDep, StoreDep
from app.errors import FieldProblem, ProblemError, responses
from app.http import UtcDatetime, cached_json
from app.regulations import loader
from app.regulations import service as reference
from app.regulations.schemas import CitationDoc, GroupChangeDoc, RulesetDoc
from app.screening.schemas import AsOfQuery
from app.screening.service import today

router = APIRouter(prefix="/v1", tags=["reference"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "not_ready")
WRITE = responses("conflict", "invalid_ruleset", "payload_too_large", "unsupported_media_type")


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


class RulesetList(BaseModel):
    items: list[RulesetSummary]
    data_version: str


@router.get("/rulesets", operation_id="list_rulesets", response_model=RulesetList, responses=COMMON)
async def list_rulesets(request: Request, snap: SnapshotDep, _: Reader) -> Response:
    """Every ruleset, enforced or not, oldest first (ETag; 304 on If-None-Match)."""
    docs = list(snap.rulesets.values())
    ranges = loader.effective_ranges(docs)
    now = today()
    items = []
    for d in docs:
        start, end, by = ranges[d.id]
        items.append(
            RulesetSummary(
                id=d.id,
                family=d.family,
                title=d.title,
                effective_from=start,
                effective_to=end,
                superseded_by=by,
                enforced=d.enforced,
                source_kind=d.source_kind,
                in_force_today=d.enforced and start <= now and (end is None or now < end),
            )
        )
    return cached_json(request, snap, RulesetList(items=items, data_version=snap.data_version))


@router.get(
    "/rulesets/{ruleset_id}",
    operation_id="get_ruleset",
    response_model=RulesetRead,
    responses={**COMMON, **responses("unknown_ruleset")},
)
async def get_ruleset(
    request: Request, ruleset_id: Annotated[str, Path(max_length=80)], snap: SnapshotDep, _: Reader
) -> Response:
    """Thresholds, destination rules, exceptions, review policies and citations of one ruleset."""
    doc = snap.rulesets.get(ruleset_id)
    if doc is None:
        raise ProblemError("unknown_ruleset", f"No ruleset {ruleset_id!r}")
    _start, end, by = loader.effective_ranges(list(snap.rulesets.values()))[doc.id]
    return cached_json(request, snap, RulesetRead(**doc.model_dump(), effective_to_derived=end, superseded_by=by))


class RulesetRevisionRead(BaseModel):
    ruleset_id: str
    document: dict[str, Any] = Field(description="The ruleset document as it was before the correction")
    content_hash: str
    stored_at: UtcDatetime = Field(description="When this text was stored")
    replaced_at: UtcDatetime
    replaced_in: str = Field(description="Reference data version that shipped the correction")


class RulesetRevisionList(BaseModel):
    items: list[RulesetRevisionRead]


@router.get(
    "/rulesets/{ruleset_id}/revisions",
    operation_id="list_ruleset_revisions",
    response_model=RulesetRevisionList,
    responses={**COMMON, **responses("unknown_ruleset")},
)
async def list_ruleset_revisions(
    ruleset_id: Annotated[str, Path(max_length=80)], snap: SnapshotDep, store: StoreDep, _: Reader
) -> RulesetRevisionList:
    """Earlier texts of a ruleset that shipped corrections replaced, oldest first: what decisions
    made before a correction were answered on (match a decision's `created_at` to the time ranges)."""
    if ruleset_id not in snap.rulesets:
        raise ProblemError("unknown_ruleset", f"No ruleset {ruleset_id!r}")
    rows = await run_in_threadpool(reference.revisions, store.engine, ruleset_id)
    return RulesetRevisionList(
        items=[
            RulesetRevisionRead(
                ruleset_id=r.ruleset_id,
                document=r.document,
                content_hash=r.content_hash,
                stored_at=r.stored_at,
                replaced_at=r.replaced_at,
                replaced_in=r.replaced_in,
            )
            for r in rows
        ]
    )


@router.post(
    "/rulesets",
    operation_id="create_ruleset",
    status_code=status.HTTP_201_CREATED,
    response_model=RulesetRead,
    responses={**COMMON, **WRITE},
)
async def create_ruleset(body: RulesetDoc, store: StoreDep, _: Admin) -> RulesetRead:
    """Add a ruleset version (validated: well-formed clauses, a citation, no overlap within its
    family). Existing rulesets are never edited; end an open one with `supersedes`. Every replica
    uses it within the reload interval; this one at once."""
    try:
        await run_in_threadpool(reference.add_ruleset, store.engine, store.files, body)
    except reference.ReferenceError as exc:
        raise ProblemError(exc.code, str(exc), [FieldProblem(pointer=exc.pointer or "/", detail=str(exc))]) from exc
    await run_in_threadpool(store.refresh)
    snap = store.current
    _start, end, by = loader.effective_ranges(list(snap.rulesets.values()))[body.id]
    return RulesetRead(**body.model_dump(), effective_to_derived=end, superseded_by=by)


class GroupChangeList(BaseModel):
    items: list[GroupChangeDoc]
    data_version: str


@router.get(
    "/country-group-changes",
    operation_id="list_country_group_changes",
    response_model=GroupChangeList,
    responses=COMMON,
)
async def list_country_group_changes(request: Request, snap: SnapshotDep, _: Reader) -> Response:
    return cached_json(request, snap, GroupChangeList(items=list(snap.group_changes), data_version=snap.data_version))


@router.post(
    "/country-group-changes",
    operation_id="create_country_group_change",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupChangeDoc,
    responses={**COMMON, **WRITE},
)
async def create_country_group_change(body: GroupChangeDoc, store: StoreDep, _: Admin) -> GroupChangeDoc:
    """Record a dated Country Group change (add or remove), with its citation."""
    try:
        await run_in_threadpool(reference.add_group_change, store.engine, store.files, body)
    except reference.ReferenceError as exc:
        raise ProblemError(exc.code, str(exc), [FieldProblem(pointer=exc.pointer or "/", detail=str(exc))]) from exc
    await run_in_threadpool(store.refresh)
    return body


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


def _country(snap: SnapshotDep, code: str, on: date) -> Country:
    book = snap.book
    target, alias = book.resolve_country(code, on)
    return Country(
        code=code,
        name=book.country_names[code],
        treated_as=target if alias else None,
        groups=sorted(book.groups_of(target, on)),
    )


@router.get("/countries", operation_id="list_countries", response_model=CountryList, responses=COMMON)
async def list_countries(
    request: Request,
    snap: SnapshotDep,
    _: Reader,
    as_of: AsOfQuery = None,
    group: Annotated[str | None, Query(pattern=r"^[A-E]:[0-9]$", description="Only members of this group")] = None,
) -> Response:
    on = as_of or today()
    items = [_country(snap, code, on) for code in sorted(snap.book.country_names)]
    if group:
        items = [c for c in items if group in c.groups]
    return cached_json(request, snap, CountryList(as_of=on, items=items, data_version=snap.data_version))


@router.get(
    "/countries/{code}",
    operation_id="get_country",
    response_model=CountryDetail,
    responses={**COMMON, **responses("unknown_country")},
)
async def get_country(
    request: Request,
    code: Annotated[str, Path(pattern=r"^[A-Za-z]{2}$")],
    snap: SnapshotDep,
    _: Reader,
    as_of: AsOfQuery = None,
) -> Response:
    on = as_of or today()
    code = code.upper()
    if code not in snap.book.country_names:
        raise ProblemError("unknown_country", f"{code!r} is not an ISO 3166-1 alpha-2 code")
    base = _country(snap, code, on)
    target = base.treated_as or code
    memberships = [
        Membership(
            group=m.group,
            effective_from=m.effective_from,
            effective_to=m.effective_to,
            citation=CitationDoc(
                source=m.citation.source,
                source_kind=m.citation.source_kind,
                url=m.citation.url,
                document=m.citation.document,
                note=m.citation.note,
            ),
        )
        for m in snap.book.memberships
        if m.country == target
    ]
    return cached_json(request, snap, CountryDetail(**base.model_dump(), as_of=on, memberships=memberships))
