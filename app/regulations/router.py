"""Rulesets, Country Group changes and countries over HTTP: browse (any reader), add (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from app import clock
from app.changes.schemas import ChangeReceipt
from app.changes.service import Actor, ChangeRequest, ReferenceChange
from app.deps import Admin, AsOfQuery, Reader, SnapshotDep, StoreDep
from app.errors import responses
from app.http import cached_json
from app.impact import service as impact
from app.regulations import service
from app.regulations.schemas import (
    CountryDetail,
    CountryList,
    GroupChangeCreated,
    GroupChangeList,
    GroupChangeSubmission,
    RulesetCreated,
    RulesetList,
    RulesetRead,
    RulesetRevisionList,
    RulesetSubmission,
)
from app.vocabulary import COUNTRY_PATTERN, GROUP_PATTERN

router = APIRouter(prefix="/v1", tags=["reference"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "not_ready")
WRITE = responses("conflict", "invalid_ruleset", "retroactive_change", "payload_too_large", "unsupported_media_type")


@router.get("/rulesets", operation_id="list_rulesets", response_model=RulesetList, responses=COMMON)
async def list_rulesets(request: Request, snap: SnapshotDep, _: Reader) -> Response:
    """Every ruleset, enforced or not, oldest first (ETag; 304 on If-None-Match)."""
    return cached_json(request, snap.data_version, service.list_rulesets(snap, clock.today()))


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
    return cached_json(request, snap.data_version, service.get_ruleset(snap, ruleset_id))


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
    return await run_in_threadpool(service.list_revisions, store.engine, snap, ruleset_id)


@router.post(
    "/rulesets",
    operation_id="create_ruleset",
    status_code=status.HTTP_201_CREATED,
    response_model=RulesetCreated,
    responses={**COMMON, **WRITE},
)
async def create_ruleset(body: RulesetSubmission, store: StoreDep, principal: Admin) -> RulesetCreated:
    """Add a ruleset version. Fail closed: every code must be one the engine knows (422 naming the
    field and the allowed values), figures plausible, conditions satisfiable, dates sane, no overlap
    within its family. An effective date before today needs `retroactive: true`; the answer then
    carries the change's impact. The change is recorded (who, when, `reason`) with the ruleset.
    Existing rulesets are never edited; end an open one with `supersedes`."""
    doc, today = body.document(), clock.today()
    # a write that will be refused is answered before the (costly) impact of the change is computed
    await run_in_threadpool(service.precheck_ruleset, store.engine, store.files, doc, body.retroactive, today)
    announced = await run_in_threadpool(impact.announcement, store.current, store.files, [doc], today)
    actor = Actor.api_key(principal.key_id, principal.name)
    request = ChangeRequest(actor, body.reason, body.retroactive, announced)
    change = await run_in_threadpool(service.add_ruleset, store.engine, store.files, doc, request, today)
    await run_in_threadpool(store.refresh)
    receipt = await _receipt(store, change)
    return RulesetCreated(**service.get_ruleset(store.current, body.id).model_dump(), **receipt.model_dump())


async def _receipt(store: StoreDep, change: ReferenceChange) -> ChangeReceipt:
    """The change id, and for a retroactive change what it did on its effective date."""
    if not change.retroactive:
        return ChangeReceipt(change_id=change.id)
    comparison = await run_in_threadpool(
        impact.of_change, store.engine, store.current, store.files, change.id, None, clock.today()
    )
    return ChangeReceipt(change_id=change.id, impact=impact.to_result(comparison.impact))


@router.get(
    "/country-group-changes",
    operation_id="list_country_group_changes",
    response_model=GroupChangeList,
    responses=COMMON,
)
async def list_country_group_changes(request: Request, snap: SnapshotDep, _: Reader) -> Response:
    return cached_json(request, snap.data_version, service.list_group_changes(snap))


@router.post(
    "/country-group-changes",
    operation_id="create_country_group_change",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupChangeCreated,
    responses={**COMMON, **WRITE},
)
async def create_country_group_change(
    body: GroupChangeSubmission, store: StoreDep, principal: Admin
) -> GroupChangeCreated:
    """Record a dated Country Group change (add or remove), with its citation and the reason; a
    known group, a real ISO country, a sane date (`retroactive: true` before today)."""
    doc, today = body.document(), clock.today()
    # a write that will be refused is answered before the (costly) impact of the change is computed
    await run_in_threadpool(service.precheck_group_change, store.engine, store.files, doc, body.retroactive, today)
    announced = await run_in_threadpool(impact.announcement, store.current, store.files, [doc], today)
    actor = Actor.api_key(principal.key_id, principal.name)
    request = ChangeRequest(actor, body.reason, body.retroactive, announced)
    change = await run_in_threadpool(service.add_group_change, store.engine, store.files, doc, request, today)
    await run_in_threadpool(store.refresh)
    receipt = await _receipt(store, change)
    return GroupChangeCreated(**doc.model_dump(), **receipt.model_dump())


@router.get("/countries", operation_id="list_countries", response_model=CountryList, responses=COMMON)
async def list_countries(
    request: Request,
    snap: SnapshotDep,
    _: Reader,
    as_of: AsOfQuery = None,
    group: Annotated[str | None, Query(pattern=GROUP_PATTERN, description="Only members of this group")] = None,
) -> Response:
    result = service.list_countries(snap, as_of or clock.today(), group)
    return cached_json(request, snap.data_version, result)


@router.get(
    "/countries/{code}",
    operation_id="get_country",
    response_model=CountryDetail,
    responses={**COMMON, **responses("unknown_country")},
)
async def get_country(
    request: Request,
    code: Annotated[str, Path(pattern=COUNTRY_PATTERN)],
    snap: SnapshotDep,
    _: Reader,
    as_of: AsOfQuery = None,
) -> Response:
    return cached_json(request, snap.data_version, service.get_country(snap, code, as_of or clock.today()))
