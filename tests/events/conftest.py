from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import ADMIN_KEY, make_settings, wait_ready

FAST = {"reload_interval_s": 0.1, "monitor_interval_s": 0.1, "webhook_poll_s": 0.1}


def utc_today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def watched(database_url: str) -> Iterator[TestClient]:
    """The app with rule reloads and re-screening rounds every 0.1 s."""
    app = create_app(make_settings(database_url, **FAST))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        yield c


def eventually(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (a bounded wait for background work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout}s")


def events(client: TestClient, *types: str, after: int = 0) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = client.get("/v1/events", params={"after": after, "type": list(types), "limit": 500}).json()
        items += page["items"]
        if not page["items"]:
            return items
        after = int(page["next_cursor"])
