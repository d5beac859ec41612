"""The edge: request ids, body limits, content types, Prometheus metrics and JSON access logs.

One pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput on every request).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid

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

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


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


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _RID.match(given) else uuid.uuid4().hex
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
                message["headers"] = [*message.get("headers", []), rid_header]
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

            try:
                await self.app(scope, receive_limited, send_wrapper)
            except BodyTooLarge:
                if not started:
                    await reject("payload_too_large", f"The body may be at most {self.max_body} bytes")
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(elapsed)
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
