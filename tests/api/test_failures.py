"""Rate limits and unexpected errors are problem+json too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.screening import router as screening_router
from tests.conftest import ADMIN_KEY, ManualClock, make_settings, wait_ready


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limited(database_url: str, clock: ManualClock) -> Iterator[TestClient]:
    """1 request per second per key, bursts of 3, on a clock that moves only when the test moves it."""
    app = create_app(make_settings(database_url, rate_limit_per_s=1, rate_limit_burst=3), clock=clock)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        yield c


def test_over_the_rate_limit_is_429_with_retry_after(limited: TestClient) -> None:
    statuses = [limited.get("/v1/rulesets").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    resp = limited.get("/v1/rulesets")
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "rate_limited" and resp.headers["retry-after"] == "1"


def test_the_rate_limit_refills_one_request_per_second(limited: TestClient, clock: ManualClock) -> None:
    assert [limited.get("/v1/rulesets").status_code for _ in range(4)] == [200, 200, 200, 429]
    clock.advance(0.75)
    assert limited.get("/v1/rulesets").status_code == 429
    clock.advance(0.25)
    assert [limited.get("/v1/rulesets").status_code for _ in range(2)] == [200, 429]
    clock.advance(60)  # a long pause refills the burst, never more
    assert [limited.get("/v1/rulesets").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_unexpected_error_is_500_problem_without_internals(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(screening_router.service, "classify_prepared", broken)
    raw = TestClient(client.app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    resp = raw.post("/v1/classifications", json={"accelerator_id": "nvidia-l4-24gb"})
    assert resp.status_code == 500
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "internal_error"
    assert "secret" not in resp.text
    assert resp.headers.get("x-request-id")
