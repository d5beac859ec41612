"""Open screenings stay screened: every version of a screening, closing one, and re-screening the
open ones after each rule change or when a dated change takes effect.

A re-screening is claimed by a compare-and-set on the screening's monitor row (its
``checked_revision``/``checked_on`` move forward) in the same transaction that appends the new
decision, its version row and its event: a change re-screens each open screening exactly once,
however many replicas sweep at the same time, and nothing is claimed that is not also written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select
from ulid import ULID

from app import clock
from app.canonical import canonical
from app.changes import service as changelog
from app.db import add_row
from app.decisions.service import Draft, append_many, request_of, responses
from app.errors import DomainError, field_error
from app.events import service as events
from app.regulations.snapshot import Snapshot
from app.rules.outcome import OUTCOMES, most_restrictive
from app.screening import service as screening
from app.screening.models import ScreeningMonitor, ScreeningVersion
from app.screening.schemas import (
    Cause,
    MonitorStatus,
    ScreeningHistory,
    ScreeningRequest,
    ScreeningResponse,
    ScreeningVersionOut,
)

log = logging.getLogger("chipclass.monitoring")
OPEN, CLOSED_STATUSES = "open", ("shipped", "cancelled", "expired")
VERSION_TABLE: Table = ScreeningVersion.__table__  # type: ignore[attr-defined]
MONITOR_TABLE: Table = ScreeningMonitor.__table__  # type: ignore[attr-defined]


class AlreadyHandled(Exception):
    """Another replica (or an earlier sweep) re-screened or closed this screening first."""


def now() -> datetime:
    return clock.now()


def check_open_until(req: ScreeningRequest, today: date, max_days: int) -> None:
    if req.open_until is None:
        return
    if req.hypothetical_rulesets:
        raise field_error("/open_until", "a hypothetical screening is not stored, so it cannot be kept open")
    if req.open_until < today:
        raise field_error("/open_until", f"must be today ({today}) or later")
    if req.open_until > today + timedelta(days=max_days):
        raise field_error("/open_until", f"must be at most {max_days} days ahead ({today + timedelta(days=max_days)})")


def _outcomes(result: ScreeningResponse) -> dict[str, str]:
    return {line.key: line.outcome for line in result.lines}


def created(result: ScreeningResponse, api_key_id: str | None, revision: int, today: date) -> Callable[[Session], None]:
    """The writes that go with a new screening's decision: its version row, its monitor if it is
    kept open, and its ``screening.created`` event."""

    def effect(session: Session) -> None:
        # plain rows, one multi-row INSERT per table for the writer's whole group (app.db.add_row)
        assert result.id is not None
        at = now()
        add_row(
            session,
            VERSION_TABLE,
            {
                "decision_id": result.id,
                "screening_id": result.id,
                "version": 1,
                "reference": result.reference,
                "api_key_id": api_key_id,
                "outcome": result.outcome,
                "created_at": at,
            },
        )
        if result.open_until is not None:
            add_row(
                session,
                MONITOR_TABLE,
                {
                    "screening_id": result.id,
                    "api_key_id": api_key_id,
                    "reference": result.reference,
                    "status": OPEN,
                    "open_until": result.open_until,
                    "version": 1,
                    "latest_decision_id": result.id,
                    "outcomes": json.dumps(_outcomes(result), sort_keys=True),
                    "checked_revision": revision,
                    "checked_on": today,
                    "created_at": at,
                    "closed_at": None,
                    "close_reason": None,
                },
            )
        events.add(
            session,
            "screening.created",
            {
                "screening_id": result.id,
                "decision_id": result.id,
                "reference": result.reference,
                "destination": result.destination,
                "outcome": result.outcome,
                "action": result.action,
                "open_until": result.open_until,
                "lines": [{"key": ln.key, "outcome": ln.outcome, "action": ln.action} for ln in result.lines],
            },
            subject=result.id,
        )

    return effect


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Visibility:
    """Who asks: a `screen` key sees its own screenings; `audit`/`admin` see all."""

    key_id: str
    sees_all: bool

    def allows(self, owner: str | None) -> bool:
        return self.sees_all or owner == self.key_id


@dataclass(frozen=True)
class VersionRow:
    version: ScreeningVersion
    response: dict[str, Any]


@dataclass(frozen=True)
class History:
    screening_id: str
    monitor: ScreeningMonitor | None
    versions: list[VersionRow]  # latest first


def history(engine: Engine, screening_id: str, who: Visibility) -> History:
    with Session(engine) as session:
        versions = list(
            session.exec(
                select(ScreeningVersion)
                .where(ScreeningVersion.screening_id == screening_id)
                .order_by(col(ScreeningVersion.version).desc())
            )
        )
        texts = responses(session, [v.decision_id for v in versions])
        monitor = session.get(ScreeningMonitor, screening_id)
    if not versions or not who.allows(versions[-1].api_key_id):
        raise DomainError("unknown_screening", f"No screening {screening_id!r}")
    return History(screening_id, monitor, [VersionRow(v, json.loads(texts[v.decision_id])) for v in versions])


def latest_id(engine: Engine, screening_id: str) -> str | None:
    """The newest version of the screening a decision belongs to (None if it is not a screening)."""
    with Session(engine) as session:
        row = session.get(ScreeningVersion, screening_id)
        if row is None:
            return None
        newest = session.exec(
            select(ScreeningVersion.decision_id)
            .where(ScreeningVersion.screening_id == row.screening_id)
            .order_by(col(ScreeningVersion.version).desc())
            .limit(1)
        ).first()
        return newest


def by_reference(
    engine: Engine, reference: str, who: Visibility, before: str | None, limit: int
) -> list[tuple[ScreeningVersion, ScreeningMonitor | None]]:
    """Every version of every screening with this order reference, newest first."""
    with Session(engine) as session:
        query = (
            select(ScreeningVersion, ScreeningMonitor)
            .join(
                ScreeningMonitor, col(ScreeningMonitor.screening_id) == col(ScreeningVersion.screening_id), isouter=True
            )
            .where(ScreeningVersion.reference == reference)
        )
        if not who.sees_all:
            query = query.where(ScreeningVersion.api_key_id == who.key_id)
        if before is not None:
            query = query.where(col(ScreeningVersion.decision_id) < before)
        query = query.order_by(col(ScreeningVersion.decision_id).desc()).limit(limit)
        return [(v, m) for v, m in session.exec(query)]


# ---------------------------------------------------------------- closing


def _close_effect(
    screening_id: str, status: str, reason: str, expected: tuple[int, date] | None
) -> Callable[[Session], None]:
    def effect(session: Session) -> None:
        at = now()
        where = [col(ScreeningMonitor.screening_id) == screening_id, col(ScreeningMonitor.status) == OPEN]
        if expected is not None:
            where += [
                col(ScreeningMonitor.checked_revision) == expected[0],
                col(ScreeningMonitor.checked_on) == expected[1],
            ]
        result = session.execute(
            update(ScreeningMonitor).where(*where).values(status=status, closed_at=at, close_reason=reason)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise AlreadyHandled(screening_id)
        monitor = session.get(ScreeningMonitor, screening_id)
        assert monitor is not None
        events.append(
            session,
            "screening.closed",
            {
                "screening_id": screening_id,
                "reference": monitor.reference,
                "status": status,
                "reason": reason,
                "closed_at": at.isoformat(),
                "latest_decision_id": monitor.latest_decision_id,
            },
            subject=screening_id,
        )

    return effect


def _closure_draft(
    monitor: ScreeningMonitor, status: str, reason: str, api_key_id: str | None, request_id: str, effect: Any
) -> Draft:
    request = {"screening_id": monitor.screening_id, "status": status, "reason": reason}
    response = {**request, "reference": monitor.reference, "latest_decision_id": monitor.latest_decision_id}
    return Draft(
        id=str(ULID()),
        kind="closure",
        api_key_id=api_key_id,
        request_id=request_id,
        idempotency_key=None,
        request=canonical(request),
        response=canonical(response),
        rulesets=[],
        data_version="",
        effects=(effect,),
    )


def close(
    engine: Engine, screening_id: str, status: str, reason: str, who: Visibility, request_id: str, ttl: timedelta
) -> ScreeningMonitor:
    """End monitoring (shipped or cancelled); recorded in the decision log with a ``screening.closed`` event."""
    with Session(engine) as session:
        monitor = session.get(ScreeningMonitor, screening_id)
        stored = session.get(ScreeningVersion, screening_id) if monitor is None else None
    if monitor is None and stored is not None and who.allows(stored.api_key_id):
        if stored.screening_id != screening_id:
            raise DomainError(
                "conflict",
                f"{screening_id!r} is version {stored.version} of screening {stored.screening_id!r}: close that",
            )
        raise DomainError(
            "conflict", f"Screening {screening_id!r} was not kept open (open_until), so there is nothing to close"
        )
    if monitor is None or not who.allows(monitor.api_key_id):
        raise DomainError("unknown_screening", f"No screening {screening_id!r}")
    if monitor.status != OPEN:
        raise DomainError("conflict", f"Screening {screening_id!r} is already closed ({monitor.status})")
    draft = _closure_draft(
        monitor, status, reason, who.key_id, request_id, _close_effect(screening_id, status, reason, None)
    )
    try:
        append_many(engine, [draft], ttl)
    except AlreadyHandled as exc:
        raise DomainError("conflict", f"Screening {screening_id!r} was closed meanwhile") from exc
    with Session(engine) as session:
        closed = session.get(ScreeningMonitor, screening_id)
    assert closed is not None
    return closed


# ---------------------------------------------------------------- re-screening


@dataclass
class SweepReport:
    checked: int = 0
    changed: int = 0
    expired: int = 0
    skipped: int = 0

    def merge(self, other: SweepReport) -> None:
        self.checked += other.checked
        self.changed += other.changed
        self.expired += other.expired
        self.skipped += other.skipped


def _taking_effect(snap: Snapshot, after: date, upto: date) -> list[str]:
    """Rulesets and Country Group changes whose effective date lies in (after, upto]."""
    book = snap.book
    found = [r.id for r in book.rulesets if r.effective_from and after < r.effective_from <= upto]
    found += [
        f"{m.group}:{m.country}@{d}"
        for m in book.memberships
        for d in (m.effective_from, m.effective_to)
        if d is not None and after < d <= upto
    ]
    return sorted(set(found))


def _check_effect(
    screening_id: str, expected: tuple[int, date], revision: int, today: date
) -> Callable[[Session], None]:
    def effect(session: Session) -> None:
        result = session.execute(
            update(ScreeningMonitor)
            .where(
                col(ScreeningMonitor.screening_id) == screening_id,
                col(ScreeningMonitor.status) == OPEN,
                col(ScreeningMonitor.checked_revision) == expected[0],
                col(ScreeningMonitor.checked_on) == expected[1],
            )
            .values(checked_revision=revision, checked_on=today)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise AlreadyHandled(screening_id)

    return effect


def _version_effect(
    monitor: ScreeningMonitor, result: ScreeningResponse, before: dict[str, str], cause: Cause
) -> Callable[[Session], None]:
    def effect(session: Session) -> None:
        assert result.id is not None
        session.execute(
            update(ScreeningMonitor)
            .where(col(ScreeningMonitor.screening_id) == monitor.screening_id)
            .values(
                version=monitor.version + 1,
                latest_decision_id=result.id,
                outcomes=json.dumps(_outcomes(result), sort_keys=True),
            )
        )
        session.add(
            ScreeningVersion(
                decision_id=result.id,
                screening_id=monitor.screening_id,
                version=monitor.version + 1,
                reference=monitor.reference,
                api_key_id=monitor.api_key_id,
                outcome=result.outcome,
                created_at=now(),
            )
        )
        after = _outcomes(result)
        previous = json.loads(monitor.outcomes)
        events.append(
            session,
            "screening.outcome_changed",
            {
                "screening_id": monitor.screening_id,
                "decision_id": result.id,
                "supersedes": monitor.latest_decision_id,
                "reference": monitor.reference,
                "outcome_before": _overall(previous),
                "outcome": result.outcome,
                "action": result.action,
                "lines": [
                    {"key": key, "outcome_before": before.get(key), "outcome": value}
                    for key, value in after.items()
                    if before.get(key) != value
                ],
                "cause": cause.model_dump(mode="json"),
            },
            subject=monitor.screening_id,
        )

    return effect


def _overall(outcomes: dict[str, str]) -> str:
    return most_restrictive(o for o in OUTCOMES if o in outcomes.values())


def rescreen(engine: Engine, snap: Snapshot, monitor: ScreeningMonitor, today: date, ttl: timedelta) -> str:
    """Screen one open screening again as of ``today``; returns what happened."""
    expected = (monitor.checked_revision, monitor.checked_on)
    try:
        if monitor.open_until < today:
            reason = f"open_until {monitor.open_until} passed"
            effect = _close_effect(monitor.screening_id, "expired", reason, expected)
            append_many(engine, [_closure_draft(monitor, "expired", reason, None, "monitor", effect)], ttl)
            return "expired"
        with Session(engine) as session:
            latest_request = request_of(session, monitor.latest_decision_id)
            change_ids = changelog.made_between(session, monitor.checked_revision, snap.revision)
        request = ScreeningRequest.model_validate_json(latest_request).model_copy(update={"as_of": today})
        new_id = str(ULID())
        try:
            result = screening.screen(snap, request, new_id)
        except DomainError as exc:
            # the stored order no longer evaluates (an item left the catalog, say): keep the last
            # answer and say so; the order desk still sees it open
            log.warning("re-screening %s failed: %s", monitor.screening_id, exc.detail)
            _mark_checked(engine, monitor, expected, snap.revision, today)
            return "skipped"
        before = json.loads(monitor.outcomes)
        if _outcomes(result) == before:
            _mark_checked(engine, monitor, expected, snap.revision, today)
            return "checked"
        cause = Cause(
            reference_revision=snap.revision,
            previous_revision=monitor.checked_revision,
            on=today,
            previous_on=monitor.checked_on,
            taking_effect=_taking_effect(snap, monitor.checked_on, today),
            changes=change_ids,
        )
        result = result.model_copy(
            update={
                "screening_id": monitor.screening_id,
                "open_until": monitor.open_until,
                "supersedes": monitor.latest_decision_id,
                "cause": cause,
            }
        )
        draft = Draft(
            id=new_id,
            kind="rescreening",
            api_key_id=monitor.api_key_id,
            request_id=f"rescreen:{monitor.screening_id}",
            idempotency_key=None,
            request=canonical(request.model_dump(mode="json")),
            response=screening.render(result),
            rulesets=[r.id for r in result.provenance.rulesets],
            data_version=result.provenance.data_version,
            effects=(
                _check_effect(monitor.screening_id, expected, snap.revision, today),
                _version_effect(monitor, result, before, cause),
            ),
        )
        append_many(engine, [draft], ttl)
        return "changed"
    except AlreadyHandled:
        return "skipped"


def _mark_checked(
    engine: Engine, monitor: ScreeningMonitor, expected: tuple[int, date], revision: int, today: date
) -> None:
    with Session(engine) as session:
        try:
            _check_effect(monitor.screening_id, expected, revision, today)(session)
            session.commit()
        except AlreadyHandled:
            session.rollback()


def due(engine: Engine, revision: int, today: date, limit: int) -> list[ScreeningMonitor]:
    with Session(engine) as session:
        query = (
            select(ScreeningMonitor)
            .where(
                ScreeningMonitor.status == OPEN,
                # a replica whose rules are older than the last check leaves it to the others
                col(ScreeningMonitor.checked_revision) <= revision,
                col(ScreeningMonitor.checked_on) <= today,
                or_(col(ScreeningMonitor.checked_revision) < revision, col(ScreeningMonitor.checked_on) < today),
            )
            .order_by(col(ScreeningMonitor.screening_id))
            .limit(limit)
        )
        return list(session.exec(query))


def sweep(engine: Engine, snap: Snapshot, today: date, ttl: timedelta, batch: int = 100) -> SweepReport:
    """Re-screen the open screenings not yet checked against this revision and day, ``batch`` at a time."""
    report = SweepReport()
    for monitor in due(engine, snap.revision, today, batch):
        what = rescreen(engine, snap, monitor, today, ttl)
        report.checked += 1
        if what == "changed":
            report.changed += 1
        elif what == "expired":
            report.expired += 1
        elif what == "skipped":
            report.skipped += 1
    return report


def history_out(found: History) -> ScreeningHistory:
    m = found.monitor
    return ScreeningHistory(
        screening_id=found.screening_id,
        reference=found.versions[-1].version.reference,
        monitor=None
        if m is None
        else MonitorStatus(
            status=m.status,
            open_until=m.open_until,
            version=m.version,
            latest_decision_id=m.latest_decision_id,
            closed_at=m.closed_at,
            close_reason=m.close_reason,
        ),
        versions=[
            ScreeningVersionOut(
                decision_id=row.version.decision_id,
                version=row.version.version,
                outcome=row.version.outcome,
                created_at=row.version.created_at,
                screening=ScreeningResponse.model_validate(row.response),
            )
            for row in found.versions
        ],
    )
