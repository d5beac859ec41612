"""decision_ruleset is append-only like the decisions it indexes: triggers refuse UPDATE and DELETE

The link rows (which rulesets each decision used) answer "did any decision use ruleset X", which
decides whether a shipped correction keeps the replaced text as a revision; a deleted link would
let a correction silently rewrite rules that decisions were made on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MESSAGE = "decision_ruleset rows are append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION decision_ruleset_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER decision_ruleset_append_only BEFORE UPDATE OR DELETE ON decision_ruleset "
            "FOR EACH ROW EXECUTE FUNCTION decision_ruleset_append_only()"
        )
        op.execute(
            "CREATE TRIGGER decision_ruleset_no_truncate BEFORE TRUNCATE ON decision_ruleset "
            "FOR EACH STATEMENT EXECUTE FUNCTION decision_ruleset_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER decision_ruleset_no_{event.lower()} BEFORE {event} ON decision_ruleset "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS decision_ruleset_no_truncate ON decision_ruleset")
        op.execute("DROP TRIGGER IF EXISTS decision_ruleset_append_only ON decision_ruleset")
        op.execute("DROP FUNCTION IF EXISTS decision_ruleset_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS decision_ruleset_no_update")
        op.execute("DROP TRIGGER IF EXISTS decision_ruleset_no_delete")
