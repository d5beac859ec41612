"""Fault drills against real `chipclass serve` processes (issue 10). Run by `.ci/faults.sh` on SQLite
and PostgreSQL (`-m fault`; the default run leaves them out). Each drill states what must hold:
no acknowledged decision lost, the chain verifies, only retryable failures say Retry-After, and the
service recovers without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import ADMIN_KEY, PG_URL
from tests.e2e.conftest import Server, Servers

pytestmark = [pytest.mark.fault, pytest.mark.slow]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def screening(dest: str = "FR", key: str = "1") -> dict[str, Any]:
    return {
        "destination": dest,
        "end_user": {"name": "Drill Ltd"},
        "lines": [{"key": key, "accelerator_id": "nvidia-h20-96gb", "quantity": 1}],
    }


async def _post(c: httpx.AsyncClient, body: dict[str, Any], key: str | None = None) -> httpx.Response | Exception:
    try:
        return await c.post("/v1/screenings", json=body, headers={"Idempotency-Key": key} if key else {})
    except httpx.TransportError as exc:
        return exc


def _status(r: httpx.Response | Exception) -> str:
    return type(r).__name__ if isinstance(r, Exception) else str(r.status_code)


def assert_intact(server: Server, acknowledged: list[str]) -> None:
    """Every acknowledged decision is stored exactly as returned, and the chain verifies."""
    with server.client(timeout=30) as c:
        verify = c.get("/v1/decisions/verify").json()
        assert verify["ok"], verify
        missing = [d for d in acknowledged if c.get(f"/v1/screenings/{d}").status_code != 200]
        assert missing == [], f"{len(missing)} acknowledged decisions lost"
        print(f"  chain verifies: {verify['checked']} decisions, {len(acknowledged)} acknowledged all present")


def test_idempotency_conflicts_mixed_with_normal_traffic_fail_only_their_own_request(
    servers: Servers, database_url: str
) -> None:
    server = servers.start(database_url)

    async def run() -> tuple[Counter[str], list[str]]:
        counts: Counter[str] = Counter()
        stored: list[str] = []
        async with httpx.AsyncClient(base_url=server.base_url, headers=AUTH, timeout=60) as c:
            first = await _post(c, screening("SG"), "shared")
            assert isinstance(first, httpx.Response) and first.status_code == 201
            stored.append(first.json()["id"])
            for rnd in range(8):
                tasks = [
                    _post(c, screening("DE"), "shared") if i % 6 == 0 else _post(c, screening("FR"), f"k{rnd}-{i}")
                    for i in range(60)
                ]
                for i, r in enumerate(await asyncio.gather(*tasks)):
                    kind = "conflict" if i % 6 == 0 else "normal"
                    counts[f"{kind} {_status(r)}"] += 1
                    if kind == "normal" and isinstance(r, httpx.Response) and r.status_code == 201:
                        stored.append(r.json()["id"])
        return counts, stored

    counts, stored = asyncio.run(run())
    print(f"  idempotency storm: {dict(counts)}")
    assert counts == Counter({"conflict 422": 80, "normal 201": 400}), counts
    assert_intact(server, stored)


class Proxy:
    """A TCP proxy the drill can cut: every connection dropped, new ones refused, until restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            for s in self.conns:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self.conns.clear()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.mark.skipif(not PG_URL, reason="a network cut needs PostgreSQL (CHIPCLASS_TEST_DATABASE_URL)")
