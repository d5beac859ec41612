"""What operators and auditors see: /metrics, readiness, ETags that follow the data, the decision log
paged without gaps, and admin writes that take effect at once."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import normalize_url
from app.main import create_app
from tests.conftest import ADMIN_KEY, make_settings, wait_ready
from tests.e2e.conftest import free_port

H100 = "nvidia-h100-sxm5-80gb"
SCREENING = {
    "destination": "CN",
    "end_user": {"name": "Buyer"},
    "lines": [{"key": "a", "accelerator_id": H100, "quantity": 1}],
}


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one Prometheus sample in the text exposition format (None when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'([a-z_]+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


# ------------------------------------------------------------------ /metrics


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    made = client.post("/v1/screenings", json=SCREENING)
    client.get(f"/v1/screenings/{made.json()['id']}")
    client.get("/v1/screenings/01ARZ3NDEKTSV4RRFFQ69G5FAV")  # 404
    body = client.get("/metrics").text
    assert sample(body, "chipclass_requests_total", method="POST", route="/v1/screenings", status="201") == 1
    assert sample(body, "chipclass_requests_total", route="/v1/screenings/{screening_id}", status="200") == 1
    assert sample(body, "chipclass_requests_total", route="/v1/screenings/{screening_id}", status="404") == 1
    count = sample(body, "chipclass_request_duration_seconds_count", method="POST", route="/v1/screenings")
    assert count == 1
    assert (sample(body, "chipclass_request_duration_seconds_sum", method="POST", route="/v1/screenings") or 0) > 0


def test_metrics_label_unknown_paths_as_unmatched_so_a_scanner_cannot_explode_the_series(client: TestClient) -> None:
    for i in range(3):
        assert client.get(f"/v1/no-such-thing-{i}").status_code == 404
    body = client.get("/metrics").text
    assert "no-such-thing" not in body
    assert sample(body, "chipclass_requests_total", method="GET", route="unmatched", status="404") == 3


def test_metrics_count_decisions_stored_and_replayed(client: TestClient) -> None:
    key = {"Idempotency-Key": "metrics-1"}
    assert client.post("/v1/screenings", json=SCREENING, headers=key).status_code == 201
    assert client.post("/v1/screenings", json=SCREENING, headers=key).status_code == 200
    assert client.post("/v1/screenings", json=SCREENING).status_code == 201
    body = client.get("/metrics").text
    assert sample(body, "chipclass_decisions_total", kind="screening", replayed="false") == 2
    assert sample(body, "chipclass_decisions_total", kind="screening", replayed="true") == 1


def test_metrics_are_prometheus_text_without_a_key(anon: TestClient) -> None:
    resp = anon.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "# TYPE chipclass_requests_total counter" in resp.text


# ------------------------------------------------------------------ ETags follow the data


def test_an_etag_changes_when_the_rules_change_so_no_client_keeps_stale_rules(client: TestClient) -> None:
    first = client.get("/v1/rulesets")
    etag = first.headers["etag"]
    assert client.get("/v1/rulesets", headers={"If-None-Match": etag}).status_code == 304
    created = client.post("/v1/rulesets", json=licence_ruleset("etag-fr-2020"))
    assert created.status_code == 201, created.text
    after = client.get("/v1/rulesets", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    assert "etag-fr-2020" in [r["id"] for r in after.json()["items"]]


def test_an_etag_is_per_url_and_query(client: TestClient) -> None:
    tags = {
        client.get("/v1/accelerators").headers["etag"],
        client.get("/v1/accelerators", params={"vendor": "amd"}).headers["etag"],
        client.get("/v1/rulesets").headers["etag"],
    }
    assert len(tags) == 3


def licence_ruleset(ruleset_id: str) -> dict[str, Any]:
    return {
        "id": ruleset_id,
        "family": f"{ruleset_id}-family",
        "title": "Test: licence for 3A090.a items to FR",
        "effective_from": "2020-01-01",
        "reason": "test: a back-dated rule, acknowledged",
        "retroactive": True,
        "source_kind": "guidance",
        "citations": [{"source": "chipclass test", "source_kind": "guidance"}],
        "destination_rules": [
            {
                "id": f"{ruleset_id}-fr",
                "label": "3A090.a to FR",
                "citation": "chipclass test",
                "items": {"eccns": ["3A090.a"]},
                "destinations": {"countries": ["FR"]},
                "review_policy": "case-by-case",
            }
        ],
    }


# ------------------------------------------------------------------ the decision log, paged


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_paging_the_decision_log_returns_every_record_once_in_order(client: TestClient, limit: int) -> None:
    made = [client.post("/v1/screenings", json={**SCREENING, "reference": f"PO-{i}"}).json()["id"] for i in range(7)]
    seen: list[int] = []
    ids: list[str] = []
    cursor = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/decisions", params=params).json()
        assert len(page["items"]) <= limit
        seen += [d["seq"] for d in page["items"]]
        ids += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, 8))
    assert ids == made


def test_the_last_full_page_has_no_next_cursor(client: TestClient) -> None:
    for i in range(4):
        client.post("/v1/screenings", json={**SCREENING, "reference": f"PO-{i}"})
    first = client.get("/v1/decisions", params={"limit": 2}).json()
    second = client.get("/v1/decisions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [d["seq"] for d in second["items"]] == [3, 4]
    assert second["next_cursor"] is None


# ------------------------------------------------------------------ admin writes


ACME = {
    "id": "acme-x1",
    "vendor": "Acme",
    "model": "X1",
    "aliases": ["X-1"],
    "datacenter": True,
    "throughput": [{"precision": "fp16", "dense_tops": "1000", "source": "acme-x1-datasheet"}],
    "die_area_mm2": {"value": "814", "source": "acme-x1-datasheet"},
    "memory_bandwidth_gbps": {"value": "3000", "source": "acme-x1-datasheet"},
    "interconnect_bandwidth_gbps": {"value": "900", "source": "acme-x1-datasheet"},
    "sources": {"acme-x1-datasheet": {"title": "Acme X1 datasheet", "kind": "vendor_datasheet"}},
}


def test_an_accelerator_added_by_an_admin_is_listed_classified_and_screened_at_once(client: TestClient) -> None:
    created = client.post("/v1/accelerators", json={**ACME, "reason": "Acme datasheet"})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == "acme-x1"
    record = client.get("/v1/accelerators/acme-x1")
    assert record.status_code == 200
    assert record.json()["die_area_mm2"]["value"] == "814"
    assert "acme-x1" in {i["id"] for i in client.get("/v1/accelerators", params={"q": "acme"}).json()["items"]}
    classified = client.post("/v1/classifications", json={"accelerator_id": "acme-x1"}).json()
    assert classified["eccn"] == "3A090.a"
    screened = client.post(
        "/v1/screenings",
        json={**SCREENING, "lines": [{"key": "a", "accelerator_id": "acme-x1", "quantity": 1}]},
    )
    assert screened.status_code == 201 and screened.json()["license_required"] is True
    again = client.post("/v1/accelerators", json={**ACME, "reason": "Acme datasheet"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"


# ------------------------------------------------------------------ readiness


@pytest.fixture
def unreachable_database() -> Iterator[TestClient]:
    """The app pointed at a PostgreSQL port where nothing listens (refused at once)."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    app = create_app(make_settings(url, db_connect_timeout_s=1, db_retry_max_s=0.5))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        yield c


