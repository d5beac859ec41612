"""Classifications are pure functions of (item, day, rules): served as prepared bytes with a strong
ETag; the edge repeats them without FastAPI, but only after the same key and scope checks."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from fastapi.testclient import TestClient

from app.keys.service import KeyVerifier
from app.screening import service
from app.screening.schemas import ClassificationRequest
from tests.conftest import ADMIN_KEY, make_settings, new_key

URL = "/v1/accelerators/nvidia-h100-sxm5-80gb/classification?as_of=2026-01-20"


def test_the_same_classification_is_the_same_bytes_with_a_strong_etag(client: TestClient) -> None:
    first, second = client.get(URL), client.get(URL)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert re.fullmatch(r'"[0-9a-f]{32}"', first.headers["etag"])
    assert first.headers["etag"] == second.headers["etag"]
    assert "evaluated_at" not in first.json()  # when it was computed is the HTTP Date, not the body


def test_if_none_match_with_the_current_etag_is_304_without_a_body(client: TestClient) -> None:
    etag = client.get(URL).headers["etag"]
    for _ in range(2):  # the router's answer, then the edge's
        resp = client.get(URL, headers={"If-None-Match": etag})
        assert resp.status_code == 304
        assert resp.content == b""
        assert resp.headers["etag"] == etag
    assert client.get(URL, headers={"If-None-Match": '"other"'}).status_code == 200


def test_another_day_or_item_has_another_etag(client: TestClient) -> None:
    base = client.get(URL).headers["etag"]
    assert client.get(URL.replace("2026-01-20", "2022-01-20")).headers["etag"] != base
    assert client.get(URL.replace("h100-sxm5-80gb", "h20-96gb")).headers["etag"] != base


def test_a_repeated_classification_is_answered_from_the_prepared_bytes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = client.get(URL)

    def recompute(*_: object) -> None:
        raise AssertionError("recomputed")

    monkeypatch.setattr(service, "classify_prepared", recompute)
    again = client.get(URL)
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["x-request-id"] and again.headers["server-timing"].startswith("app;dur=")


def test_a_prepared_answer_still_needs_a_key_with_the_read_scope(client: TestClient, anon: TestClient) -> None:
    assert client.get(URL).status_code == 200
    assert anon.get(URL).status_code == 401
    assert anon.get(URL, headers={"Authorization": "Bearer cc_nobody_" + "x" * 40}).status_code == 401
    screen_only = new_key(client, "screen")
    assert anon.get(URL, headers={"Authorization": f"Bearer {screen_only}"}).status_code == 403
    reader = new_key(client, "read")
    assert anon.get(URL, headers={"Authorization": f"Bearer {reader}"}).status_code == 200


def test_a_post_classification_is_the_same_bytes_each_time(client: TestClient) -> None:
    body = {
        "spec": {"throughput": [{"precision": "fp16", "dense_tops": 148}], "die_area_mm2": 814, "datacenter": True},
        "as_of": "2026-01-20",
    }
    first, second = client.post("/v1/classifications", json=body), client.post("/v1/classifications", json=body)
    assert first.status_code == 200 and first.content == second.content
    sparse = {
        **body,
        "spec": {**body["spec"], "throughput": [{"precision": "fp16", "dense_tops": 296, "sparse": True}]},
    }
    noted = client.post("/v1/classifications", json=sparse).json()
    assert noted["spec_notes"], "the same figures given as sparse keep their own note"


def test_concurrent_requests_with_an_uncached_key_share_one_database_read(client: TestClient) -> None:
    verifier = KeyVerifier(client.app.state.engine, ttl=10)
    reads, release = [], threading.Event()
    load = verifier._load

    async def many() -> list[object]:
        loop, started = asyncio.get_running_loop(), asyncio.Event()

        def gated(raw: str) -> object:
            reads.append(raw)
            loop.call_soon_threadsafe(started.set)
            assert release.wait(10)
            return load(raw)

        verifier._load = gated  # type: ignore[method-assign]
        tasks = [asyncio.ensure_future(verifier.principal(ADMIN_KEY)) for _ in range(20)]
        await started.wait()  # the read is under way in a worker thread; every task asked meanwhile
        for _ in range(3):
            await asyncio.sleep(0)
        release.set()
        return await asyncio.gather(*tasks)

    principals = asyncio.run(many())
    assert len(reads) == 1
    assert all(p is not None and "admin" in p.scopes for p in principals)  # type: ignore[attr-defined]


def test_the_event_loop_lag_probe_reports_to_metrics(database_url: str) -> None:
    from app.main import create_app
    from tests.conftest import wait_ready

    app = create_app(make_settings(database_url, loop_lag_probe_ms=1))
    with TestClient(app) as c:
        wait_ready(c)
        text = c.get("/metrics").text
        count = re.search(r"^chipclass_event_loop_lag_seconds_count (\S+)$", text, re.M)
        assert count is not None and float(count[1]) >= 1
        assert "chipclass_gc_pause_seconds" in text


H100 = "nvidia-h100-sxm5-80gb"
SPEC_H100_LIKE = {"throughput": [{"precision": "fp16", "dense_tops": 989.5}], "datacenter": True, "die_area_mm2": 814}


def test_a_classification_names_the_item_and_reports_the_figures_it_computed(client: TestClient) -> None:
    body = client.post("/v1/classifications", json={"accelerator_id": H100, "as_of": "2026-01-20"}).json()
    assert (body["accelerator_id"], body["eccn"], body["assembly_eccn"]) == (H100, "3A090.a", "4A090.a")
    assert body["tpp"]["value"] == 15832.0
    assert body["performance_density"] == 19.449631
    assert body["memory_bandwidth_density"] is None  # a logic IC: no HBM figure


def test_an_hbm_classification_reports_its_memory_bandwidth_density(client: TestClient) -> None:
    spec = {"kind": "hbm", "datacenter": True, "memory_bandwidth_gbps": 1000, "die_area_mm2": 100}
    resp = client.post("/v1/classifications", json={"spec": spec, "as_of": "2026-01-20"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["memory_bandwidth_density"] == 10.0


@pytest.mark.parametrize("item", [{"accelerator_id": H100}, {"spec": {**SPEC_H100_LIKE}}], ids=["catalog", "spec"])
def test_the_same_item_classified_on_two_days_gets_each_days_rules(client: TestClient, item: dict[str, object]) -> None:
    """Before any advanced-computing rule (2022-01-01) the item is not 3A090; on 2026-01-20 it is,
    in one process (the engine's result is remembered per item and set of rules, never per item alone)."""
    before = client.post("/v1/classifications", json={**item, "as_of": "2022-01-01"}).json()
    after = client.post("/v1/classifications", json={**item, "as_of": "2026-01-20"}).json()
    assert (before["eccn"], before["rulesets"]) == (None, [])
    assert after["eccn"] == "3A090.a"


def test_a_classification_is_ready_to_serve_on_the_event_loop_once_computed_and_only_then(
    client: TestClient,
) -> None:
    snap = client.app.state.store.current
    req = ClassificationRequest.model_validate({"accelerator_id": "nvidia-a100-sxm4-80gb", "as_of": "2025-02-01"})
    assert service.prepared_if_ready(snap, req) is None  # never computed: off the loop
    prepared = service.classify_prepared(snap, req)
    assert service.prepared_if_ready(snap, req) is prepared


def test_a_classification_of_an_unknown_accelerator_is_404_naming_the_field(client: TestClient) -> None:
    resp = client.post("/v1/classifications", json={"accelerator_id": "no-such-chip"})
    assert resp.status_code == 404, resp.text
    assert resp.json()["code"] == "unknown_accelerator"
    assert [e["pointer"] for e in resp.json()["errors"]] == ["/accelerator_id"]


def test_a_classification_carries_an_items_advisory_from_its_date(client: TestClient) -> None:
    """General Prohibition 10 on the Ascend 910B, from 2025-05-13 (app/data/advisories.yaml)."""

    def warnings(as_of: str) -> list[str]:
        body = {"accelerator_id": "huawei-ascend-910b", "as_of": as_of}
        resp = client.post("/v1/classifications", json=body)
        assert resp.status_code == 200, resp.text
        return list(resp.json()["warnings"])

    assert not any("General Prohibition 10" in w for w in warnings("2025-05-12"))
    assert any("General Prohibition 10" in w for w in warnings("2025-05-13"))
