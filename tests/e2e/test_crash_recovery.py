"""SIGKILL a real server in the middle of a stream of screenings, restart it on the same database:
every decision id a client received is there, byte for byte, and the chain verifies. Requests whose
answer was lost in the crash are retried with their Idempotency-Key and make exactly one decision.

One request is certainly caught by the crash, on any machine: the test-only gate
(CHIPCLASS_TEST_HOLD_DIR) holds its answer after the decision committed, and the SIGKILL comes while
it is held; its retry must replay that decision.

Runs on SQLite, and on PostgreSQL when CHIPCLASS_TEST_DATABASE_URL is set."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.db import normalize_url
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Servers

pytestmark = pytest.mark.slow

CLIENTS = 4
KILL_AFTER = 40  # decisions received before the SIGKILL
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def screening(client_no: int, i: int) -> dict[str, object]:
    return {
        "destination": ["CN", "FR", "AE", "IN"][i % 4],
        "end_user": {"name": f"Buyer {client_no}"},
        "lines": [{"key": "a", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": i + 1}],
        "reference": f"PO-{client_no}-{i}",
    }


@dataclass
class Stream:
    received: dict[str, bytes] = field(default_factory=dict)  # decision id -> body as returned
    # (key, body, sent while the server was alive): requests whose answer never came
    unknown: list[tuple[str, dict[str, object], bool]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dead: threading.Event = field(default_factory=threading.Event)  # set once the process is reaped

    def run(self, base_url: str, client_no: int) -> None:
        with httpx.Client(base_url=base_url, headers=HEADERS, timeout=10) as client:
            i = 0
            while True:
                body, key = screening(client_no, i), f"crash-{client_no}-{i}"
                sent_alive = not self.dead.is_set()
                try:
                    resp = client.post("/v1/screenings", json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    with self.lock:
                        self.unknown.append((key, body, sent_alive))
                    return  # the server is gone
                with self.lock:
                    if resp.status_code == 201:
                        self.received[resp.json()["id"]] = resp.content
                    else:
                        self.other.append(f"{resp.status_code} {resp.text[:200]}")
                i += 1


def test_every_decision_returned_before_a_sigkill_survives_the_restart(
    servers: Servers, database_url: str, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    first = servers.start(database_url, "before-crash", env_overrides={"CHIPCLASS_TEST_HOLD_DIR": str(hold)})
    stream = Stream()
    threads = [threading.Thread(target=stream.run, args=(first.base_url, n), daemon=True) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(stream.received) < KILL_AFTER and time.monotonic() < deadline and not stream.other:
        time.sleep(0.01)

    # one screening committed whose answer is still inside the server when it dies
    held_body, held_key = screening(99, 0), "crash-held"
    lost: list[BaseException] = []

    def post_held() -> None:
        headers = {
            "Idempotency-Key": held_key,
            "X-Chipclass-Test-Hold": "crash",
            "X-Chipclass-Test-Hold-At": "response",
        }
        try:
            with httpx.Client(base_url=first.base_url, headers=HEADERS, timeout=60) as client:
                client.post("/v1/screenings", json=held_body, headers=headers)
        except httpx.TransportError as exc:
            lost.append(exc)

    held = threading.Thread(target=post_held, daemon=True)
    held.start()
    while not list(hold.glob("crash.*.held")) and time.monotonic() < deadline + 60:
        time.sleep(0.01)
    assert list(hold.glob("crash.*.held")), f"the held screening never reached its answer\n{first.logs()}"

    first.kill()  # SIGKILL, mid-stream; returns once the process is reaped
    stream.dead.set()
    killed_with = len(stream.received)
    for t in [*threads, held]:
        t.join(timeout=30)
    assert stream.other == [], stream.other
    assert killed_with >= KILL_AFTER, f"only {killed_with} screenings before the deadline\n{first.logs()}"
    assert len(lost) == 1, "the held screening was answered, or never sent"
    in_flight = [(key, body) for key, body, alive in stream.unknown if alive] + [(held_key, held_body)]

    second = servers.start(database_url, "after-restart")
    with second.client() as client:
        # every id any client received is retrievable, exactly as it was returned
        for decision_id, body in stream.received.items():
            again = client.get(f"/v1/screenings/{decision_id}")
            assert again.status_code == 200, (decision_id, again.text)
            assert again.content == body
        # the held answer was committed before the crash: its retry replays that decision
        retry = client.post("/v1/screenings", json=held_body, headers={"Idempotency-Key": held_key})
        assert retry.status_code == 200 and retry.headers.get("idempotent-replayed") == "true", retry.text
        # answers lost in the crash: the retry either replays the committed decision or makes it now
        for key, body, _ in stream.unknown:
            retry = client.post("/v1/screenings", json=body, headers={"Idempotency-Key": key})
            assert retry.status_code in (200, 201), retry.text
            assert client.get(f"/v1/screenings/{retry.json()['id']}").content == retry.content
        verification = client.get("/v1/decisions/verify").json()
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            count, low, high = conn.execute(text("SELECT count(*), min(seq), max(seq) FROM decision")).one()
            per_key = conn.execute(
                text("SELECT idempotency_key, count(*) FROM decision GROUP BY idempotency_key HAVING count(*) > 1")
            ).all()
    finally:
        engine.dispose()
    assert verification["ok"] is True, verification
    assert verification["checked"] == count == high
    assert low == 1
    assert per_key == [], f"idempotency keys with more than one decision: {per_key}"
    # one decision per request: each one received, the held one, and each lost answer (its retry
    # replayed the decision committed before the crash or made it now: never both, never neither)
    assert count == len(stream.received) + 1 + len(stream.unknown)
    print(
        f"\ncrash recovery: {len(stream.received)} decisions returned before SIGKILL, 1 held and committed, "
        f"{len(in_flight) - 1} more sent before it died, {count} in the chain after the retries, verify ok"
    )
