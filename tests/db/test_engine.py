"""The engine honours Settings: SQLite in WAL mode with a busy timeout (so several processes can
share the file), pool size and timeouts on both engines, statement/connect timeouts on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, exc, text

from app.db import make_engine
from tests.conftest import PG_URL, make_settings


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'engine.db'}"


def test_sqlite_runs_in_wal_mode_with_the_configured_busy_timeout_and_durable_commits(tmp_path: Path) -> None:
    engine = make_engine(make_settings(_sqlite_url(tmp_path), sqlite_busy_timeout_ms=4321))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 4321
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            # FULL (2): a committed decision survives power loss, not only a process crash
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2
    finally:
        engine.dispose()


def test_sqlite_writer_waits_for_the_busy_timeout_then_fails_cleanly(tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path)
    engine = make_engine(make_settings(url, sqlite_busy_timeout_ms=300))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        # another process holds the write lock for longer than the busy timeout
        holder = sqlite3.connect(tmp_path / "engine.db", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        start = time.monotonic()
        with pytest.raises(exc.OperationalError, match="locked"), engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        waited = time.monotonic() - start
        assert waited >= 0.25, f"gave up after {waited:.3f}s, before the 0.3 s busy timeout"
        holder.execute("ROLLBACK")
        holder.close()
    finally:
        engine.dispose()


def test_sqlite_writer_waiting_on_a_held_lock_gets_through_when_it_is_released(tmp_path: Path) -> None:
    """The lock is released only once the writer has started its INSERT against it (an event,
    not a timer racing the busy timeout), and the busy timeout is far longer than any stall."""
    engine = make_engine(make_settings(_sqlite_url(tmp_path), sqlite_busy_timeout_ms=60_000))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        holder = sqlite3.connect(tmp_path / "engine.db", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO t VALUES (1)")
        inserting = threading.Event()
        errors: list[BaseException] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _started(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if statement.startswith("INSERT"):
                inserting.set()

        def write() -> None:
            try:
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t VALUES (2)"))
            except BaseException as e:
                errors.append(e)

        writer = threading.Thread(target=write)
        writer.start()
        assert inserting.wait(30)
        holder.execute("COMMIT")  # the writer is at (or about to reach) the held lock
        writer.join(60)
        holder.close()
        assert not writer.is_alive() and errors == []
        with engine.connect() as conn:
            assert conn.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1, 2]
    finally:
        engine.dispose()


def test_pool_size_overflow_and_timeout_reach_the_engine(database_url: str) -> None:
    engine = make_engine(make_settings(database_url, db_pool_size=2, db_max_overflow=1, db_pool_timeout_s=0.3))
    try:
        pool = engine.pool
        assert pool.size() == 2  # type: ignore[attr-defined]
        assert pool._max_overflow == 1  # type: ignore[attr-defined]
        assert pool._timeout == 0.3  # type: ignore[attr-defined]
        held = [engine.connect() for _ in range(3)]
        start = time.monotonic()
        with pytest.raises(exc.TimeoutError):
            engine.connect()
        assert time.monotonic() - start >= 0.25  # waited the pool timeout, then gave up
        for conn in held:
            conn.close()
    finally:
        engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL only: set CHIPCLASS_TEST_DATABASE_URL")
def test_postgresql_gets_statement_and_connect_timeouts(database_url: str) -> None:
    engine = make_engine(make_settings(database_url, db_statement_timeout_ms=1234, db_connect_timeout_s=7))
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "1234ms"
            params = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
            assert params["connect_timeout"] == "7"
            with pytest.raises(exc.OperationalError, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(3)"))
    finally:
        engine.dispose()


def test_insert_rows_stores_exactly_what_a_sqlalchemy_insert_stores(database_url: str) -> None:
    """The decision writer's driver-level executemany (app.db.insert_rows) applies the same bind
    processors: the stored text of every column, timestamps included, is what ``insert(table)`` writes."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, text

    from app.db import insert_rows
    from app.events.service import EVENT_TABLE

    engine = make_engine(make_settings(database_url))
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)

    def row(seq: int) -> dict[str, object]:
        return {
            "seq": seq,
            "id": f"msg_t{seq}",
            "type": "webhook.test",
            "created_at": at,
            "subject": None,
            "payload": "{}",
        }

    with engine.begin() as connection:
        insert_rows(connection, EVENT_TABLE, [row(900_001), row(900_002)])
        connection.execute(insert(EVENT_TABLE), [row(900_003)])
    with engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT seq, id, type, CAST(created_at AS TEXT), subject, payload FROM event "
                "WHERE seq >= 900001 ORDER BY seq"
            )
        ).all()
    assert [r[0] for r in stored] == [900_001, 900_002, 900_003]
    assert len({tuple(r[2:]) for r in stored}) == 1, stored
    engine.dispose()
