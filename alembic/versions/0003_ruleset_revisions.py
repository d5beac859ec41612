"""ruleset revisions: the text a shipped correction replaced, kept for the decisions answered on it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ruleset_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ruleset_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_by_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("replaced_in", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ruleset_revision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ruleset_revision_ruleset_id"), ["ruleset_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ruleset_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ruleset_revision_ruleset_id"))
    op.drop_table("ruleset_revision")
