"""A real `chipclass serve` process stopped with SIGTERM while screenings are in flight.

Protects issue 6 (container deployment), "Shutdown": in-flight requests finish within the grace
period, no decision is half written, the process exits 0, and every decision it returned is still
there, byte for byte, after a restart.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

IN_FLIGHT = 4
LINES = 1000
ACCELERATORS = ["nvidia-h100-sxm5-80gb", "nvidia-h20-96gb"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _chipclass() -> list[str]:
    script = Path(sys.executable).with_name("chipclass")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


@dataclass
class Service:
    env: dict[str, str]
    base: str
    key: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # output to a file, never a pipe nobody reads (a full pipe would block the server)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*_chipclass(), "serve"], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited early:\n{self.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"not ready in 60 s:\n{self.log.read_text()[-3000:]}")

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    port = _free_port()
    key = "cc_e2e_" + secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "CHIPCLASS_DATABASE_URL": f"sqlite:///{tmp_path / 'chipclass.db'}",
        "CHIPCLASS_BOOTSTRAP_ADMIN_KEY": key,
        "CHIPCLASS_HOST": "127.0.0.1",
        "CHIPCLASS_PORT": str(port),
        "CHIPCLASS_SHUTDOWN_GRACE_S": "30",
        "CHIPCLASS_LOG_LEVEL": "WARNING",
    }
    env.pop("CHIPCLASS_TEST_DATABASE_URL", None)
    svc = Service(env=env, base=f"http://127.0.0.1:{port}", key=key, log=tmp_path / "server.log")
    yield svc
    svc.kill()


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


def _raw_post(base: str, key: str, path: str, body: bytes) -> bytes:
    """The request bytes for one POST on its own connection (so sending is separate from waiting)."""
    host = base.removeprefix("http://")
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2 :]
        body = out
    return status, body


def test_sigterm_lets_in_flight_screenings_finish_exits_0_and_keeps_every_decision(service: Service) -> None:
    service.start()
    port = int(service.env["CHIPCLASS_PORT"])

    sent = threading.Barrier(IN_FLIGHT + 1, timeout=30)
    results: list[tuple[int, bytes, float] | BaseException] = [RuntimeError("no result")] * IN_FLIGHT

    def worker(i: int) -> None:
        try:
            body = json.dumps(_big_screening(i)).encode()
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(_raw_post(service.base, service.key, "/v1/screenings", body))
                sent.wait()
                status, payload = _read_response(sock)
            results[i] = (status, payload, time.monotonic())
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(IN_FLIGHT)]
    for t in threads:
        t.start()
    sent.wait()  # every request is fully sent on an open connection
    time.sleep(0.2)  # and accepted by the server's event loop
    sigterm_at = time.monotonic()
    service.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    for t in threads:
        t.join(timeout=90)

    code = service.proc.wait(timeout=60)  # type: ignore[union-attr]
    log = service.log.read_text()
    assert code == 0, f"exit code {code}\n{log[-3000:]}"

    ids: dict[str, bytes] = {}
    for r in results:
        assert not isinstance(r, BaseException), f"{r!r}\n{log[-3000:]}"
        status, payload, _ = r
        assert status == 201, payload[:500]
        ids[json.loads(payload)["id"]] = payload
    assert len(ids) == IN_FLIGHT
    # the test means something only if the stop really overlapped requests still being served
    assert any(done_at > sigterm_at for _, _, done_at in results), "no request was in flight at SIGTERM"  # type: ignore[misc]

    verify = subprocess.run(
        [*_chipclass(), "decisions", "verify"], env=service.env, capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads(verify.stdout)
    assert report["ok"] is True
    assert report["checked"] >= IN_FLIGHT

    service.start()
    headers = {"Authorization": f"Bearer {service.key}"}
    for decision_id, first in ids.items():
        again = httpx.get(f"{service.base}/v1/screenings/{decision_id}", headers=headers, timeout=10)
        assert again.status_code == 200, again.text
        assert again.content == first
    assert service.terminate() == 0
