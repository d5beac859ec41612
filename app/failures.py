"""Failure logging that stays readable during a storm.

The first failure of a kind (logger message, exception type and first line of its message) is
logged in full, traceback included; identical ones within ``window_s`` are only counted, and the
count is logged as one summary line when the window ends (``flush``, called by the service's
background loop) or with the next full report. A 10 s database outage writes a few lines, not
one traceback per request. Every line carries the request id in force (see app.observability).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_KINDS = 1000


@dataclass
class _Kind:
    logger: logging.Logger
    message: str
    since: float
    repeats: int = 0


class FailureLog:
    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._kinds: dict[tuple[str, str, str, str], _Kind] = {}
        self._lock = threading.Lock()

    def report(self, logger: logging.Logger, message: str, exc: BaseException) -> None:
        """Log ``message`` with ``exc``: in full if it is the first of its kind in the window."""
        first_line = (str(exc).splitlines() or [""])[0][:200]
        key = (logger.name, message, type(exc).__name__, first_line)
        now = self.clock()
        with self._lock:
            kind = self._kinds.get(key)
            if kind is not None and now - kind.since < self.window_s:
                kind.repeats += 1
                return
            earlier = kind.repeats if kind is not None else 0
            if len(self._kinds) >= MAX_KINDS:
                self._kinds.clear()
            self._kinds[key] = _Kind(logger, message, now)
        extra = {"error": type(exc).__name__}
        if earlier:
            extra["repeats_before"] = str(earlier)
        logger.error(message, exc_info=exc, extra=extra)

    def clear(self) -> None:
        with self._lock:
            self._kinds.clear()

    def flush(self) -> None:
        """One summary line for each kind whose window ended with repeats not yet logged."""
        now = self.clock()
        due: list[tuple[_Kind, str, int]] = []
        with self._lock:
            for key, kind in list(self._kinds.items()):
                if now - kind.since >= self.window_s:
                    if kind.repeats:
                        due.append((kind, key[2], kind.repeats))
                    del self._kinds[key]
        for kind, error, repeats in due:
            kind.logger.error(
                "%s: %d more of the same (%s) in the last %.0f s",
                kind.message,
                repeats,
                error,
                self.window_s,
                extra={"error": error, "repeats": repeats},
            )


failures = FailureLog()
"""The process's failure log (the edge middleware and the database error handler report here)."""
