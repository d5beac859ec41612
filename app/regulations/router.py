"""Rulesets, Country Group changes and countries over HTTP: browse (any reader), add (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from app import clock
from app.deps import Admin, AsOfQuery, Reader, SnapshotDep, StoreDep
from app.errors import responses
from app.http import cached_json
from app.regulations import service
from app.regulations.schemas import (
    CountryDetail,
    CountryList,
    GroupChangeDoc,
    GroupChangeList,
    RulesetDoc,
    RulesetList,
    RulesetRead,
    RulesetRevisionList,
)
from app.vocabulary import COUNTRY_PATTERN, GROUP_PATTERN

router = APIRouter(prefix="/v1", tags=["reference"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "not_ready")
WRITE = responses("conflict", "invalid_ruleset", "payload_too_large", "unsupported_media_type")


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
    response_model=RulesetRead,
    responses={**COMMON, **WRITE},
)
async def create_ruleset(body: RulesetDoc, store: StoreDep, _: Admin) -> RulesetRead:
    """Add a ruleset version (validated: well-formed clauses, a citation, no overlap within its
    family). Existing rulesets are never edited; end an open one with `supersedes`. Every replica
    uses it within the reload interval; this one at once."""
    await run_in_threadpool(service.add_ruleset, store.engine, store.files, body)
    await run_in_threadpool(store.refresh)
    return service.get_ruleset(store.current, body.id)


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
    response_model=GroupChangeDoc,
    responses={**COMMON, **WRITE},
)
async def create_country_group_change(body: GroupChangeDoc, store: StoreDep, _: Admin) -> GroupChangeDoc:
    """Record a dated Country Group change (add or remove), with its citation."""
    await run_in_threadpool(service.add_group_change, store.engine, store.files, body)
    await run_in_threadpool(store.refresh)
    return body


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