def test_a_database_cut_during_a_screening_stream_loses_no_acknowledged_decision(
    servers: Servers, database_url: str
) -> None:
    url = make_url(database_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        server = servers.start(proxied, env_overrides={"CHIPCLASS_DB_CONNECT_TIMEOUT_S": "1"})
        counts: Counter[str] = Counter()
        acknowledged: list[str] = []
        retry_after_missing = 0

        async def stream(stop: asyncio.Event, who: int) -> None:
            nonlocal retry_after_missing
            async with httpx.AsyncClient(base_url=server.base_url, headers=AUTH, timeout=30) as c:
                n = 0
                while not stop.is_set():
                    n += 1
                    r = await _post(c, screening(key=str(n)), f"cut-{who}-{n}")
                    counts[_status(r)] += 1
                    if isinstance(r, httpx.Response):
                        if r.status_code == 201:
                            acknowledged.append(r.json()["id"])
                        elif r.status_code == 503 and "retry-after" not in r.headers:
                            retry_after_missing += 1

        async def drill() -> None:
            stop = asyncio.Event()
            tasks = [asyncio.create_task(stream(stop, who)) for who in range(4)]
            await asyncio.sleep(2)
            proxy.cut()
            await asyncio.sleep(4)
            proxy.restore()
            await asyncio.sleep(4)
            stop.set()
            await asyncio.gather(*tasks)

        asyncio.run(drill())
        print(f"  database cut 4 s during a stream: {dict(counts)}")
        assert counts["201"] > 0 and counts["503"] > 0, counts
        assert set(counts) <= {"201", "503"}, counts  # never a 500, never a dropped connection
        assert retry_after_missing == 0
        with server.client() as c:
            assert c.post("/v1/screenings", json=screening()).status_code == 201  # recovered, no restart
        assert_intact(server, acknowledged)
    finally:
        proxy.close()


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's writer lock")
def test_a_sqlite_writer_lock_held_past_the_busy_timeout_is_503_then_recovers(
    servers: Servers, database_url: str
) -> None:
    server = servers.start(database_url, env_overrides={"CHIPCLASS_SQLITE_BUSY_TIMEOUT_MS": "300"})
    path = database_url.removeprefix("sqlite:///")
    with server.client(timeout=30) as c:
        before = c.post("/v1/screenings", json=screening())
        assert before.status_code == 201
        blocker = sqlite3.connect(path, timeout=5, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            blocked = [c.post("/v1/screenings", json=screening(key=str(n))) for n in range(3)]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        print(f"  writer lock held: {[r.status_code for r in blocked]} {blocked[0].json()['code']}")
        assert all(r.status_code == 503 and r.headers["retry-after"] for r in blocked)
        after = c.post("/v1/screenings", json=screening())
        assert after.status_code == 201
    assert_intact(server, [before.json()["id"], after.json()["id"]])


def test_sigstop_and_sigcont_of_the_server_delay_requests_but_lose_none(servers: Servers, database_url: str) -> None:
    server = servers.start(database_url)

    async def drill() -> list[httpx.Response | Exception]:
        async with httpx.AsyncClient(base_url=server.base_url, headers=AUTH, timeout=60) as c:
            tasks = [asyncio.create_task(_post(c, screening(key=str(n)), f"stop-{n}")) for n in range(40)]
            await asyncio.sleep(0.05)
            os.killpg(server.proc.pid, signal.SIGSTOP)
            await asyncio.sleep(3)
            os.killpg(server.proc.pid, signal.SIGCONT)
            return list(await asyncio.gather(*tasks))

    results = asyncio.run(drill())
    counts = Counter(_status(r) for r in results)
    print(f"  SIGSTOP 3 s then SIGCONT with 40 screenings in flight: {dict(counts)}")
    assert counts == Counter({"201": 40}), counts
    server.wait_ready(10)
    assert_intact(server, [r.json()["id"] for r in results if isinstance(r, httpx.Response)])


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 12 MB tmpfs (root only); unmounted afterwards whatever happened."""
    mount = tmp_path / "volume"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("disk-full drill: needs root to mount a size-limited tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.skipif(bool(PG_URL), reason="the SQLite volume")
def test_a_full_disk_is_503_nothing_half_written_and_recovers_when_space_returns(
    servers: Servers, database_url: str, small_volume: Path
) -> None:
    db = small_volume / "chipclass.db"
    shutil.copyfile(database_url.removeprefix("sqlite:///"), db)
    server = servers.start(f"sqlite:///{db}")
    filler = small_volume / "filler"
    with server.client(timeout=30) as c:
        first = c.post("/v1/screenings", json=screening())
        assert first.status_code == 201
        with filler.open("wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        full = [c.post("/v1/screenings", json=screening(key=str(n))) for n in range(20)]
        codes = Counter(r.status_code for r in full)
        print(f"  disk full: {dict(codes)} {full[-1].json().get('code')}")
        # what docs/operations.md says: 503 database_unavailable with Retry-After, nothing stored (pages
        # already allocated may fit a few screenings: those are 201 and stored)
        assert set(codes) <= {201, 503} and codes[201] < 20, codes
        refused = [r for r in full if r.status_code == 503]
        assert all(r.json()["code"] == "database_unavailable" and r.headers.get("retry-after") for r in refused)
        assert c.get("/healthz").status_code == 200
        filler.unlink()
        after = c.post("/v1/screenings", json=screening())
        assert after.status_code == 201, after.text
    stored = [r.json()["id"] for r in (first, *full, after) if r.status_code == 201]
    assert_intact(server, stored)
    server.kill(signal.SIGTERM)
    server.proc.wait(20)
    with sqlite3.connect(db) as conn:  # nothing half-written: the file passes SQLite's own check
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
