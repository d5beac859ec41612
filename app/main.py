"""create_app(): middleware, error handlers, routers under /v1, and the lifespan that migrates,
seeds, bootstraps a key and keeps the rule snapshot current."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app import clock, docs, migrate
from app.catalog.router import csv_router as catalog_csv_router
from app.catalog.router import router as catalog_router
from app.changes.router import router as changes_router
from app.clock import SYSTEM, Clock
from app.config import Settings, get_settings
from app.db import make_engine, session_scope
from app.decisions.router import router as decisions_router
from app.decisions.service import DecisionWriter
from app.deps import RateLimiter
from app.direct import DirectRoutes
from app.errors import install
from app.events import service as events
from app.events.router import router as events_router
from app.failures import failures
from app.http import PreparedAnswers
from app.impact.router import router as impact_router
from app.keys.router import router as keys_router
from app.keys.service import KeyVerifier, add_key, has_any_key
from app.observability import EdgeMiddleware, Telemetry, configure_logging, probe_loop_lag, settle_heap, watch_gc
from app.openapi import document
from app.operations import DIRECT as OPERATIONS_DIRECT
from app.operations import router as operations_router
from app.regulations.loader import ReferenceFiles, read_reference_files
from app.regulations.router import router as regulations_router
from app.regulations.service import seed
from app.regulations.snapshot import SnapshotStore
from app.screening import monitoring
from app.screening.router import DIRECT as SCREENING_DIRECT
from app.screening.router import router as screening_router
from app.testhooks import HoldGate
from app.ui.router import router as ui_router
from app.webhooks import service as webhooks
from app.webhooks.router import router as webhooks_router

log = logging.getLogger("chipclass")
VERSION = "0.1.0"
# the process exit code `chipclass serve` ends with after a SIGTERM (see app/cli.py): 0 for a drained stop,
# 3 when the service stopped itself because it refused to start
exit_code = 0


class UnsafeConfiguration(RuntimeError):
    pass


class SchemaBehind(RuntimeError):
    pass


def bootstrap(app: FastAPI) -> None:
    """Blocking: migrate, seed, make sure a key exists, load the rules. Idempotent."""
    prepare_database(app.state.settings, app.state.engine, app.state.store.files)
    app.state.store.refresh(force=True)


def prepare_database(settings: Settings, engine: Engine, files: ReferenceFiles) -> None:
    """Blocking and idempotent: migrate (or check the schema), seed, make sure a key exists."""
    if settings.migrate_on_start:
        migrate.upgrade(settings.database_url)
        log.info("database schema at head", extra={"heads": sorted(migrate.heads())})
    elif not migrate.at_head(engine):
        raise SchemaBehind("database schema is not at head (CHIPCLASS_MIGRATE_ON_START=false): run `chipclass migrate`")
    if settings.seed_on_start:
        report = seed(engine, files)
        if report.changed:
            log.info("reference data seeded", extra={"report": report.__dict__})
    with session_scope(engine) as session:
        ensure_key(session, settings)


def ensure_key(session: Session, settings: Settings) -> None:
    if has_any_key(session):
        return
    if settings.bootstrap_admin_key is not None:
        add_key(session, "bootstrap-admin", ["admin"], settings.bootstrap_admin_key.get_secret_value())
        log.info("admin key created from CHIPCLASS_BOOTSTRAP_ADMIN_KEY")
        return
    if settings.environment == "production":
        raise UnsafeConfiguration(
            "production mode with no API keys: set CHIPCLASS_BOOTSTRAP_ADMIN_KEY "
            "or create one with `chipclass keys create`"
        )
    _, raw = add_key(session, "first-start-admin", ["admin"])
    # printed once, on stdout, so the operator can copy it; it is stored only as a hash
    print(f"chipclass: created admin API key (shown once): {raw}", flush=True)


async def _bootstrap_with_retry(app: FastAPI) -> None:
    delay = 0.5
    max_delay = app.state.settings.db_retry_max_s
    while True:
        try:
            await run_in_threadpool(bootstrap, app)
            settle_heap()
            app.state.ready_error = None
            log.info("ready", extra={"data_version": app.state.store.current.data_version})
            return
        except UnsafeConfiguration as exc:
            global exit_code
            exit_code = 3
            log.critical("refusing to start: %s", exc)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        except SchemaBehind as exc:
            app.state.ready_error = "migrations: behind"
            log.error("waiting for migrations, retrying in %.1fs: %s", delay, exc)
        except (SQLAlchemyError, OSError) as exc:
            app.state.ready_error = f"database: {type(exc).__name__}"
            log.error("database not reachable, retrying in %.1fs: %s", delay, str(exc).splitlines()[0][:300])
        except Exception as exc:
            # anything else (a stored document that no longer validates, ...) must not end start-up
            # silently, leaving a live process that is never ready and never says why
            app.state.ready_error = f"start-up: {type(exc).__name__}"
            log.exception("start-up failed, retrying in %.1fs", delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


async def _poll(app: FastAPI) -> None:
    """Reload the snapshot when another replica changed reference data."""
    store: SnapshotStore = app.state.store
    interval = app.state.settings.reload_interval_s
    while True:
        await asyncio.sleep(interval)
        failures.flush()
        if not store.loaded:
            continue
        try:
            if await run_in_threadpool(store.refresh):
                settle_heap()
        except SQLAlchemyError as exc:
            log.warning("reload check failed: %s", type(exc).__name__)
        except Exception:
            # never let one bad reload end polling: this replica would keep stale rules forever
            log.exception("reload failed; keeping the current rules")


async def _monitor(app: FastAPI) -> None:
    """Re-screen open screenings after every rule change and when the day turns (a dated change
    takes effect at midnight UTC): bounded batches, in a worker thread, never on the request path."""
    store: SnapshotStore = app.state.store
    settings: Settings = app.state.settings
    ttl = timedelta(hours=settings.idempotency_ttl_h)
    while True:
        full = False
        if store.loaded:
            try:
                report = await asyncio.to_thread(
                    monitoring.sweep, app.state.engine, store.current, clock.today(), ttl, settings.monitor_batch
                )
                if report.changed or report.expired:
                    log.info("open screenings re-screened", extra={"report": report.__dict__})
                    app.state.events.notify()
                full = report.checked >= settings.monitor_batch
            except SQLAlchemyError as exc:
                log.warning("re-screening round failed: %s", type(exc).__name__)
            except Exception:
                log.exception("re-screening round failed")
        await asyncio.sleep(0 if full else settings.monitor_interval_s)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    signal: events.Signal = app.state.events
    signal.bind(asyncio.get_running_loop())
    telemetry: Telemetry = app.state.telemetry
    writer = DecisionWriter(
        app.state.engine,
        timedelta(hours=settings.idempotency_ttl_h),
        on_commit=signal.notify,
        on_batch=telemetry.decision_batch.observe,
    )
    telemetry.decisions_pending.set_function(lambda: writer.pending)
    app.state.writer = writer
    app.state.dispatcher = webhooks.Dispatcher(
        app.state.engine, signal, app.state.webhook_policy, ready=lambda: app.state.store.loaded
    )
    watch_gc(app.state.telemetry)
    # The decision writer thread and the event loop share the GIL: a thread waiting for it asks the
    # holder to let go after this interval (default 5 ms, which showed as 5-10 ms steps in the
    # loop lag under screening load); 1 ms keeps the loop responsive at a negligible switching cost.
    sys.setswitchinterval(0.001)
    tasks = [
        asyncio.create_task(_bootstrap_with_retry(app)),
        asyncio.create_task(_poll(app)),
        asyncio.create_task(_monitor(app)),
        asyncio.create_task(app.state.dispatcher.run()),
    ]
    if settings.loop_lag_probe_ms > 0:
        tasks.append(asyncio.create_task(probe_loop_lag(app.state.telemetry, settings.loop_lag_probe_ms / 1000)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # in-flight requests have finished: write what they submitted, then stop
        await run_in_threadpool(app.state.writer.close, settings.shutdown_grace_s)
        app.state.engine.dispose()


def _no_native_telemetry() -> dict[str, Any]:
    """FastAPI's built-in OpenTelemetry hooks (0.16x) ask the global tracer, meter and logger
    providers on every request whether anyone listens, about 5 % of a request here; chipclass reports
    through Prometheus and its JSON logs, so they are turned off where the version has them."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The application; ``clock`` is the time source of its TTLs and rate limits (tests pass one they move)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="chipclass",
        version=VERSION,
        summary="Export-control classification and order screening for AI accelerators (EAR 3A090/4A090, 742.6)",
        description=(
            "Decision support for compliance officers, not a licence or legal advice. "
            "Authenticate with `Authorization: Bearer <key>`. "
            "Errors are `application/problem+json` with a stable `code`."
        ),
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        responses={},
        # /docs (Swagger UI from a packaged copy) and /openapi.json: app.docs, as CHIPCLASS_DOCS_ACCESS says
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        **_no_native_telemetry(),
    )
    engine = make_engine(settings)
    telemetry = Telemetry()
    app.state.settings = settings
    app.state.engine = engine
    app.state.telemetry = telemetry
    app.state.store = SnapshotStore(engine, read_reference_files())
    telemetry.watch_reference(
        lambda: [(r.kind, r.key) for r in app.state.store.rejected], lambda: app.state.store.failing is not None
    )
    time_source = clock or SYSTEM
    app.state.clock = time_source
    app.state.keys = KeyVerifier(engine, settings.key_cache_ttl_s, time_source, settings.key_cache_stale_if_error_s)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst, time_source)
    app.state.ready_error = "starting"
    app.state.events = events.Signal()
    app.state.webhook_policy = webhooks.Policy(
        allow_private=settings.webhook_allow_private,
        allowed_hosts=tuple(h.strip().lower() for h in settings.webhook_allowed_hosts.split(",") if h.strip()),
        timeout_s=settings.webhook_timeout_s,
        backoff_base_s=settings.webhook_backoff_base_s,
        backoff_max_s=settings.webhook_backoff_max_s,
        retry_window_s=settings.webhook_retry_window_s,
        poll_s=settings.webhook_poll_s,
        lease_s=max(15.0, 3 * settings.webhook_timeout_s),
    )
    install(app)
    document(app)
    docs.install(app, settings.docs_access)
    # FastAPI matches routers in order: probes and the hot screening routes first
    routers = (
        operations_router,
        screening_router,
        catalog_router,
        catalog_csv_router,
        regulations_router,
        impact_router,
        decisions_router,
        changes_router,
        events_router,
        webhooks_router,
        keys_router,
        ui_router,
    )
    for router in routers:
        app.include_router(router)
    if settings.test_hold_dir is not None:  # tests only; Settings refuses it in production
        app.add_middleware(HoldGate, directory=settings.test_hold_dir)
    app.add_middleware(
        EdgeMiddleware,
        max_body=settings.max_body_bytes,
        telemetry=telemetry,
        prepared=PreparedAnswers(app),
        direct=DirectRoutes(app, {**OPERATIONS_DIRECT, **SCREENING_DIRECT}),
    )

    return app
