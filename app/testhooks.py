"""A gate for end-to-end tests, off unless CHIPCLASS_TEST_HOLD_DIR is set (refused in production).

Tests of shutdown and crash recovery need a request to be in flight at a known moment: timing
cannot promise that (a 1,000-line screening takes 6 ms on one machine, 300 ms on another). With
the gate on, a request carrying ``X-Chipclass-Test-Hold: <name>`` is held until the test says so:

- ``X-Chipclass-Test-Hold-At: request`` (the default): before the application sees it;
- ``X-Chipclass-Test-Hold-At: response``: after the application answered (a screening is then
  committed), before the first byte of the answer is sent.

While held, the file ``<dir>/<name>.<n>.held`` exists (one per request); the request goes on once
``<dir>/<name>.release`` exists. Requests without the header pass untouched.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_POLL_S = 0.005


class HoldGate:
    def __init__(self, app: ASGIApp, directory: Path) -> None:
        self.app = app
        self.directory = directory
        self._numbers = itertools.count()

    async def _hold(self, name: str) -> None:
        marker = self.directory / f"{name}.{next(self._numbers)}.held"
        marker.touch()
        release = self.directory / f"{name}.release"
        # the release comes from another process (a file), so this polls: no asyncio.Event can see it
        while not release.exists():  # noqa: ASYNC110
            await asyncio.sleep(_POLL_S)
        marker.unlink(missing_ok=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        name = headers.get(b"x-chipclass-test-hold", b"").decode("latin-1")
        if not _NAME.match(name):
            await self.app(scope, receive, send)
            return
        if headers.get(b"x-chipclass-test-hold-at", b"request") != b"response":
            await self._hold(name)
            await self.app(scope, receive, send)
            return

        async def send_held(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._hold(name)
            await send(message)

        await self.app(scope, receive, send_held)
