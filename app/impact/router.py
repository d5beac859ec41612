from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from app.clock import today
from app.deps import Reader, StoreDep
from app.errors import DomainError, responses
from app.impact import service
from app.impact.schemas import ImpactBetween, ImpactRequest, ImpactResponse, ImpactStep, ScreeningsImpact
from app.vocabulary import IsoDate

router = APIRouter(prefix="/v1/impact", tags=["reference"])
COMMON = responses("unauthorized", "forbidden", "validation_error", "rate_limited", "not_ready")


def _analyse(store: StoreDep, body: ImpactRequest) -> ImpactResponse:
    snap, now = store.current, today()
    after = service.decode_cursor(body.screenings_cursor)
    if body.change_id is not None:
        comparison = service.of_change(store.engine, snap, store.files, body.change_id, body.on, now)
    else:
        proposal = body.ruleset or body.country_group_change or body.accelerator
        assert proposal is not None
        comparison = service.of_proposal(snap, store.files, proposal, body.on, now)
    screenings = service.screenings(store.engine, comparison, after_seq=after, limit=body.screenings_limit)
    return ImpactResponse(
        **service.to_result(comparison.impact).model_dump(),
        change=comparison.label,
        screenings=ScreeningsImpact(
            checked=screenings.checked,
            differing=screenings.differing,
            ids=screenings.ids,
            next_cursor=service.encode_cursor(screenings.next_seq) if screenings.next_seq is not None else None,
        ),
    )


@router.post(
    "",
    operation_id="analyse_impact",
    response_model=ImpactResponse,
    responses={
        **COMMON,
        **responses("invalid_ruleset", "unknown_change", "payload_too_large", "unsupported_media_type"),
    },
)
async def analyse_impact(body: ImpactRequest, store: StoreDep, _: Reader) -> ImpactResponse:
    """What a change would do (a dry run: nothing is stored). Give a proposed ruleset, Country Group
    change or catalog entry, or the id of a stored change, and a date (default: its effective date).
    The answer compares the rules without and with it on that date: each catalog item's ECCN, and
    for every item x ISO country x buyer profile (headquartered locally; parent headquartered where a
    headquarters rule reaches) the licence requirement, review policy and exceptions, only where they
    differ, destinations that change alike grouped; and the stored screenings that would come out
    differently (counts, and ids paged). The proposal is validated as a write would be."""
    if not store.loaded:
        raise DomainError("not_ready", "Rules are not loaded yet; retry shortly", headers={"Retry-After": "2"})
    return await run_in_threadpool(_analyse, store, body)


@router.get("", operation_id="impact_between", response_model=ImpactBetween, responses=COMMON)
async def impact_between(
    store: StoreDep,
    _: Reader,
    from_: Annotated[IsoDate, Query(alias="from", description="Start (exclusive)")],
    to: Annotated[IsoDate, Query(description="End (inclusive); at most ten years after `from`")],
    limit: Annotated[
        int, Query(ge=1, le=16, description="At most this many change dates per answer (each costs about 0.5 s)")
    ] = 4,
) -> ImpactBetween:
    """What the published changes between two dates did: for each date on which a ruleset started
    or ended or a Country Group changed, the day before against that day (differences only). At most
    `limit` dates per answer, oldest first; `next_from` (when set) is where to ask again for the rest."""
    if to < from_ or (to - from_).days > 3660:
        detail = "to must be on or after from, and at most ten years later"
        raise DomainError("validation_error", detail, "query:to")
    if not store.loaded:
        raise DomainError("not_ready", "Rules are not loaded yet; retry shortly", headers={"Retry-After": "2"})
    steps, last = await run_in_threadpool(service.between, store.current, from_, to, limit)
    return ImpactBetween(
        from_date=from_,
        to_date=to,
        steps=[ImpactStep(date=day, changes=what, impact=service.to_result(result)) for day, what, result in steps],
        next_from=last,
    )
