"""decision_ruleset: which rulesets each decision used, as rows (backfilled from decision.rulesets)

"Did any decision use ruleset X" is answered from this indexed table instead of a LIKE over the
JSON text of decision.rulesets. The JSON column stays: it is part of each record's hash.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import json

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    link = op.create_table(
        "decision_ruleset",
        sa.Column("decision_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ruleset_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("decision_seq", "ruleset_id"),
    )
    with op.batch_alter_table("decision_ruleset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decision_ruleset_ruleset_id"), ["ruleset_id"], unique=False)
    bind = op.get_bind()
    page = sa.text("SELECT seq, rulesets FROM decision WHERE seq > :after ORDER BY seq LIMIT 1000")
    after = 0
    while rows := bind.execute(page, {"after": after}).all():
        links = [{"decision_seq": seq, "ruleset_id": r} for seq, text in rows for r in dict.fromkeys(json.loads(text))]
        if links:
            op.bulk_insert(link, links)
        after = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("decision_ruleset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_ruleset_ruleset_id"))
    op.drop_table("decision_ruleset")
