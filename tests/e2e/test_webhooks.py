"""Signed webhooks against a real receiver process: in order, at least once under a stable id,
through a receiver outage and a SIGKILL of the service. The receiver verifies every signature with
the `standardwebhooks` package."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, Servers, free_port

pytestmark = pytest.mark.slow
RECEIVER = Path(__file__).with_name("webhook_receiver.py")
FAST_RETRIES = {
    "CHIPCLASS_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
    "CHIPCLASS_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "CHIPCLASS_WEBHOOK_BACKOFF_BASE_S": "0.05",
    "CHIPCLASS_WEBHOOK_BACKOFF_MAX_S": "0.3",
    "CHIPCLASS_WEBHOOK_POLL_S": "0.2",
}


class Receiver:
    def __init__(self, port: int, secret: str, out: Path, delay: float = 0.0) -> None:
        self.port, self.secret, self.out, self.delay = port, secret, out, delay
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *(sys.executable, str(RECEIVER), "--port", str(self.port), "--secret", self.secret),
                *("--out", str(self.out), "--delay", str(self.delay)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # listening once a request gets any answer
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("receiver did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def received(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]


@pytest.fixture
def receiver_port() -> int:
    return free_port()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for r in started:
        r.stop()


def subscribe(server: Server, port: int) -> dict[str, Any]:
    with server.client() as c:
        resp = c.post(
            "/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/hook", "event_types": ["screening.created"]}
        )
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


def screen(server: Server, n: int) -> str:
    body = {
        "destination": "CN",
        "end_user": {"name": f"Buyer {n}"},
        "reference": f"wh-{n}",
        "lines": [{"key": "1", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": 1}],
    }
    with server.client() as c:
        resp = c.post("/v1/screenings", json=body)
    assert resp.status_code == 201, resp.text
    screening_id: str = resp.json()["id"]
    return screening_id


def stream(server: Server) -> list[dict[str, Any]]:
    with server.client() as c:
        items: list[dict[str, Any]] = c.get("/v1/events", params={"type": "screening.created", "limit": 500}).json()[
            "items"
        ]
    return items


def wait_for(receiver: Receiver, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = receiver.received()
        if len({r["headers"]["webhook-id"] for r in got}) >= count:
            return got
        time.sleep(0.1)
    raise AssertionError(f"receiver got {len(receiver.received())} of {count} deliveries")


def test_deliveries_are_signed_ordered_and_survive_a_receiver_outage(
    servers: Servers, database_url: str, receiver_port: int, receivers: list[Receiver], tmp_path: Path
) -> None:
    server = servers.start(database_url, env_overrides=FAST_RETRIES)
    sub = subscribe(server, receiver_port)
    receiver = Receiver(receiver_port, sub["secret"], tmp_path / "deliveries.jsonl")
    receivers.append(receiver)
    receiver.start()
    first = [screen(server, n) for n in range(5)]
    wait_for(receiver, 5)

    receiver.stop()  # down: deliveries fail and are retried with back-off
    later = [screen(server, n) for n in range(5, 15)]
    with server.client() as c:

        def retrying() -> bool:
            log = c.get(f"/v1/webhooks/{sub['id']}/deliveries").json()["items"]
            return any(d["outcome"] == "retrying" for d in log)

        deadline = time.monotonic() + 30
        while not retrying() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert retrying(), "no failed attempt was logged while the receiver was down"
    receiver.start()  # back: everything arrives, in order
    got = wait_for(receiver, 15)

    assert all(r["verified"] for r in got), "a delivery failed signature verification"
    published = stream(server)
    assert [e["subject"] for e in published] == first + later
    first_seen: list[str] = []
    for r in got:
        if r["headers"]["webhook-id"] not in first_seen:
            first_seen.append(r["headers"]["webhook-id"])
    assert first_seen == [e["id"] for e in published], "deliveries out of order"
    for r in got:
        body = json.loads(r["body"])
        assert body["id"] == r["headers"]["webhook-id"] and body["type"] == "screening.created"
    with server.client() as c:
        log = c.get(f"/v1/webhooks/{sub['id']}/deliveries", params={"limit": 200}).json()["items"]
        state = c.get(f"/v1/webhooks/{sub['id']}").json()
    assert {d["event_id"] for d in log if d["outcome"] == "succeeded"} == set(first_seen)
    assert state["enabled"] and state["failures"] == 0 and "secret" not in state


def test_a_service_killed_mid_delivery_loses_nothing_and_resends_under_the_same_id(
    servers: Servers, database_url: str, receiver_port: int, receivers: list[Receiver], tmp_path: Path
) -> None:
    server = servers.start(database_url, env_overrides=FAST_RETRIES)
    sub = subscribe(server, receiver_port)
    receiver = Receiver(receiver_port, sub["secret"], tmp_path / "deliveries.jsonl", delay=0.3)
    receivers.append(receiver)
    receiver.start()
    for n in range(8):
        screen(server, n)
    wait_for(receiver, 2)
    server.kill()  # SIGKILL while deliveries are in flight
    again = servers.start(database_url, name="restarted", env_overrides=FAST_RETRIES)
    # the dead process's lease on the subscription runs out (15 s) before the new one takes over
    got = wait_for(receiver, 8, timeout=120)

    published = stream(again)
    assert len(published) == 8
    by_id: dict[str, set[str]] = {}
    for r in got:
        assert r["verified"]
        by_id.setdefault(r["headers"]["webhook-id"], set()).add(r["body"])
    assert set(by_id) == {e["id"] for e in published}, "an event was lost or delivered under another id"
    assert all(len(bodies) == 1 for bodies in by_id.values()), "a resend carried a different body"
