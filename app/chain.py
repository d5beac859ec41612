"""Hash chains: the decision log and the reference change log are each an append-only table whose
records link to the one before by hash, with a one-row head (last seq, last hash) written in the same
transaction as each record. One walker verifies either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

GENESIS = "0" * 64
"""The ``prev_hash`` of a chain's first record."""


class Link(Protocol):
    """A chained record: its place, id and the hashes that link it."""

    seq: int
    id: str
    prev_hash: str
    hash: str


# what GET /v1/decisions/verify answers (GET /v1/changes/verify: the same fields, as ChangeVerification)
class ChainVerification(BaseModel):
    ok: bool
    checked: int
    last_seq: int
    head_hash: str
    first_broken_seq: int | None
    first_broken_id: str | None
    problem: str | None


def verify(
    engine: Engine, record: type[Any], head: type[Any], record_hash: Callable[[Any], str], batch: int = 1000
) -> ChainVerification:
    """Walk the chain of ``record`` rows from the start up to the head (the ``head`` row with id 1) read
    first; report the first broken link.

    Records appended while the walk runs lie beyond that head and are left for the next run, so
    verifying under live traffic never reports a false break (the head and its record commit together).
    """
    prev_hash, expected, checked = GENESIS, 1, 0
    seq = col(record.seq)

    def broken(at: int, record_id: str | None, problem: str) -> ChainVerification:
        return ChainVerification(
            ok=False,
            checked=checked,
            last_seq=expected - 1,
            head_hash=prev_hash,
            first_broken_seq=at,
            first_broken_id=record_id,
            problem=problem,
        )

    with Session(engine) as session:
        top = session.get(head, 1)
        while True:
            query = select(record).where(seq >= expected)
            if top is not None:
                query = query.where(seq <= top.last_seq)
            rows: list[Link] = list(session.exec(query.order_by(seq).limit(batch)))
            if not rows:
                break
            for r in rows:
                problem = None
                if r.seq != expected:
                    problem = f"sequence gap: expected {expected}, found {r.seq}"
                elif r.prev_hash != prev_hash:
                    problem = "prev_hash does not match the previous record's hash"
                elif record_hash(r) != r.hash:
                    problem = "content does not match its hash (record altered)"
                if problem:
                    return broken(r.seq, r.id, problem)
                prev_hash, expected, checked = r.hash, r.seq + 1, checked + 1
        if top is not None and (top.last_hash != prev_hash or top.last_seq != expected - 1):
            return broken(expected, None, "chain head does not match the last record (records missing at the end)")
        # a record past the head that no writer's head accounts for was not appended through the log:
        # read the last seq first, then the head (a record and its head commit together)
        last = session.exec(select(func.max(seq))).one()
        now_head = session.exec(select(col(head.last_seq)).where(col(head.id) == 1)).first()
        if top is not None and last is not None and now_head is not None and last > now_head:
            return broken(now_head + 1, None, "records beyond the chain head (not appended through the log)")
    return ChainVerification(
        ok=True,
        checked=checked,
        last_seq=expected - 1,
        head_hash=prev_hash,
        first_broken_seq=None,
        first_broken_id=None,
        problem=None,
    )
