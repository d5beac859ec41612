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
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.direct import UNPARSED, Call, DirectRoutes
from app.errors import CATALOGUE, MEDIA_TYPE, FieldProblem, problem
from app.failures import failures
from app.keys.service import KeyVerifier, Principal

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_log = logging.getLogger("chipclass.access")
error_log = logging.getLogger("chipclass.errors")
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


class Telemetry:
    """The Prometheus series the service exports on /metrics (``app.rules.metrics`` is the rule
    figures: TPP, density, bandwidths)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # chipclass_requests_total and chipclass_request_duration_seconds
        self.http = RequestSeries((0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.registry.register(self.http)
        self.decisions = Counter(
            "chipclass_decisions_total", "Decisions recorded", ["kind", "replayed"], registry=self.registry
        )
        self.decision_batch = Histogram(
            "chipclass_decision_batch_size",
            "Decisions written per transaction by the group-commit writer",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.decisions_pending = Gauge(
            "chipclass_decisions_pending",
            "Decisions submitted whose requests wait for their commit",
            registry=self.registry,
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

    def watch_reference(self, rejected: Callable[[], Iterable[tuple[str, str]]], failing: Callable[[], bool]) -> None:
        """Gauges read at scrape time: stored reference records left out of the rules (one series per
        record, value 1) and whether the last reload failed (the service keeps its last good rules)."""

        class _Reference(Collector):
            def collect(self) -> Iterable[Metric]:
                left_out = GaugeMetricFamily(
                    "chipclass_reference_rejected",
                    "Stored reference records left out of the rules because they do not load",
                    labels=["kind", "key"],
                )
                for kind, key in rejected():
                    left_out.add_metric([kind, key], 1)
                yield left_out
                yield GaugeMetricFamily(
                    "chipclass_reference_reload_failing",
                    "1 while reference data does not load and the last good rules are served",
                    value=1 if failing() else 0,
                )

        self.registry.register(_Reference())

    def observe_request(self, method: str, template: str, status: int, elapsed: float) -> None:
        self.http.observe(method, template, status, elapsed)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


_go_float = cast(Callable[[float], str], floatToGoString)  # how prometheus_client writes a bucket bound


class RequestSeries(Collector):
    """``chipclass_requests_total`` (method, route, status) and ``chipclass_request_duration_seconds``
    (method, route), counted by the edge on the event loop, their only writer, in plain dictionaries:
    prometheus_client's Counter and Histogram take a lock per increment (three per request), which
    was about a quarter of the edge's own cost per request. Read at scrape time."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.bounds = buckets
        self.counts: dict[tuple[str, str, int], int] = {}
        # per (method, route): a count per bucket (not cumulative; the last one is +Inf), then the sum
        self.durations: dict[tuple[str, str], list[float]] = {}

    def observe(self, method: str, template: str, status: int, elapsed: float) -> None:
        key = (method, template, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        series = self.durations.get((method, template))
        if series is None:
            series = self.durations[(method, template)] = [0.0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, elapsed)] += 1  # le: the first bound >= elapsed
        series[-1] += elapsed

    def collect(self) -> Iterable[Metric]:
        counts = list(self.counts.items())  # copies made without running Python code: no torn reads
        durations = [(k, list(v)) for k, v in list(self.durations.items())]
        requests = CounterMetricFamily("chipclass_requests", "HTTP requests", labels=["method", "route", "status"])
        for (method, template, status), n in counts:
            requests.add_metric([method, template, str(status)], n)
        yield requests
        latency = HistogramMetricFamily(
            "chipclass_request_duration_seconds", "HTTP request latency", labels=["method", "route"]
        )
        for (method, template), series in durations:
            cumulative: float = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, in_bucket in zip((*self.bounds, float("inf")), series[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((_go_float(bound), cumulative))
            latency.add_metric([method, template], buckets, series[-1])
        yield latency


async def probe_loop_lag(telemetry: Telemetry, period_s: float) -> None:
    """Sleep ``period_s`` again and again and record how late each wake-up comes: anything that
    holds the event loop (a long computation, a GC pause, blocking I/O) shows as lag."""
    loop = asyncio.get_running_loop()
    observe = telemetry.loop_lag.observe
    while True:
        start = loop.time()
        await asyncio.sleep(period_s)
        observe(max(0.0, loop.time() - start - period_s))


def watch_gc(telemetry: Telemetry) -> None:
    """Time every garbage collection (they pause the whole process) into chipclass_gc_pause_seconds."""
    started: list[float] = [0.0]
    children = {gen: telemetry.gc_pause.labels(str(gen)) for gen in range(3)}

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


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


def duplicate_key(body: bytes) -> str | None:
    """The first object key a JSON body repeats (``{"destination": "CN", "destination": "US"}``),
    or None. A body that is not JSON is left to the route's parser (a 422 naming it)."""
    return parse_json(body)[0]


def parse_json(body: bytes) -> tuple[str | None, Any]:
    """(the first key the JSON body repeats or None, the body as ``json.loads`` gives it or
    ``direct.UNPARSED`` when it is not JSON or repeats a key)."""
    try:
        return None, json.loads(body, object_pairs_hook=_no_duplicates)
    except DuplicateKey as exc:
        return exc.key, UNPARSED
    except ValueError:
        return None, UNPARSED


FastPath = Callable[[Scope, dict[bytes, bytes], Send], Awaitable[bool]]
"""Answers a request before FastAPI when it can (True), e.g. ``app.http.PreparedAnswers``."""

_BODY_METHODS = ("POST", "PUT", "PATCH")
_JSON_TYPES = (b"application/json",)
# routes that take a file as the body (the catalog import: CSV, or YAML in the shipped format)
FILE_BODIES: dict[str, tuple[bytes, ...]] = {
    "/v1/accelerators/import": (
        b"text/csv",
        b"application/yaml",
        b"application/x-yaml",
        b"text/yaml",
        b"application/octet-stream",
    ),
}


class EdgeMiddleware:
    """Outermost: every request gets an id, limits and metrics; every error, even an unexpected one,
    is answered here as problem+json with the connection left usable (a response the server never
    sees fail, so keep-alive connections survive a 500)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        telemetry: Telemetry,
        prepared: FastPath | None = None,
        direct: DirectRoutes | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.telemetry = telemetry
        self.ids = RequestIds()
        self.prepared = prepared
        self.direct = direct
        self.too_large = f"The body may be at most {max_body} bytes"

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

        async def reject(
            code: str, detail: str, pointer: str | None = None, extra: tuple[tuple[bytes, bytes], ...] = ()
        ) -> None:
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": CATALOGUE[code][0],
                    "headers": [(b"content-type", MEDIA_TYPE.encode()), *extra],
                }
            )
            errors = [FieldProblem(pointer=pointer, detail=detail)] if pointer else None
            body = problem(code, detail, instance=scope["path"], request_id=request_id, errors=errors)
            await send({"type": "http.response.body", "body": body.model_dump_json().encode()})

        too_large = self.too_large
        try:
            method = scope["method"]
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await reject("payload_too_large", too_large)
                return
            api_write = method in _BODY_METHODS and scope["path"].startswith("/v1/")
            is_json = False
            if api_write:
                has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
                ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
                file_types = FILE_BODIES.get(scope["path"], ())
                is_json = ctype in _JSON_TYPES or ctype.endswith(b"+json")
                if has_body and not is_json and ctype not in file_types:
                    wanted = ", ".join(t.decode() for t in file_types) or "application/json"
                    await reject("unsupported_media_type", f"Send the body as {wanted}")
                    return
            app_receive = receive
            if api_write:
                # read the whole body first (a chunked one is held to the same limit as a declared
                # length), authenticate, then look at it: a caller without a valid key learns nothing
                # about what the service thinks of the body
                body = await _read_body(receive, self.max_body)
                if body is None:
                    await reject("payload_too_large", too_large)
                    return
                if not scope["app"].state.store.loaded:
                    # as every API route answers until the rules are in (the database may be down too)
                    detail = "Rules are not loaded yet; retry shortly"
                    await reject("not_ready", detail, extra=((b"retry-after", b"2"),))
                    return
                try:
                    refusal, principal = await _authenticate(scope, headers)
                except (OperationalError, PoolTimeout, InterfaceError) as exc:
                    failures.report(error_log, "database error", exc)
                    detail = "The database did not answer; nothing was recorded."
                    await reject("database_unavailable", detail, extra=((b"retry-after", b"2"),))
                    return
                if refusal is not None:
                    await reject("unauthorized", refusal, extra=((b"www-authenticate", b"Bearer"),))
                    return
                # a large body is checked off the event loop (about 2 ms per 1,000 screening lines)
                big = len(body) > 65_536
                repeated, parsed = None, UNPARSED
                if is_json:
                    repeated, parsed = await run_in_threadpool(parse_json, body) if big else parse_json(body)
                if repeated is not None:
                    detail = f"the body repeats the key {repeated!r}; send each key once"
                    await reject("validation_error", detail, pointer="/")
                    return
                app_receive = _replay(body, receive)
                if await self._direct(scope, app_receive, send_wrapper, headers, parsed, principal):
                    return
            elif method == "GET":
                if await self._direct(scope, receive, send_wrapper, headers, UNPARSED, None):
                    return
                if (
                    self.prepared is not None
                    and scope["path"].endswith("/classification")
                    and await self.prepared(scope, headers, send_wrapper)
                ):
                    return
            await self.app(scope, app_receive, send_wrapper)
        except Exception as exc:
            failures.report(error_log, "unhandled error", exc)
            if started:
                raise  # half a response was sent: the server must close the connection
            await reject("internal_error", "An unexpected error occurred; it has been logged.")
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.telemetry.observe_request(scope["method"], template, status, elapsed)
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

    async def _direct(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        parsed: Any,
        principal: Principal | None,
    ) -> bool:
        """Answer through the route's direct call (app/direct.py) if it has one and takes the request."""
        direct = self.direct.get(scope["method"], scope["path"]) if self.direct is not None else None
        # (the test-only hold gate sits between the edge and FastAPI: a held request goes there)
        if direct is None or self.direct is None or b"x-chipclass-test-hold" in headers:
            return False
        response = await self.direct.answer(direct, Call(scope, receive, scope["headers"], parsed, principal))
        if response is None:
            return False
        await response(scope, receive, send)
        return True


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the route sees an empty body and its answer goes nowhere
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then waits for the disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _authenticate(scope: Scope, headers: dict[bytes, bytes]) -> tuple[str | None, Principal | None]:
    """(None, the principal) when the request carries a key the service knows (verified through the
    key cache), else (why not, None). Scopes are checked by the route's dependency (or the direct
    call); this only keeps unauthenticated bodies from being parsed."""
    auth = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, raw = auth.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        return "Send an API key: Authorization: Bearer <key>", None
    verifier: KeyVerifier = scope["app"].state.keys
    principal = await verifier.principal(raw)
    return (None, principal) if principal is not None else ("Unknown or revoked API key", None)
