"""Real `chipclass serve` processes for end-to-end tests.

Each server gets a free port, its own environment (database URL, bootstrap admin key, reload
interval) and log files (never pipes, so a chatty server cannot block on a full pipe). Every
process a test starts is killed at teardown, whatever happened in the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.db import normalize_url
from tests.conftest import ADMIN_KEY, PG_URL, _pg_exec

READY_TIMEOUT_S = float(os.environ.get("CHIPCLASS_E2E_READY_TIMEOUT_S", "90"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chipclass_command() -> list[str]:
    """The `chipclass` command of the interpreter running the tests."""
    script = Path(sys.executable).with_name("chipclass")
    if script.exists():
        return [str(script)]
    found = shutil.which("chipclass")
    return [found] if found else [sys.executable, "-m", "app.cli"]


@dataclass
class Server:
    name: str
    database_url: str
    port: int
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    files: list[IO[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def logs(self, limit: int = 4000) -> str:
        out = []
        for path in (self.stdout_path, self.stderr_path):
            text = path.read_text(errors="replace") if path.exists() else ""
            out.append(f"--- {path.name} (last {limit} chars) ---\n{text[-limit:]}")
        return "\n".join(out)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Block until /readyz answers 200; returns the seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        last = "no answer"
        with httpx.Client(base_url=self.base_url, timeout=2.0) as c:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode}\n{self.logs()}")
                try:
                    resp = c.get("/readyz")
                    if resp.status_code == 200:
                        return time.monotonic() - start
                    last = f"{resp.status_code} {resp.text[:300]}"
                except httpx.TransportError as exc:
                    last = type(exc).__name__
                time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready after {timeout}s ({last})\n{self.logs()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server's process group (it runs in a session of its own) and reap it."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        if sig == signal.SIGKILL:
            self.proc.wait(timeout=10)

    def close(self) -> None:
        self.kill(signal.SIGKILL)
        for f in self.files:
            f.close()


class Servers:
    """Starts servers for one test; `stop_all` kills every one of them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Server] = []

    def start(
        self,
        database_url: str,
        name: str = "server",
        reload_interval_s: float = 1.0,
        wait: bool = True,
        args: tuple[str, ...] = (),
        env_overrides: dict[str, str] | None = None,
    ) -> Server:
        """Start `chipclass serve`; ``env_overrides`` adds to (or overrides) its CHIPCLASS_ settings."""
        port = free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CHIPCLASS_")}
        environ.update(
            {
                "CHIPCLASS_DATABASE_URL": database_url,
                "CHIPCLASS_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
                "CHIPCLASS_RELOAD_INTERVAL_S": str(reload_interval_s),
                "CHIPCLASS_HOST": "127.0.0.1",
                "CHIPCLASS_PORT": str(port),
                "CHIPCLASS_LOG_LEVEL": "WARNING",
                "CHIPCLASS_SHUTDOWN_GRACE_S": "2",
                "PYTHONUNBUFFERED": "1",
                **(env_overrides or {}),
            }
        )
        index = len(self.started)
        stdout_path = self.log_dir / f"{index:02d}-{name}.stdout.log"
        stderr_path = self.log_dir / f"{index:02d}-{name}.stderr.log"
        out = stdout_path.open("wb")
        err = stderr_path.open("wb")
        proc = subprocess.Popen(
            [*chipclass_command(), "serve", *args],
            cwd=self.log_dir,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        server = Server(name, database_url, port, proc, stdout_path, stderr_path, [out, err])
        self.started.append(server)
        if wait:
            server.wait_ready()
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.close()


@pytest.fixture(scope="module")
def module_database_url(template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like database_url, shared by the tests of one module (for servers that are slow to start)."""
    if PG_URL:
        name = f"chipclass_m_{uuid.uuid4().hex[:12]}"
        _pg_exec(PG_URL, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield normalize_url(str(make_url(PG_URL).set(database=name)))
        _pg_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path_factory.mktemp("module-db") / "test.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"


@pytest.fixture(scope="module")
def module_servers(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A server factory shared by the tests of one module; its servers are killed after the last one."""
    factory = Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[Servers]:
    """A factory of real server processes; depends on database_url so the database outlives them."""
    log_dir = tmp_path / "servers"
    log_dir.mkdir()
    factory = Servers(log_dir)
    try:
        yield factory
    finally:
        factory.stop_all()