def test_readiness_is_503_naming_the_database_when_it_is_unreachable(unreachable_database: TestClient) -> None:
    resp = unreachable_database.get("/readyz")
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.headers["retry-after"] == "2"
    body = resp.json()
    assert body["code"] == "not_ready"
    assert "database: unreachable" in body["detail"] and "rules: not loaded" in body["detail"]
    assert unreachable_database.get("/healthz").status_code == 200


def test_requests_before_the_rules_are_loaded_are_503_not_ready_with_retry_after(
    unreachable_database: TestClient,
) -> None:
    resp = unreachable_database.post("/v1/classifications", json={"accelerator_id": H100})
    assert resp.status_code == 503
    assert resp.json()["code"] == "not_ready"
    assert resp.headers["retry-after"] == "2"


def test_readiness_says_migrations_are_behind_when_start_up_may_not_migrate(empty_database_url: str) -> None:
    app = create_app(make_settings(empty_database_url, migrate_on_start=False, db_retry_max_s=0.5))
    with TestClient(app) as c:
        deadline = time.monotonic() + 30  # until start-up has tried once and said why (the readiness
        # check's own "migrations: behind" can come first, while start-up is still "starting")
        while "(migrations: behind)" not in (body := c.get("/readyz").json())["detail"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert c.get("/readyz").status_code == 503
        assert "migrations: behind" in body["detail"], body
        assert "rules: not loaded (migrations: behind)" in body["detail"], body


def test_readiness_is_200_with_every_check_ok_and_the_data_version(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "migrations": "ok", "rules": "ok"}
    assert (
        body["data_version"] == client.post("/v1/classifications", json={"accelerator_id": H100}).json()["data_version"]
    )


# ------------------------------------------------------------------ group commit, as operators see it


def test_screenings_waiting_on_a_busy_database_are_committed_together_in_one_transaction(
    database_url: str,
) -> None:
    """The writer is held on the database's write lock (another connection has it); six screenings
    queue behind it; when the lock is released they commit in at most two transactions, not six.
    /metrics shows it: chipclass_decision_batch_size counts transactions and the decisions in them."""
    app = create_app(make_settings(database_url, sqlite_busy_timeout_ms=120_000, db_statement_timeout_ms=120_000))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        with holding_the_chain_lock(database_url):
            results: list[int] = []
            threads = [
                threading.Thread(
                    target=lambda i=i: results.append(
                        c.post("/v1/screenings", json={**SCREENING, "reference": f"PO-{i}"}).status_code
                    )
                )
                for i in range(6)
            ]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while sample(c.get("/metrics").text, "chipclass_decisions_pending") != 6:
                assert time.monotonic() < deadline, c.get("/metrics").text
                time.sleep(0.01)
        for t in threads:
            t.join(60)
        assert results == [201] * 6
        body = c.get("/metrics").text
        assert sample(body, "chipclass_decision_batch_size_sum") == 6
        assert (sample(body, "chipclass_decision_batch_size_count") or 0) <= 2, body
        assert sample(body, "chipclass_decisions_pending") == 0


@contextmanager
def holding_the_chain_lock(database_url: str) -> Iterator[None]:
    """Another connection holds the lock every decision writer takes first (SQLite: the database
    write lock; PostgreSQL: the chain-head row lock) until the block ends."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(str(url.database), isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM decision_chain WHERE id = 1 FOR UPDATE"))
            try:
                yield
            finally:
                conn.rollback()
    finally:
        engine.dispose()
