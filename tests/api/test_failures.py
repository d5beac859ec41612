"""Rate limits and unexpected errors are problem+json too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.screening import router as screening_router
from tests.conftest import ADMIN_KEY, make_settings, wait_ready


@pytest.fixture
def limited(database_url: str) -> Iterator[TestClient]:
    app = create_app(make_settings(database_url, rate_limit_per_s=1, rate_limit_burst=3))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        yield c


def test_over_the_rate_limit_is_429_with_retry_after(limited: TestClient) -> None:
    statuses = [limited.get("/v1/rulesets").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429
    resp = limited.get("/v1/rulesets")
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "rate_limited" and int(resp.headers["retry-after"]) >= 1


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
