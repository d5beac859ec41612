"""Managing webhook subscriptions: validation, the secret shown once, test events, manual
redelivery, and giving up (and disabling) after the retry window."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.db import make_engine
from app.main import create_app
from app.webhooks import service
from app.webhooks.models import WebhookDelivery
from tests.conftest import ADMIN_KEY, make_settings, new_key, wait_ready
from tests.e2e.conftest import free_port
from tests.events.conftest import FAST, eventually

RECEIVER = Path(__file__).parents[1] / "e2e" / "webhook_receiver.py"


@pytest.fixture
def hooks(database_url: str) -> Iterator[TestClient]:
    settings = make_settings(
        database_url,
        **FAST,
        webhook_allow_private=True,
        webhook_backoff_base_s=0.02,
        webhook_backoff_max_s=0.05,
        webhook_retry_window_s=0.5,
    )
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        yield c


@pytest.mark.parametrize(
    "url,detail",
    [
        ("ftp://hooks.example.test/hook", "should match pattern"),
        ("http://]j/hook", "not a valid URL"),
        ("https://erp.example.com/hook", "not in CHIPCLASS_WEBHOOK_ALLOWED_HOSTS"),
        ("http://user:pw@hooks.example.test/hook", "credentials"),
        ("http://127.0.0.1:9/hook", "private, loopback or reserved"),
        ("http://10.1.2.3/hook", "private, loopback or reserved"),
        ("http://[::1]/hook", "private, loopback or reserved"),
        ("http://169.254.169.254/latest", "private, loopback or reserved"),
    ],
)
def test_webhook_urls_are_checked_and_private_addresses_refused_by_default(
    client: TestClient, url: str, detail: str
) -> None:
    resp = client.post("/v1/webhooks", json={"url": url, "event_types": ["screening.created"]})
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["errors"][0]["pointer"] == "/url" and detail in problem["errors"][0]["detail"]


def test_unknown_event_types_are_refused_with_the_allowed_list(client: TestClient) -> None:
    resp = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.test/h", "event_types": ["screening.deleted"]}
    )
    assert resp.status_code == 422
    assert "screening.outcome_changed" in resp.text


def test_only_admins_manage_webhooks_and_the_secret_is_shown_once(client: TestClient) -> None:
    auditor = new_key(client, "audit")
    denied = client.get("/v1/webhooks", headers={"Authorization": f"Bearer {auditor}"})
    assert denied.status_code == 403
    created = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.test/h", "event_types": ["reference.changed"]}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    listed = client.get("/v1/webhooks").json()["items"]
    assert [w["id"] for w in listed] == [body["id"]] and "secret" not in listed[0]
    assert "secret" not in client.get(f"/v1/webhooks/{body['id']}").json()
    assert client.delete(f"/v1/webhooks/{body['id']}").status_code == 204
    assert client.get(f"/v1/webhooks/{body['id']}").json()["code"] == "unknown_webhook"


def _receiver(port: int, secret: str, out: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--port", str(port), "--secret", secret, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return True
        except httpx.TransportError:
            return False

    eventually(listening, what="receiver listening")
    return proc


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []


def test_a_test_event_reaches_only_its_subscription_and_can_be_redelivered(hooks: TestClient, tmp_path: Path) -> None:
    port = free_port()
    target = hooks.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/a", "event_types": ["webhook.test"]})
    other = hooks.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/b", "event_types": ["webhook.test"]})
    secret, sub_id = target.json()["secret"], target.json()["id"]
    out = tmp_path / "got.jsonl"
    proc = _receiver(port, secret, out)
    try:
        queued = hooks.post(f"/v1/webhooks/{sub_id}/test")
        assert queued.status_code == 202
        event_id = queued.json()["event_id"]
        got = eventually(lambda: _lines(out), what="test delivery")
        assert [(g["headers"]["webhook-id"], g["verified"]) for g in got] == [(event_id, True)]
        again = hooks.post(f"/v1/webhooks/{sub_id}/deliveries/{event_id}/redeliver")
        assert again.status_code == 202
        got = eventually(lambda: len(_lines(out)) == 2 and _lines(out), what="redelivery")
        assert got[1]["headers"]["webhook-id"] == event_id and got[1]["body"] == got[0]["body"]
        log = eventually(
            lambda: (
                (items := hooks.get(f"/v1/webhooks/{sub_id}/deliveries").json()["items"]) and len(items) == 2 and items
            )
        )
        assert [(d["manual"], d["outcome"]) for d in log] == [(True, "succeeded"), (False, "succeeded")]
        # the other subscription never received the first one's test event
        assert hooks.get(f"/v1/webhooks/{other.json()['id']}/deliveries").json()["items"] == []
        assert (
            hooks.post(f"/v1/webhooks/{sub_id}/deliveries/msg_01ARZ3NDEKTSV4RRFFQ69G5FAV/redeliver").status_code == 404
        )
    finally:
        proc.kill()
        proc.wait(10)


def test_a_receiver_that_stays_down_past_the_retry_window_disables_the_subscription(hooks: TestClient) -> None:
    port = free_port()  # nothing listens here
    sub = hooks.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/h", "event_types": ["webhook.test"]})
    sub_id = sub.json()["id"]
    hooks.post(f"/v1/webhooks/{sub_id}/test")
    state = eventually(lambda: not (s := hooks.get(f"/v1/webhooks/{sub_id}").json())["enabled"] and s, what="disabled")
    assert "failed for" in state["disabled_reason"]
    log = hooks.get(f"/v1/webhooks/{sub_id}/deliveries").json()["items"]
    assert log[0]["outcome"] == "failed" and {d["outcome"] for d in log[1:]} == {"retrying"}
    assert all(d["status_code"] is None and d["error"] for d in log)
    # enabling it again retries the held event at once
    assert hooks.post(f"/v1/webhooks/{sub_id}/enable").json()["enabled"] is True


def test_events_long_poll_returns_when_an_event_is_committed(hooks: TestClient) -> None:
    head = hooks.get("/v1/events").json()["next_cursor"]
    url = f"http://127.0.0.1:{free_port()}/h"  # nothing listens: the delivery fails locally
    sub = hooks.post("/v1/webhooks", json={"url": url, "event_types": ["webhook.test"]}).json()
    timer = threading.Timer(0.3, lambda: hooks.post(f"/v1/webhooks/{sub['id']}/test"))
    timer.start()
    page = hooks.get("/v1/events", params={"after": head, "wait": 9}).json()
    timer.join()
    assert [e["type"] for e in page["items"]] == ["webhook.test"]
    assert page["next_cursor"] == str(page["items"][-1]["seq"])
    empty = hooks.get("/v1/events", params={"after": page["next_cursor"], "wait": 0}).json()
    assert empty == {"items": [], "next_cursor": page["next_cursor"]}


def test_an_attempt_finishing_after_its_subscription_was_deleted_is_not_logged(database_url: str) -> None:
    """Deleting a subscription deletes its delivery log, also when a delivery (scheduled or manual)
    was in flight: the attempt that finishes afterwards must not leave an orphan row behind."""
    engine = make_engine(make_settings(database_url))
    policy = service.Policy(allow_private=True)
    sub = service.create(engine, "http://127.0.0.1:9/h", ["webhook.test"], None, None, policy)
    service.send_test(engine, sub.id)
    assert service._claim(engine, sub.id, "me", service.now(), policy.lease_s)
    found = service._next(engine, sub.id, "me")
    assert found is not None and found[1] is not None
    held, event = found

    def logged() -> int:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(WebhookDelivery)).one()

    # the same calls log the attempt while the subscription exists (the check can fail)
    assert service._record(engine, held, event, "me", service.Attempt(True, 204, None, 3), policy) is True
    service._log_manual(engine, held, event, service.Attempt(True, 204, None, 3))
    assert logged() == 2

    service.delete(engine, sub.id)
    assert logged() == 0
    failed = service.Attempt(False, None, "ConnectError: refused", 3)
    assert service._record(engine, held, event, "me", failed, policy) is False
    service._log_manual(engine, held, event, failed)
    assert logged() == 0
    engine.dispose()
