"""reference change log: who changed reference data, when and why, hash-chained and append-only

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MESSAGE = "reference change records are append-only"


def upgrade() -> None:
    op.create_table(
        "reference_change",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("effective", sa.Date(), nullable=True),
        sa.Column("retroactive", sa.Boolean(), nullable=False),
        sa.Column("actor_kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("actor_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("reference_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reference_change_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_reference_change_created_at"), ["created_at"], unique=False)
    op.create_table(
        "change_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO change_chain (id, last_seq, last_hash) VALUES (1, 0, '" + "0" * 64 + "')")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION reference_change_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER reference_change_append_only BEFORE UPDATE OR DELETE ON reference_change "
            "FOR EACH ROW EXECUTE FUNCTION reference_change_append_only()"
        )
        op.execute(
            "CREATE TRIGGER reference_change_no_truncate BEFORE TRUNCATE ON reference_change "
            "FOR EACH STATEMENT EXECUTE FUNCTION reference_change_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER reference_change_no_{event.lower()} BEFORE {event} ON reference_change "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS reference_change_no_truncate ON reference_change")
        op.execute("DROP TRIGGER IF EXISTS reference_change_append_only ON reference_change")
        op.execute("DROP FUNCTION IF EXISTS reference_change_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS reference_change_no_update")
        op.execute("DROP TRIGGER IF EXISTS reference_change_no_delete")
    op.drop_table("change_chain")
    with op.batch_alter_table("reference_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reference_change_created_at"))
        batch_op.drop_index(batch_op.f("ix_reference_change_kind"))
    op.drop_table("reference_change")
