"""The one place the service reads the time (the engine never does: it is given dates).

``Clock`` gives wall time (UTC, timezone-aware) and monotonic time. ``create_app`` takes one, so a
test can pass a clock it moves (the key cache's TTL, the rate limiter's refill); wall time (today,
idempotency expiry, stored timestamps) goes through the module functions, which tests move with time-machine.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime


class Clock:
    """The system clock."""

    def now(self) -> datetime:
        """The current time, UTC, timezone-aware."""
        return datetime.now(UTC)

    def today(self) -> date:
        """Today in UTC: the default ``as_of`` of every answer (a new day starts at midnight UTC)."""
        return self.now().date()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for TTLs and rates, never for dates)."""
        return time.monotonic()


SYSTEM = Clock()


def now() -> datetime:
    return SYSTEM.now()


def today() -> date:
    return SYSTEM.today()
