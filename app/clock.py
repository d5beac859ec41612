"""The one place the service reads the wall clock (the engine never does: it is given dates)."""

from __future__ import annotations

from datetime import UTC, date, datetime


def now() -> datetime:
    """The current time, UTC, timezone-aware."""
    return datetime.now(UTC)


def today() -> date:
    """Today in UTC: the default ``as_of`` of every answer."""
    return now().date()
