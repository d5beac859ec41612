"""The edge, on a real uvicorn socket: an error never breaks a keep-alive connection, a chunked body
over the limit is 413, a caller is authenticated before its body is parsed, a repeated JSON key is
refused, and every log line of a failure carries the request id (repeats summarised)."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from app.db import make_engine
from app.failures import FailureLog, failures
from app.main import create_app
from app.screening import router as screening_router
from tests.conftest import ADMIN_KEY, make_settings
from tests.e2e.conftest import free_port

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
SCREENING = {
    "destination": "SG",
    "end_user": {"name": "Buyer"},
    "lines": [{"key": "1", "accelerator_id": "nvidia-l4-24gb", "quantity": 1}],
}


@dataclass
class Live:
    app: FastAPI
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def raw(self, *requests: bytes, expect: int) -> list[bytes]:
        """Send requests pipelined on one connection; return the status lines of the answers."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"".join(requests))
            data = b""
            while len(_STATUS.findall(data)) < expect or not data.endswith((b"}", b"0\r\n\r\n")):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return [m.strip() for m in _STATUS.findall(data)]


_STATUS = re.compile(rb"HTTP/1\.1 \d{3}[^\r]*")


@pytest.fixture
def live(database_url: str) -> Iterator[Live]:
    """The app served by a real uvicorn (in a thread of this process, so a test can break a route)."""
    app = create_app(make_settings(database_url, log_level="INFO", max_body_bytes=4096))
    failures.clear()  # the process-wide failure log: no kinds remembered from other tests
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
        for _ in range(2000):
            try:
                if c.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            threading.Event().wait(0.01)
    yield Live(app, port)
    server.should_exit = True
    thread.join(10)


def _broken(*_: object) -> None:
    raise RuntimeError("secret internal detail")


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def test_a_500_leaves_the_keep_alive_connection_usable(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(screening_router.service, "classify_prepared", _broken)
    failing = _post("/v1/classifications", b'{"accelerator_id": "nvidia-l4-24gb"}')
    after = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    statuses = live.raw(failing, after, failing, after, expect=4)
    assert statuses == [
        b"HTTP/1.1 500 Internal Server Error",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 500 Internal Server Error",
        b"HTTP/1.1 200 OK",
    ]


def test_a_chunked_body_over_the_limit_is_413_like_a_declared_one(live: Live) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    with httpx.Client(base_url=live.url, headers=AUTH) as c:
        resp = c.post("/v1/screenings", content=chunks(), headers={"content-type": "application/json"})
        assert resp.status_code == 413 and resp.json()["code"] == "payload_too_large"
        # a chunked body within the limit is read as usual
        small = json.dumps(SCREENING).encode()
        ok = c.post(
            "/v1/screenings", content=iter([small[:20], small[20:]]), headers={"content-type": "application/json"}
        )
        assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer cc_nobody_" + "x" * 30}, {"Authorization": "Basic x"}]
)
def test_a_body_from_an_unauthenticated_caller_is_401_before_it_is_parsed(live: Live, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=live.url) as c:
        resp = c.post("/v1/screenings", content=b"{not json", headers={**headers, "content-type": "application/json"})
        assert resp.status_code == 401 and resp.json()["code"] == "unauthorized"
        assert resp.headers["www-authenticate"] == "Bearer"
        authed = c.post("/v1/screenings", content=b"{not json", headers={**AUTH, "content-type": "application/json"})
        assert authed.status_code == 422


def test_a_repeated_json_key_is_422_naming_it_and_stores_nothing(live: Live) -> None:
    body = b'{"destination": "CN", "destination": "SG", "end_user": {"name": "B"}, "lines": []}'
    nested = json.dumps(SCREENING).replace('"quantity": 1', '"quantity": 1, "quantity": 1000').encode()
    with httpx.Client(base_url=live.url, headers={**AUTH, "content-type": "application/json"}) as c:
        for raw, key in ((body, "destination"), (nested, "quantity")):
            resp = c.post("/v1/screenings", content=raw)
            assert resp.status_code == 422 and resp.json()["code"] == "validation_error"
            assert repr(key) in resp.json()["detail"]
        assert c.get("/v1/decisions/verify").json()["checked"] == 0


def test_an_unhandled_error_is_logged_with_its_request_id_and_repeats_are_not_dumped(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(screening_router.service, "classify_prepared", _broken)
    out = io.StringIO()
    handler = logging.getLogger().handlers[0]  # the service's JSON handler (app.observability)
    assert isinstance(handler, logging.StreamHandler)
    monkeypatch.setattr(handler, "stream", out)
    with httpx.Client(base_url=live.url, headers=AUTH) as c:
        for n in range(30):
            resp = c.post(
                "/v1/classifications", json={"accelerator_id": "nvidia-l4-24gb"}, headers={"X-Request-ID": f"r-{n}"}
            )
            assert resp.status_code == 500 and resp.json()["request_id"] == f"r-{n}"
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    errors = [line for line in lines if line.get("message") == "unhandled error"]
    assert len(errors) == 1, errors
    assert errors[0]["request_id"] == "r-0" and "secret internal detail" in errors[0]["exc_info"]
    per_request = [line for line in lines if line["logger"] in ("chipclass.errors", "chipclass.access")]
    assert len(per_request) >= 31 and all(line["request_id"] for line in per_request)


def test_identical_failures_in_a_window_log_one_traceback_then_one_summary() -> None:
    now = [0.0]
    log = FailureLog(window_s=60, clock=lambda: now[0])
    logger = logging.getLogger("test.failures")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    try:
        for _ in range(720):
            log.report(logger, "database error", ConnectionError("connection refused"))
            now[0] += 10 / 720
        log.report(logger, "database error", TimeoutError("pool"))  # another kind: in full
        log.flush()  # the window has not ended: nothing yet
        assert len(records) == 2 and all(r.exc_info for r in records)
        now[0] = 61
        log.flush()
        assert len(records) == 3 and "719 more of the same" in records[2].getMessage()
        assert records[2].exc_info is None
    finally:
        logger.removeHandler(handler)


def test_sql_parameters_never_reach_an_error_message(database_url: str) -> None:
    engine = make_engine(make_settings(database_url))
    try:
        with engine.connect() as conn, pytest.raises(Exception) as caught:
            conn.execute(text("SELECT * FROM no_such_table WHERE x = :secret"), {"secret": "hash-of-a-new-key"})
        assert "hash-of-a-new-key" not in str(caught.value)
        with engine.connect() as conn, pytest.raises(StatementError) as caught:
            conn.execute(text("SELECT :p"), {"p": object()})
        assert "object at" not in str(caught.value)
    finally:
        engine.dispose()
