"""Alembic, driven from code: the only way the schema is created or changed."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from alembic import command
from app.db import normalize_url

ALEMBIC_DIR = Path(os.environ.get("CHIPCLASS_ALEMBIC_DIR") or Path(__file__).resolve().parent.parent / "alembic")


def config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(config(database_url), revision)


@lru_cache(maxsize=1)
def _script_heads() -> frozenset[str]:
    """The revision heads shipped with this build (read once: they cannot change at run time)."""
    return frozenset(ScriptDirectory.from_config(config("sqlite://")).get_heads())


def heads() -> set[str]:
    """The revision heads this build ships (what ``at_head`` compares the database with)."""
    return set(_script_heads())


def current(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def at_head(engine: Engine) -> bool:
    return current(engine) == heads()
