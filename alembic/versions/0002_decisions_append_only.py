"""decisions are append-only in the database too: triggers refuse UPDATE and DELETE

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MESSAGE = "decision records are append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION decision_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER decision_append_only BEFORE UPDATE OR DELETE ON decision "
            "FOR EACH ROW EXECUTE FUNCTION decision_append_only()"
        )
        op.execute(
            "CREATE TRIGGER decision_no_truncate BEFORE TRUNCATE ON decision "
            "FOR EACH STATEMENT EXECUTE FUNCTION decision_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER decision_no_{event.lower()} BEFORE {event} ON decision "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS decision_no_truncate ON decision")
        op.execute("DROP TRIGGER IF EXISTS decision_append_only ON decision")
        op.execute("DROP FUNCTION IF EXISTS decision_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS decision_no_update")
        op.execute("DROP TRIGGER IF EXISTS decision_no_delete")
