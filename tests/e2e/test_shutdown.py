"""A real `chipclass serve` process stopped with SIGTERM while screenings are in flight.

Protects issue 6 (container deployment), "Shutdown": in-flight requests finish within the grace
period, no decision is half written, the process exits 0, and every decision it returned is still
there, byte for byte, after a restart.

The overlap is certain by construction, on any machine: the four screenings are held inside the
server (the test-only gate, CHIPCLASS_TEST_HOLD_DIR) until the server has received SIGTERM and
stopped accepting connections; only then are they let through.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server, Servers, chipclass_command

pytestmark = pytest.mark.slow

IN_FLIGHT = 4
LINES = 1000
ACCELERATORS = ["nvidia-h100-sxm5-80gb", "nvidia-h20-96gb"]
WAIT_S = 60  # an upper bound for things that happen, never a delay


def _big_screening(n: int) -> dict[str, object]:
    return {
        "destination": "CN",
        "end_user": {"name": f"Shutdown test {n}"},
        "reference": f"shutdown-{n}",
        "lines": [
            {"key": str(i), "accelerator_id": ACCELERATORS[i % len(ACCELERATORS)], "quantity": 1 + i}
            for i in range(LINES)
        ],
    }


def _until(condition: object, what: str, server: Server) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen in {WAIT_S}s\n{server.logs()}")
        time.sleep(0.01)


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_sigterm_lets_in_flight_screenings_finish_exits_0_and_keeps_every_decision(
    servers: Servers, database_url: str, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    server = servers.start(
        database_url,
        "shutdown",
        env_overrides={"CHIPCLASS_TEST_HOLD_DIR": str(hold), "CHIPCLASS_SHUTDOWN_GRACE_S": "60"},
    )
    results: list[httpx.Response | BaseException] = [RuntimeError("no result")] * IN_FLIGHT

    def post(i: int) -> None:
        try:
            with server.client(timeout=WAIT_S * 2) as c:
                results[i] = c.post(
                    "/v1/screenings", json=_big_screening(i), headers={"X-Chipclass-Test-Hold": "shutdown"}
                )
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=post, args=(i,), daemon=True) for i in range(IN_FLIGHT)]
    for t in threads:
        t.start()
    _until(lambda: len(list(hold.glob("shutdown.*.held"))) == IN_FLIGHT, "every screening held in the server", server)

    server.kill(signal.SIGTERM)
    _until(lambda: _refuses_connections(server.port), "the server closing its listener after SIGTERM", server)
    assert server.alive(), "the server exited with requests still in flight"
    (hold / "shutdown.release").touch()  # the screenings run only now, during the shutdown
    for t in threads:
        t.join(WAIT_S * 2)

    code = server.proc.wait(timeout=WAIT_S)
    assert code == 0, f"exit code {code}\n{server.logs()}"
    ids: dict[str, bytes] = {}
    for r in results:
        assert isinstance(r, httpx.Response), f"{r!r}\n{server.logs()}"
        assert r.status_code == 201, r.text[:500]
        ids[r.json()["id"]] = r.content
    assert len(ids) == IN_FLIGHT

    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIPCLASS_")}
    verify = subprocess.run(
        [*chipclass_command(), "decisions", "verify"],
        env={**env, "CHIPCLASS_DATABASE_URL": database_url, "CHIPCLASS_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads(verify.stdout)
    assert report["ok"] is True and report["checked"] == IN_FLIGHT

    again = servers.start(database_url, "after-restart")
    with httpx.Client(base_url=again.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10) as c:
        for decision_id, first in ids.items():
            stored = c.get(f"/v1/screenings/{decision_id}")
            assert stored.status_code == 200, stored.text
            assert stored.content == first
    again.kill(signal.SIGTERM)
    assert again.proc.wait(timeout=WAIT_S) == 0
