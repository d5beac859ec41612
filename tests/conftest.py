"""Test databases and apps.

Every test gets its own database, migrated by Alembic and seeded with the shipped data:
SQLite by default (a copy of a template file), PostgreSQL when CHIPCLASS_TEST_DATABASE_URL is set
(a database created from a per-worker template). Nothing is shared between tests.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import migrate
from app.clock import Clock
from app.config import Settings
from app.db import make_engine, normalize_url
from app.main import create_app
from app.regulations import loader, service

ADMIN_KEY = "cc_testadmin_" + "k" * 40
PG_URL = os.environ.get("CHIPCLASS_TEST_DATABASE_URL")


def pytest_report_header(config: pytest.Config) -> str:
    return f"chipclass database engine: {'PostgreSQL ' + make_url(PG_URL).render_as_string() if PG_URL else 'SQLite'}"


# .ci/run sets this on its PostgreSQL leg: every test must run there, so a skip (PostgreSQL
# unreachable, a fixture that gave up) fails the run instead of letting it go green
NO_SKIPS = os.environ.get("CHIPCLASS_TEST_NO_SKIPS") == "1"
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if NO_SKIPS and report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped:
        print(f"\nCHIPCLASS_TEST_NO_SKIPS=1 but {len(_skipped)} test(s) skipped: {', '.join(_skipped[:10])}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _admin_url(url: str) -> str:
    return normalize_url(str(make_url(url).set(database="postgres")))


def _pg_exec(url: str, *statements: str) -> None:
    engine = create_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for stmt in statements:
            conn.execute(text(stmt))
    engine.dispose()


def _prepare(url: str) -> None:
    migrate.upgrade(url)
    settings = Settings(database_url=url)
    engine = make_engine(settings)
    service.seed(engine, loader.read_reference_files())
    engine.dispose()


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated and seeded database to copy: a file (SQLite) or a template database (PostgreSQL)."""
    if PG_URL:
        # unique per run: concurrent runs on one server must not drop each other's template
        name = f"chipclass_tpl_{_worker()}_{os.getpid()}"
        _pg_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        url = normalize_url(str(make_url(PG_URL).set(database=name)))
        _prepare(url)
        yield name
        _pg_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path_factory.mktemp("tpl") / "template.db"
        _prepare(f"sqlite:///{path}")
        yield str(path)


@pytest.fixture
def database_url(template: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database for one test, at Alembic head, with the shipped reference data."""
    if PG_URL:
        name = f"chipclass_t_{uuid.uuid4().hex[:12]}"
        _pg_exec(PG_URL, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield normalize_url(str(make_url(PG_URL).set(database=name)))
        _pg_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    if PG_URL:
        name = f"chipclass_e_{uuid.uuid4().hex[:12]}"
        _pg_exec(PG_URL, f'CREATE DATABASE "{name}"')
        yield normalize_url(str(make_url(PG_URL).set(database=name)))
        _pg_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


class ManualClock(Clock):
    """The system's wall clock (move it with time-machine) and a monotonic clock that moves only
    when the test calls ``advance``: TTLs and rate limits tested at their edges, on any machine."""

    def __init__(self) -> None:
        self.seconds = 1_000.0

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


def make_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "bootstrap_admin_key": ADMIN_KEY,
        "log_level": "WARNING",
        "reload_interval_s": 0.2,
        # tests never deliver webhooks off this machine: a host off the list is refused before any lookup
        "webhook_allowed_hosts": "127.0.0.1,localhost,hooks.example.test",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def wait_ready(client: TestClient, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"service not ready: {client.get('/readyz').text}")


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """The app on a fresh database, ready, authenticated with an admin key."""
    app = create_app(make_settings(database_url))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        yield c


@pytest.fixture
def anon(client: TestClient) -> TestClient:
    """The same app without credentials."""
    return TestClient(client.app)


def new_key(client: TestClient, *scopes: str) -> str:
    resp = client.post("/v1/keys", json={"name": "test", "scopes": list(scopes)})
    assert resp.status_code == 201, resp.text
    key: str = resp.json()["key"]
    return key
