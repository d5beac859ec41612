"""The decision log's use cases: record an answer, read it back, page and verify the chain, and
say whether any decision used a ruleset."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session
from ulid import ULID

from app.canonical import canonical_plain
from app.chain import ChainVerification
from app.decisions import repository
from app.decisions.models import Decision
from app.decisions.repository import DecisionWriter, Draft, Stored, append_many
from app.decisions.schemas import DecisionPage, DecisionRecord
from app.errors import DomainError

__all__ = [
    "DecisionWriter",
    "Draft",
    "Stored",
    "append_many",
    "get_visible",
    "new_decision_id",
    "new_draft",
    "page",
    "record",
    "request_of",
    "responses",
    "ruleset_used",
    "verify",
]


_random = random.Random(os.urandom(32))


def new_decision_id() -> str:
    """A ULID (time-sortable) whose random part comes from a per-process generator seeded once:
    ``ULID()`` reads os.urandom for every id, a system call that hands the GIL to the decision
    writer thread and makes the event loop wait to get it back."""
    return str(ULID.from_bytes((time.time_ns() // 1_000_000).to_bytes(6, "big") + _random.randbytes(10)))


def new_draft(
    *,
    decision_id: str,
    kind: str,
    api_key_id: str | None,
    request_id: str,
    idempotency_key: str | None,
    request: object,
    response: str,
    rulesets: list[str],
    data_version: str,
    effects: tuple[Callable[[Session], None], ...] = (),
) -> Draft:
    """A decision to store: ``request`` in canonical JSON (what the request hash covers);
    ``effects`` run in the transaction that stores it."""
    return Draft(
        id=decision_id,
        kind=kind,
        api_key_id=api_key_id,
        request_id=request_id,
        idempotency_key=idempotency_key,
        request=canonical_plain(request),
        response=response,
        rulesets=rulesets,
        data_version=data_version,
        effects=effects,
    )


async def record(writer: DecisionWriter, draft: Draft) -> Stored:
    """Store a decision through the group-commit writer; returns once it is committed (or the
    earlier decision its idempotency key made). Raises ``IdempotencyConflict`` (a DomainError)
    when the key was used for a different request."""
    return await writer.wait(draft)


def get_visible(
    engine: Engine, decision_id: str, key_id: str, scopes: frozenset[str], kinds: tuple[str, ...]
) -> Decision:
    """Blocking: a stored decision of one of ``kinds``, if this key may read it (its own; any with
    audit or admin); ``unknown_screening`` otherwise (never saying which)."""
    decision = repository.get(engine, decision_id)
    visible = decision is not None and decision.kind in kinds
    if decision is None or not visible or not (decision.api_key_id == key_id or scopes & {"audit", "admin"}):
        raise DomainError("unknown_screening", f"No screening {decision_id!r}")
    return decision


def _record(d: Decision) -> DecisionRecord:
    return DecisionRecord(
        seq=d.seq,
        id=d.id,
        kind=d.kind,
        created_at=d.created_at,
        api_key_id=d.api_key_id,
        request_id=d.request_id,
        idempotency_key=d.idempotency_key,
        rulesets=json.loads(d.rulesets),
        data_version=d.data_version,
        request=json.loads(d.request),
        response=json.loads(d.response),
        prev_hash=d.prev_hash,
        hash=d.hash,
    )


def page(engine: Engine, after_seq: int, limit: int) -> DecisionPage:
    """Blocking: up to ``limit`` records after ``after_seq``, in order, and the cursor of the next page."""
    rows = repository.page(engine, after_seq, limit + 1)
    items = [_record(d) for d in rows[:limit]]
    return DecisionPage(items=items, next_cursor=str(items[-1].seq) if len(rows) > limit else None)


def verify(engine: Engine) -> ChainVerification:
    """Blocking: recompute the hash chain from the first record; report the first broken link."""
    return repository.verify(engine)


def responses(session: Session, decision_ids: Sequence[str]) -> dict[str, str]:
    """The stored responses (JSON text) of these decisions, by id (for another package's joins)."""
    return repository.responses(session, decision_ids)


def request_of(session: Session, decision_id: str) -> str:
    """The stored request (canonical JSON text) of a decision."""
    return repository.request_of(session, decision_id)


def ruleset_used(session: Session, ruleset_id: str) -> bool:
    """Did any stored decision use this ruleset (from the decision_ruleset index)?"""
    return repository.ruleset_used(session, ruleset_id)
