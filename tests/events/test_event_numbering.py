"""Events of one transaction take consecutive numbers with one lock of the head; the head row ends
at the last number at commit, and a rolled-back transaction leaves it as it was."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from app.db import make_engine
from app.events import service as events
from app.events.models import Event, EventHead
from tests.conftest import make_settings


def _head(session: Session) -> int:
    return session.exec(select(EventHead.last_seq).where(EventHead.id == 1)).one()


def test_events_of_one_transaction_are_numbered_on_and_the_head_is_written_at_commit(database_url: str) -> None:
    engine = make_engine(make_settings(database_url))
    with Session(engine) as session:
        start = _head(session)
    with Session(engine) as session:
        made = [events.append(session, "webhook.test", {"n": n}) for n in range(5)]
        session.commit()
        assert [e.seq for e in made] == list(range(start + 1, start + 6))
    with Session(engine) as session:
        assert _head(session) == start + 5
        stored = session.exec(select(Event.seq).where(Event.seq > start).order_by(Event.seq)).all()
        assert list(stored) == list(range(start + 1, start + 6))
        again = events.append(session, "webhook.test", {"n": 5})
        session.commit()
        assert again.seq == start + 6


def test_a_rolled_back_transaction_leaves_the_head_as_it_was(database_url: str) -> None:
    engine = make_engine(make_settings(database_url))
    with Session(engine) as session:
        start = _head(session)
    with Session(engine) as session:
        for n in range(3):
            events.append(session, "webhook.test", {"n": n})
        session.rollback()
    with Session(engine) as session:
        assert _head(session) == start
    with Session(engine) as session, pytest.raises(ZeroDivisionError), session.begin():
        events.append(session, "webhook.test", {"n": 0})
        raise ZeroDivisionError
    with Session(engine) as session:
        assert _head(session) == start
        assert events.append(session, "webhook.test", {"n": 1}).seq == start + 1
        session.commit()


def test_plain_row_events_number_on_with_orm_events_and_a_rollback_forgets_them(database_url: str) -> None:
    """``events.add`` (the busy path: rows written in one INSERT before the commit) shares the
    numbering with ``append``; a rolled-back transaction writes none of its queued rows, and a later
    transaction on the same session does not pick them up."""
    engine = make_engine(make_settings(database_url))
    with Session(engine) as session:
        start = _head(session)
    with Session(engine) as session:
        first = events.add(session, "webhook.test", {"n": 0})
        second = events.append(session, "webhook.test", {"n": 1}).seq
        third = events.add(session, "webhook.test", {"n": 2})
        session.commit()
    assert (first, second, third) == (start + 1, start + 2, start + 3)
    with Session(engine) as session:
        assert _head(session) == start + 3
        stored = session.exec(select(Event.seq, Event.payload).where(Event.seq > start).order_by(Event.seq)).all()
        assert [(seq, payload) for seq, payload in stored] == [
            (start + 1, '{"n":0}'),
            (start + 2, '{"n":1}'),
            (start + 3, '{"n":2}'),
        ]
    with Session(engine) as session:
        events.add(session, "webhook.test", {"n": "lost"})
        session.rollback()
        kept = events.add(session, "webhook.test", {"n": 3})
        session.commit()
    assert kept == start + 4
    with Session(engine) as session:
        assert _head(session) == start + 4
        payloads = session.exec(select(Event.payload).where(Event.seq > start + 3)).all()
        assert list(payloads) == ['{"n":3}']
