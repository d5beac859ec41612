"""Tables of the decision log: decisions (hash-chained), the chain head, idempotency records and
the rulesets each decision used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UtcDateTime


class Decision(SQLModel, table=True):
    """An answer as returned, hash-chained to the one before. Never updated or deleted."""

    __tablename__ = "decision"
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    id: str = Field(max_length=26, unique=True)
    kind: str = Field(max_length=20)
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    api_key_id: str | None = Field(default=None, max_length=40, index=True)
    request_id: str = Field(max_length=200)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str = Field(max_length=64)
    request: str = Field(sa_column=Column(Text, nullable=False))
    response: str = Field(sa_column=Column(Text, nullable=False))
    rulesets: str = Field(sa_column=Column(Text, nullable=False))
    data_version: str = Field(max_length=80)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class DecisionChain(SQLModel, table=True):
    """The chain head: one row, locked by every writer so the chain never forks."""

    __tablename__ = "decision_chain"
    id: int = Field(default=1, primary_key=True)
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_hash: str = Field(max_length=64)


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    api_key_id: str = Field(max_length=40)
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    decision_id: str = Field(max_length=26)
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False, index=True))


class DecisionRuleset(SQLModel, table=True):
    """Which rulesets a decision used: one row per (decision, ruleset), written with the decision.

    The same list is in ``decision.rulesets`` (hashed into the chain); this table answers "did any
    decision use ruleset X" from an index instead of a search through text.
    """

    __tablename__ = "decision_ruleset"
    # no foreign key: the decision table is append-only (triggers), and a tampering test that
    # removes a decision must find the chain broken, not be stopped by a constraint
    decision_seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    ruleset_id: str = Field(max_length=80, primary_key=True, index=True)
