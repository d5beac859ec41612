"""decision.request and decision.response are compressed with lz4 on PostgreSQL (where it is built in)

Each stored screening writes its request and its answer (8.5 KB for one line, megabytes for a long
order) into the decision log. PostgreSQL compresses such values with pglz by default, which cost
more of the database's CPU than the rest of the insert: about 330 us per stored one-line screening
against about 235 us with lz4, which compresses nearly as well. Only values written from now on are
compressed with lz4 (PostgreSQL reads either); SQLite does not compress and is left as it is. A
server built without lz4 keeps pglz.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = ("request", "response")


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(
        text("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
    ).first()
    return found is not None


def _set(method: str) -> None:
    clauses = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION {method}" for column in COLUMNS)
    op.execute(f"ALTER TABLE decision {clauses}")


def upgrade() -> None:
    if _lz4_available():
        _set("lz4")


def downgrade() -> None:
    if _lz4_available():
        _set("pglz")
