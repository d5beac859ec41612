"""API keys: 401 without or with an unknown key, 403 without the scope, open operational routes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.db import normalize_url
from tests.conftest import new_key

SCREEN = {
    "destination": "DE",
    "end_user": {"name": "Buyer"},
    "lines": [{"key": "1", "accelerator_id": "nvidia-l4-24gb", "quantity": 1}],
}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/docs", "/openapi.json"])
def test_operational_routes_need_no_key(anon: TestClient, path: str) -> None:
    assert anon.get(path).status_code == 200


def test_missing_key_is_401_problem(anon: TestClient) -> None:
    resp = anon.get("/v1/accelerators")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["code"] == "unauthorized"


def test_unknown_key_is_401(anon: TestClient) -> None:
    resp = anon.get("/v1/accelerators", headers={"Authorization": "Bearer cc_nope_" + "x" * 40})
    assert resp.status_code == 401 and resp.json()["code"] == "unauthorized"


@pytest.mark.parametrize(
    "scopes,method,path,body,status",
    [
        (["read"], "POST", "/v1/screenings", SCREEN, 403),
        (["screen"], "GET", "/v1/accelerators", None, 403),
        (["read", "screen"], "GET", "/v1/decisions", None, 403),
        (["read", "screen"], "POST", "/v1/keys", {"name": "x", "scopes": ["read"]}, 403),
        (["audit"], "GET", "/v1/decisions/verify", None, 200),
        (["read"], "GET", "/v1/rulesets", None, 200),
        (["read", "screen"], "POST", "/v1/screenings", SCREEN, 201),
    ],
)
def test_scopes_gate_operations(
    client: TestClient, anon: TestClient, scopes: list[str], method: str, path: str, body: object, status: int
) -> None:
    key = new_key(client, *scopes)
    resp = anon.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == status, resp.text
    if status == 403:
        assert resp.json()["code"] == "forbidden"


def test_decision_records_the_key_that_made_it(client: TestClient, anon: TestClient) -> None:
    key = new_key(client, "screen")
    made = anon.post("/v1/screenings", json=SCREEN, headers={"Authorization": f"Bearer {key}"})
    assert made.status_code == 201
    key_id = key.split("_")[1]
    records = client.get("/v1/decisions").json()["items"]
    assert [r["api_key_id"] for r in records if r["id"] == made.json()["id"]] == [key_id]


def test_screen_key_reads_its_own_screenings_only(client: TestClient, anon: TestClient) -> None:
    mine, other = new_key(client, "screen"), new_key(client, "screen")
    made = anon.post("/v1/screenings", json=SCREEN, headers={"Authorization": f"Bearer {mine}"})
    path = f"/v1/screenings/{made.json()['id']}"
    assert anon.get(path, headers={"Authorization": f"Bearer {mine}"}).status_code == 200
    assert anon.get(path, headers={"Authorization": f"Bearer {other}"}).status_code == 404
    auditor = new_key(client, "audit")
    assert anon.get(path, headers={"Authorization": f"Bearer {auditor}"}).status_code == 200
    admin = new_key(client, "admin")  # not the key that made it: admin reads every screening too
    assert anon.get(path, headers={"Authorization": f"Bearer {admin}"}).status_code == 200


def test_only_screenings_are_served_as_screenings(client: TestClient) -> None:
    """GET /v1/screenings/{id} serves screening decisions, never another kind of record (a
    classification is stored too, and closing a screening stores a closure)."""
    body = {**SCREEN, "open_until": str(datetime.now(UTC).date() + timedelta(days=5)), "reference": "PO-kinds"}
    made = client.post("/v1/screenings", json=body)
    assert made.status_code == 201, made.text
    closed = client.post(f"/v1/screenings/{made.json()['id']}/close", json={"status": "cancelled", "reason": "x"})
    assert closed.status_code == 200, closed.text
    others = [r for r in client.get("/v1/decisions", params={"limit": 200}).json()["items"] if r["kind"] != "screening"]
    assert {r["kind"] for r in others} >= {"closure"}
    for record in others:
        assert client.get(f"/v1/screenings/{record['id']}").status_code == 404, record["kind"]


def test_revoked_key_stops_working(client: TestClient, anon: TestClient) -> None:
    key = new_key(client, "read")
    headers = {"Authorization": f"Bearer {key}"}
    assert anon.get("/v1/rulesets", headers=headers).status_code == 200
    assert client.post(f"/v1/keys/{key.split('_')[1]}/revoke").status_code == 200
    assert anon.get("/v1/rulesets", headers=headers).status_code == 401


def test_keys_are_stored_only_as_hashes(client: TestClient, database_url: str) -> None:
    key = new_key(client, "read")
    secret = key.split("_", 2)[2]
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM api_key"))]
    finally:
        engine.dispose()
    row = next(r for r in rows if r["id"] == key.split("_")[1])
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    stored = " ".join(str(v) for r in rows for v in r.values())
    assert key not in stored and secret not in stored


def test_keys_are_never_shown_after_creation(client: TestClient) -> None:
    key = new_key(client, "read")
    listed = client.get("/v1/keys").text
    assert key not in listed and key.split("_", 2)[2] not in listed


def test_decisions_are_not_cacheable(client: TestClient) -> None:
    made = client.post("/v1/screenings", json=SCREEN)
    assert made.headers["cache-control"] == "no-store"
    assert client.get(f"/v1/screenings/{made.json()['id']}").headers["cache-control"] == "no-store"
