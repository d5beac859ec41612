"""Group commit: many decisions per transaction, still one unforked chain, each caller answered
only after its own decision committed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from app.db import make_engine
from app.decisions import store
from tests.conftest import make_settings
from tests.db.test_decision_chain import chain_rows, draft

TTL = timedelta(hours=24)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(make_settings(database_url))
    yield eng
    eng.dispose()


def test_a_batch_commits_in_order_linking_each_record_to_the_one_before(engine: Engine) -> None:
    drafts = [draft(i) for i in range(5)]
    results = store.append_many(engine, drafts, TTL)
    assert [r.decision_id for r in results if isinstance(r, store.Stored)] == [d.id for d in drafts]
    rows = chain_rows(engine)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert all(rows[i][2] == rows[i - 1][3] for i in range(1, 5))
    assert store.verify(engine).ok


def test_a_key_repeated_inside_one_batch_replays_or_conflicts(engine: Engine) -> None:
    first = draft(1, key="k", api_key="a", request='{"x":1}')
    same = draft(2, key="k", api_key="a", request='{"x":1}')
    changed = draft(3, key="k", api_key="a", request='{"x":2}')
    other_key = draft(4, key="k", api_key="b", request='{"x":2}')
    results = store.append_many(engine, [first, same, changed, other_key], TTL)
    assert results[0] == store.Stored(first.id, first.response, False)
    assert results[1] == store.Stored(first.id, first.response, True)
    assert isinstance(results[2], store.IdempotencyConflict)
    assert isinstance(results[3], store.Stored) and not results[3].replayed
    assert [r[1] for r in chain_rows(engine)] == [first.id, other_key.id]


def test_the_writer_answers_every_concurrent_caller_after_commit(engine: Engine) -> None:
    writer = store.DecisionWriter(engine, TTL, max_batch=16)
    stored: list[store.Stored] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        result = writer.submit(draft(n)).result(timeout=30)
        with lock:
            stored.append(result)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert len(stored) == 60
    ids = {r[1] for r in chain_rows(engine)}
    assert {s.decision_id for s in stored} == ids
    assert store.verify(engine).ok


def test_a_failed_group_fails_every_caller_in_it_and_stores_none(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_: object) -> list[store.Stored | store.IdempotencyConflict]:
        raise OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(store, "append_many", failing)
    writer = store.DecisionWriter(engine, TTL)
    futures = [writer.submit(draft(n)) for n in range(3)]
    for future in futures:
        with pytest.raises(OperationalError):
            future.result(timeout=10)
    writer.close()
    assert chain_rows(engine) == []


def test_a_closed_writer_refuses_new_work_after_writing_what_it_had(engine: Engine) -> None:
    writer = store.DecisionWriter(engine, TTL)
    pending = writer.submit(draft(1))
    writer.close()
    assert pending.result(timeout=10).decision_id == chain_rows(engine)[0][1]
    with pytest.raises(RuntimeError):
        writer.submit(draft(2))
