"""The edge: request ids, body limits, content types, Prometheus metrics and JSON access logs.

One pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput on every request).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import itertools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import CATALOGUE, MEDIA_TYPE, PROBLEM_TYPE

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_log = logging.getLogger("chipclass.access")
_RID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str) -> None:
    """JSON lines on stdout, every line with the request id in force."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # alembic announces its context on every readiness check; migrations log their own lines
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "chipclass_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "chipclass_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.decisions = Counter(
            "chipclass_decisions_total", "Decisions recorded", ["kind", "replayed"], registry=self.registry
        )
        self.loop_lag = Histogram(
            "chipclass_event_loop_lag_seconds",
            "How late the event loop ran the lag probe's timer (time the loop was busy with other work)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.gc_pause = Histogram(
            "chipclass_gc_pause_seconds",
            "Garbage-collector pauses by generation (they stop the event loop)",
            ["generation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25),
            registry=self.registry,
        )
        # labelled children, looked up once: prometheus_client's labels() takes a lock and builds a key
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, method: str, template: str, status: int, elapsed: float) -> None:
        key = (method, template, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(method, template, str(status)), self.latency.labels(method, template))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(elapsed)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


async def probe_loop_lag(metrics: Metrics, period_s: float) -> None:
    """Sleep ``period_s`` again and again and record how late each wake-up comes: anything that
    holds the event loop (a long computation, a GC pause, blocking I/O) shows as lag."""
    loop = asyncio.get_running_loop()
    observe = metrics.loop_lag.observe
    while True:
        start = loop.time()
        await asyncio.sleep(period_s)
        observe(max(0.0, loop.time() - start - period_s))


def watch_gc(metrics: Metrics) -> None:
    """Time every garbage collection (they pause the whole process) into chipclass_gc_pause_seconds."""
    started: list[float] = [0.0]
    children = {gen: metrics.gc_pause.labels(str(gen)) for gen in range(3)}

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            children[info["generation"]].observe(time.perf_counter() - started[0])

    gc.callbacks[:] = [c for c in gc.callbacks if getattr(c, "__qualname__", "") != callback.__qualname__]
    gc.callbacks.append(callback)


def settle_heap() -> None:
    """Move everything alive now (the rule snapshot, the app, imported modules) out of the
    collector's reach: a full collection then walks only what requests allocate, not ~150,000
    long-lived objects (that walk was a 60-200 ms stop of the event loop every few seconds under load).
    Objects frozen here are still freed by reference counting when dropped."""
    gc.freeze()


class RequestIds:
    """Request ids for requests that bring none: unique per process (random prefix) and cheap
    (a counter, not a uuid4 and a system call per request)."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


class BodyTooLarge(Exception):
    pass


def _problem(status_code: str, detail: str, request_id: str, path: str) -> bytes:
    status, title = CATALOGUE[status_code]
    return json.dumps(
        {
            "type": PROBLEM_TYPE + status_code,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": path,
            "code": status_code,
            "request_id": request_id,
            "errors": [],
        }
    ).encode()


FastPath = Callable[[Scope, dict[bytes, bytes], Send], Awaitable[bool]]
"""Answers a request before FastAPI when it can (True), e.g. ``app.answers.PreparedAnswers``."""


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, metrics: Metrics, prepared: FastPath | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics
        self.ids = RequestIds()
        self.prepared = prepared

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if given and _RID.match(given) else self.ids.next()
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status = 500
        started = False
        rid_header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                # Server-Timing: time in chipclass up to the answer (a screening: committed included)
                timing = f"app;dur={(time.perf_counter() - start) * 1000:.1f}".encode()
                message["headers"] = [*message.get("headers", []), rid_header, (b"server-timing", timing)]
            await send(message)

        async def reject(code: str, detail: str) -> None:
            nonlocal status
            status, _ = CATALOGUE[code]
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", MEDIA_TYPE.encode())],
                }
            )
            await send({"type": "http.response.body", "body": _problem(code, detail, request_id, scope["path"])})

        try:
            method = scope["method"]
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await reject("payload_too_large", f"The body may be at most {self.max_body} bytes")
                return
            has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
            if has_body and method in ("POST", "PUT", "PATCH") and scope["path"].startswith("/v1/"):
                ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
                if ctype != b"application/json" and not ctype.endswith(b"+json"):
                    await reject("unsupported_media_type", "Send the body as application/json")
                    return
            received = 0

            async def receive_limited() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        raise BodyTooLarge
                return message

            if method == "GET" and self.prepared is not None and await self.prepared(scope, headers, send_wrapper):
                return
            try:
                await self.app(scope, receive_limited, send_wrapper)
            except BodyTooLarge:
                if not started:
                    await reject("payload_too_large", f"The body may be at most {self.max_body} bytes")
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "api_key_id": scope.get("state", {}).get("api_key_id"),
                    },
                )
            request_id_var.reset(token)
