"""A database outage: keys verified shortly before keep working for reads (stale-if-error), for a
bounded time; unknown keys and a service configured without the allowance get the database's error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from app.db import make_engine, session_scope
from app.keys.service import KeyVerifier, add_key
from tests.conftest import ADMIN_KEY, make_settings


def _outage(database_url: str, tmp_path: Path, stale_if_error: float) -> tuple[KeyVerifier, object]:
    """A verifier with ttl 0 (every call is a miss) that has seen ADMIN_KEY, then loses its database."""
    engine = make_engine(make_settings(database_url))
    with session_scope(engine) as session:
        add_key(session, "admin", ["admin"], ADMIN_KEY)
    verifier = KeyVerifier(engine, ttl=0, stale_if_error=stale_if_error)
    first = asyncio.run(verifier.principal(ADMIN_KEY))
    assert first is not None
    engine.dispose()
    # the database goes away: a database file that cannot be opened (the same OperationalError a
    # refused PostgreSQL connection raises)
    verifier.engine = make_engine(make_settings(f"sqlite:///{tmp_path}/no-such-dir/gone.db"))
    return verifier, first


def test_a_verified_key_keeps_working_through_an_outage_within_the_allowance(database_url: str, tmp_path: Path) -> None:
    verifier, first = _outage(database_url, tmp_path, stale_if_error=300)
    assert asyncio.run(verifier.principal(ADMIN_KEY)) == first
    assert asyncio.run(verifier.principal(ADMIN_KEY)) == first  # served at once in the back-off window
    with pytest.raises(OperationalError):  # a key never verified is never guessed
        asyncio.run(verifier.principal("cc_someone_" + "x" * 30))


def test_without_the_allowance_an_outage_is_the_database_error(database_url: str, tmp_path: Path) -> None:
    verifier, _ = _outage(database_url, tmp_path, stale_if_error=0)
    with pytest.raises(OperationalError):
        asyncio.run(verifier.principal(ADMIN_KEY))
