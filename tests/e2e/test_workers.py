"""`chipclass serve --workers 2`: two worker processes on one port, started on an empty database
(prepared once, before they start), writing concurrent screenings into one decision chain."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from app.config import Settings
from app.db import make_engine
from app.decisions.repository import verify
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Servers

SCREEN = {
    "destination": "SG",
    "end_user": {"name": "Workers Pte Ltd", "parent_headquarters": "CN"},
    "lines": [{"key": "1", "accelerator_id": "nvidia-h20-96gb", "quantity": 2}],
}


def _workers(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if ppid == pid and b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def test_two_workers_write_concurrent_screenings_into_one_verified_chain(
    empty_database_url: str, servers: Servers
) -> None:
    server = servers.start(empty_database_url, name="workers", args=("--workers", "2"))
    assert len(_workers(server.proc.pid)) == 2, server.logs()
    made: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client_thread() -> None:
        # a client of its own: its own connections, so the kernel spreads them over both workers
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as c:
            for _ in range(12):
                resp = c.post("/v1/screenings", json=SCREEN)
                for _ in range(100):  # a worker still loading its rules answers 503 not_ready (Retry-After)
                    if resp.status_code != 503:
                        break
                    time.sleep(0.1)
                    resp = c.post("/v1/screenings", json=SCREEN)
                with lock:
                    if resp.status_code == 201:
                        made.append(resp.json()["id"])
                    else:
                        failures.append(f"{resp.status_code} {resp.text[:200]}")

    threads = [threading.Thread(target=client_thread) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [], server.logs()
    assert len(set(made)) == 96
    result = verify(make_engine(Settings(database_url=empty_database_url)))
    assert result.ok, result
    assert result.checked == 96
