"""The hot POST routes are called straight from the edge (app/direct.py) when every parameter is
certain; their answers are FastAPI's answers, and every request that fails a check is FastAPI's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.direct import DirectRoutes
from app.main import create_app
from tests.conftest import ADMIN_KEY, make_settings, new_key, wait_ready

SPEC = {"throughput": [{"precision": "fp16", "dense_tops": 148}], "die_area_mm2": 814, "datacenter": True}
ORDER = {
    "destination": "SG",
    "end_user": {"name": "Direct Pte Ltd", "headquarters": "SG", "parent_headquarters": "CN"},
    "lines": [{"key": "1", "accelerator_id": "nvidia-h20-96gb", "quantity": 8}],
}
PER_REQUEST = {"x-request-id", "server-timing", "location", "content-length"}


class Spy:
    """Counts the requests the direct calls answered; ``off`` hands every request to FastAPI."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answered = 0
        self.off = False
        answer = DirectRoutes.answer
        get = DirectRoutes.get

        async def counted(routes: DirectRoutes, *args: Any) -> Any:
            response = await answer(routes, *args)
            self.answered += response is not None
            return response

        def maybe(routes: DirectRoutes, method: str, path: str) -> Any:
            return None if self.off else get(routes, method, path)

        monkeypatch.setattr(DirectRoutes, "answer", counted)
        monkeypatch.setattr(DirectRoutes, "get", maybe)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    return Spy(monkeypatch)


@pytest.fixture
def limited(database_url: str) -> Iterator[TestClient]:
    """An app whose keys may make 3 requests at once and then about one in 1,000 s."""
    app = create_app(make_settings(database_url, rate_limit_per_s=0.001, rate_limit_burst=3))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        yield c


def _both(spy: Spy, send: Any) -> tuple[httpx.Response, httpx.Response]:
    spy.off = False
    before = spy.answered
    direct = send()
    took = spy.answered - before
    spy.off = True
    fastapi = send()
    spy.off = False
    assert took <= 1
    direct.extensions["direct"] = took == 1
    return direct, fastapi


def _headers(resp: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in resp.headers.items() if k not in PER_REQUEST}


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in body.items() if k not in ("id", "screening_id")}
    body["provenance"] = {k: v for k, v in body["provenance"].items() if k != "evaluated_at"}
    return body


def test_a_classification_is_the_same_answer_direct_or_through_fastapi(client: TestClient, spy: Spy) -> None:
    for body in ({"spec": SPEC, "as_of": "2026-01-20"}, {"accelerator_id": "nvidia-h100-sxm5-80gb"}):
        client.post("/v1/classifications", json=body)  # prepared once
        direct, fastapi = _both(spy, lambda b=body: client.post("/v1/classifications", json=b))
        assert direct.extensions["direct"]
        assert direct.status_code == fastapi.status_code == 200
        assert direct.content == fastapi.content
        assert _headers(direct) == _headers(fastapi)
        assert direct.headers["server-timing"].startswith("app;dur=") and direct.headers["x-request-id"]


def test_a_screening_is_the_same_answer_direct_or_through_fastapi(client: TestClient, spy: Spy) -> None:
    client.post("/v1/screenings", json=ORDER)
    direct, fastapi = _both(spy, lambda: client.post("/v1/screenings", json=ORDER))
    assert direct.extensions["direct"]
    assert direct.status_code == fastapi.status_code == 201
    assert _headers(direct) == _headers(fastapi)
    assert re.fullmatch(r"/v1/screenings/[0-9A-Z]{26}", direct.headers["location"])
    assert _without_ids(direct.json()) == _without_ids(fastapi.json())
    # stored like any other: its record, its version and its screening.created event
    decision_id = direct.json()["id"]
    assert client.get(direct.headers["location"]).content == direct.content
    versions = client.get(f"/v1/screenings/{decision_id}/versions").json()["versions"]
    assert [v["decision_id"] for v in versions] == [decision_id]
    created = client.get("/v1/events", params={"types": "screening.created"}).json()["items"]
    assert decision_id in [e["subject"] for e in created]


def test_an_idempotent_retry_is_replayed_by_the_direct_call(client: TestClient, spy: Spy) -> None:
    headers = {"Idempotency-Key": "order-4711"}
    first = client.post("/v1/screenings", json=ORDER, headers=headers)
    before = spy.answered
    again = client.post("/v1/screenings", json=ORDER, headers=headers)
    assert spy.answered == before + 1
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    other = client.post("/v1/screenings", json={**ORDER, "reference": "other"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    "case",
    [
        "no scope",
        "bad body",
        "bad idempotency key",
        "open_until in the past",
        "unknown accelerator",
        "unknown ruleset",
    ],
)
def test_a_request_that_fails_a_check_gets_the_same_answer_as_through_fastapi(
    client: TestClient, anon: TestClient, spy: Spy, case: str
) -> None:
    reader = new_key(client, "read")
    sends = {
        "no scope": lambda: anon.post("/v1/screenings", json=ORDER, headers={"Authorization": f"Bearer {reader}"}),
        "bad body": lambda: client.post("/v1/screenings", json={**ORDER, "destination": 7}),
        "bad idempotency key": lambda: client.post("/v1/screenings", json=ORDER, headers={"Idempotency-Key": "a b"}),
        "open_until in the past": lambda: client.post("/v1/screenings", json={**ORDER, "open_until": "2020-01-01"}),
        "unknown accelerator": lambda: client.post("/v1/classifications", json={"accelerator_id": "no-such-chip"}),
        "unknown ruleset": lambda: client.post(
            "/v1/classifications", json={"spec": SPEC, "hypothetical_rulesets": ["no-such-ruleset"]}
        ),
    }
    direct, fastapi = _both(spy, sends[case])
    assert direct.status_code == fastapi.status_code
    assert direct.status_code in (403, 422, 404), direct.text
    assert _headers(direct) == _headers(fastapi)
    mine, theirs = direct.json(), fastapi.json()
    for body in (mine, theirs):
        body.pop("request_id", None)
    assert mine == theirs
    # the endpoint's own errors are answered by the application's handlers on the direct path
    assert direct.extensions["direct"] == (case in ("open_until in the past", "unknown accelerator", "unknown ruleset"))


def test_a_header_parameter_sent_twice_is_left_to_fastapi(client: TestClient, spy: Spy) -> None:
    twice = [("Idempotency-Key", "one"), ("Idempotency-Key", "two")]
    resp = client.post("/v1/screenings", json=ORDER, headers=twice)  # type: ignore[arg-type]
    assert resp.status_code == 201
    assert spy.answered == 0


def test_the_rate_limit_holds_on_the_direct_path(limited: TestClient, spy: Spy) -> None:
    answers = [limited.post("/v1/classifications", json={"spec": SPEC}).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    assert spy.answered == 3  # refused ones go to FastAPI, which refuses them too


def test_liveness_is_answered_at_the_edge_with_the_routes_own_answer(client: TestClient, spy: Spy) -> None:
    direct, fastapi = _both(spy, lambda: client.get("/healthz"))
    assert direct.extensions["direct"]
    assert direct.status_code == fastapi.status_code == 200
    assert direct.content == fastapi.content == b'{"status":"ok"}'
    assert _headers(direct) == _headers(fastapi)
    assert direct.headers["content-type"] == "application/json"
    # counted under its route like any request (dashboards and alerts read it)
    metrics = client.get("/metrics").text
    assert re.search(r'chipclass_requests_total\{[^}]*route="/healthz"[^}]*status="200"[^}]*\} 2\.0', metrics)
