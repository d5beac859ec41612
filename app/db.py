"""Engine and sessions: SQLite (embedded default, WAL) or PostgreSQL (psycopg 3) by URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, Table, event, insert
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from app.config import Settings


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// use psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware, on every engine.

    SQLite keeps no offset and hands back naive datetimes; comparing one with an aware value raised
    TypeError inside the decision writer (issue 10). A naive value is refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a timezone-aware one (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(settings: Settings) -> Engine:
    """An engine that never puts SQL parameters (key hashes, request bodies) into error messages."""
    url = normalize_url(settings.database_url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_s,
        )
        busy = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy)}")
            cur.execute("PRAGMA foreign_keys=ON")
            # FULL: a decision acknowledged to a client must survive power loss, not only a crash
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        return engine
    return create_engine(
        url,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": settings.db_connect_timeout_s,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        },
    )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# ---------------------------------------------------------------- rows written at commit

_ROWS = "chipclass.rows"


def add_row(session: Session, table: Table, row: dict[str, Any]) -> None:
    """Add a row to the session's transaction as a plain INSERT, written with the other rows of its
    table in one executemany just before the commit (``flush_rows``), without the ORM's unit of work.

    The decision writer stores a group of screenings per transaction, each with its version row and
    its event: as ORM objects they cost more CPU than the SQL itself (object construction, attribute
    events, the flush's sorting), CPU the writer thread takes from the event loop (one GIL).
    Rows of one table must all give the same columns. Not visible to queries before the commit.
    """
    pending: dict[Table, list[dict[str, Any]]] = session.info.setdefault(_ROWS, {})
    pending.setdefault(table, []).append(row)


def flush_rows(session: Session) -> None:
    """Write the rows ``add_row`` queued (one executemany per table, in the order tables were first used)."""
    pending: dict[Table, list[dict[str, Any]]] | None = session.info.pop(_ROWS, None)
    if pending:
        connection = session.connection()
        for table, rows in pending.items():
            insert_rows(connection, table, rows)


@event.listens_for(Session, "before_commit")
def _flush_rows(session: Session) -> None:
    flush_rows(session)


@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget_rows(session: Session, *_: object) -> None:
    session.info.pop(_ROWS, None)


_COMPILED: dict[tuple[Table, str, tuple[str, ...]], tuple[str, list[str] | None, dict[str, Callable[[Any], Any]]]] = {}


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (each giving the same columns) with one executemany at the driver.

    The statement is compiled once per table, dialect and columns, and each value goes through the same bind
    processor SQLAlchemy would apply (``UtcDateTime``, SQLite's date and time formats): what
    ``connection.execute(insert(table), rows)`` writes, without rebuilding the parameters row by row
    through SQLAlchemy's execution context, which cost more CPU than SQLite's own work for the
    decision writer's groups. Errors are SQLAlchemy's (the call goes through the connection).
    """
    dialect = connection.dialect
    columns = tuple(rows[0])
    found = _COMPILED.get((table, dialect.name, columns))
    if found is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        order = list(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        # one processor per plain column (a sequence only for expanding IN parameters, never here)
        processors: dict[str, Callable[[Any], Any]] = {
            k: cast(Callable[[Any], Any], p) for k, p in compiled._bind_processors.items() if callable(p)
        }
        found = _COMPILED[(table, dialect.name, columns)] = (compiled.string, order, processors)
    sql, order, process = found
    if process:
        rows = [{**row, **{k: p(row[k]) for k, p in process.items()}} for row in rows]
    if order is not None:
        connection.exec_driver_sql(sql, [tuple(row[k] for k in order) for row in rows])
    else:
        connection.exec_driver_sql(sql, rows)
