"""Group commit: many decisions per transaction, still one unforked chain, each caller answered
only after its own decision committed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from app.db import make_engine
from app.decisions import repository
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
    results = repository.append_many(engine, drafts, TTL)
    assert [r.decision_id for r in results if isinstance(r, repository.Stored)] == [d.id for d in drafts]
    rows = chain_rows(engine)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert all(rows[i][2] == rows[i - 1][3] for i in range(1, 5))
    assert repository.verify(engine).ok


def test_a_key_repeated_inside_one_batch_replays_or_conflicts(engine: Engine) -> None:
    first = draft(1, key="k", api_key="a", request='{"x":1}')
    same = draft(2, key="k", api_key="a", request='{"x":1}')
    changed = draft(3, key="k", api_key="a", request='{"x":2}')
    other_key = draft(4, key="k", api_key="b", request='{"x":2}')
    results = repository.append_many(engine, [first, same, changed, other_key], TTL)
    assert results[0] == repository.Stored(first.id, first.response, False)
    assert results[1] == repository.Stored(first.id, first.response, True)
    assert isinstance(results[2], repository.IdempotencyConflict)
    assert results[2].decision_id == first.id
    assert "Idempotency-Key 'k' was used for a different request" in results[2].detail
    assert isinstance(results[3], repository.Stored) and not results[3].replayed
    assert [r[1] for r in chain_rows(engine)] == [first.id, other_key.id]


def test_a_replay_or_conflict_with_an_earlier_batch_does_not_drop_the_drafts_after_it(engine: Engine) -> None:
    first = draft(1, key="k", api_key="a", request='{"x":1}')
    repository.append_many(engine, [first], TTL)
    again = draft(2, key="k", api_key="a", request='{"x":1}')
    changed = draft(3, key="k", api_key="a", request='{"x":2}')
    later = draft(4)
    results = repository.append_many(engine, [again, changed, later], TTL)
    assert results[0] == repository.Stored(first.id, first.response, True)
    assert isinstance(results[1], repository.IdempotencyConflict) and results[1].decision_id == first.id
    assert results[2] == repository.Stored(later.id, later.response, False)
    assert [r[1] for r in chain_rows(engine)] == [first.id, later.id]


def test_the_writer_answers_every_concurrent_caller_after_commit(engine: Engine) -> None:
    writer = repository.DecisionWriter(engine, TTL, max_batch=16)
    stored: list[repository.Stored] = []
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
    assert repository.verify(engine).ok


def test_a_failed_group_fails_every_caller_in_it_and_stores_none(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_: object) -> list[repository.Stored | repository.IdempotencyConflict]:
        raise OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(repository, "append_many", failing)
    writer = repository.DecisionWriter(engine, TTL)
    futures = [writer.submit(draft(n)) for n in range(3)]
    for future in futures:
        with pytest.raises(OperationalError):
            future.result(timeout=10)
    writer.close()
    assert chain_rows(engine) == []


def test_a_closed_writer_refuses_new_work_after_writing_what_it_had(engine: Engine) -> None:
    writer = repository.DecisionWriter(engine, TTL)
    pending = writer.submit(draft(1))
    writer.close()
    assert pending.result(timeout=10).decision_id == chain_rows(engine)[0][1]
    with pytest.raises(RuntimeError, match=r"^decision writer is closed$"):
        writer.submit(draft(2))


def test_a_conflict_and_other_keyed_drafts_in_one_batch_do_not_fail_each_other(engine: Engine) -> None:
    """Issue 10: on SQLite a conflict loaded a naive created_at; the same key's next expiry sweep in
    the batch compared it with an aware cutoff (TypeError) and the whole batch failed."""
    first = draft(1, key="shared", api_key="a", request='{"x":1}')
    repository.append_many(engine, [first], TTL)
    conflicts = [draft(n, key="shared", api_key="a", request=f'{{"x":{n}}}') for n in (2, 3)]
    others = [draft(n, key=f"k{n}", api_key="a") for n in range(4, 8)]
    results = repository.append_many(engine, [conflicts[0], others[0], conflicts[1], *others[1:]], TTL)
    assert isinstance(results[0], repository.IdempotencyConflict) and isinstance(
        results[2], repository.IdempotencyConflict
    )
    assert [r.decision_id for r in results if isinstance(r, repository.Stored)] == [d.id for d in others]
    assert repository.verify(engine).ok


def test_stored_timestamps_come_back_timezone_aware_on_every_engine(engine: Engine) -> None:
    from sqlmodel import Session, select

    from app.decisions.models import Decision, IdempotencyRecord

    repository.append_many(engine, [draft(1, key="k", api_key="a")], TTL)
    with Session(engine) as session:
        stamps = [d.created_at for d in session.exec(select(Decision))]
        stamps += [r.created_at for r in session.exec(select(IdempotencyRecord))]
    assert stamps and all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in stamps)


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> None:
    """A draft whose idempotency key is "poison" trips a bug (a TypeError) where it is written."""
    real_replay = repository._replay

    def replay(session: object, d: repository.Draft, ttl: timedelta) -> repository.Stored | None:
        if d.idempotency_key == "poison":
            raise TypeError("a bug reached by this draft only")
        return real_replay(session, d, ttl)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "_replay", replay)


@pytest.mark.usefixtures("poison")
def test_an_item_that_fails_in_a_group_fails_alone_and_the_rest_are_stored(engine: Engine) -> None:
    """A bug tripped by one caller's draft must not turn every other caller's screening into a 500."""
    good = [draft(n, key=f"k{n}", api_key="a") for n in range(4)]
    bad = draft(9, key="poison", api_key="a")
    results = repository.append_group(engine, [good[0], good[1], bad, good[2], good[3]], TTL)
    assert isinstance(results[2], TypeError)
    stored = [r for r in results if isinstance(r, repository.Stored)]
    assert [s.decision_id for s in stored] == [d.id for d in good]
    assert [r[1] for r in chain_rows(engine)] == [d.id for d in good]
    assert repository.verify(engine).ok


def test_an_unavailable_database_fails_the_group_once_without_retrying_each_item(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def failing(_engine: Engine, drafts: list[repository.Draft], _ttl: timedelta) -> list[object]:
        calls.append(len(drafts))
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(repository, "append_many", failing)
    results = repository.append_group(engine, [draft(n) for n in range(5)], TTL)
    assert all(isinstance(r, OperationalError) for r in results)
    assert calls == [5]


def test_callers_on_an_event_loop_are_answered_after_their_group_commits_one_wake_up_per_group(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many requests awaiting on one loop: each gets its own decision, all stored and chained; the
    writer calls into the loop once per group written, not once per decision; a caller that gave up
    (cancelled) does not keep the others in its group from their answers."""
    import asyncio

    writer = repository.DecisionWriter(engine, TTL, max_batch=64)
    calls: list[int] = []
    settle = repository.DecisionWriter._settle

    def counted(self: repository.DecisionWriter, settled: list[Any]) -> None:
        calls.append(len(settled))
        settle(self, settled)

    monkeypatch.setattr(repository.DecisionWriter, "_settle", counted)
    drafts = [draft(n) for n in range(40)]

    async def main() -> list[repository.Stored | BaseException]:
        tasks = [asyncio.ensure_future(writer.wait(d)) for d in drafts]
        await asyncio.sleep(0)  # every task has queued its draft; none can be answered before we yield
        tasks[7].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        writer.close()
    assert isinstance(results[7], asyncio.CancelledError)
    answered = [r for i, r in enumerate(results) if i != 7]
    assert [r.decision_id for r in answered if isinstance(r, repository.Stored)] == [
        d.id for i, d in enumerate(drafts) if i != 7
    ]
    # the cancelled caller's decision was written all the same (it was queued): 40 in the chain
    assert len(chain_rows(engine)) == 40 and repository.verify(engine).ok
    assert sum(calls) == 40 and len(calls) < 40  # grouped: fewer wake-ups than decisions
    assert writer.pending == 0


def test_a_caller_is_answered_with_the_error_even_when_the_writer_fails_before_writing(engine: Engine) -> None:
    """The batch-size metric's callback raising (anything before the database): the caller gets that
    error, and the writer goes on answering later callers, never leaving one waiting."""
    calls: list[int] = []

    def on_batch(size: int) -> None:
        calls.append(size)
        if len(calls) == 1:
            raise RuntimeError("metrics broke")

    writer = repository.DecisionWriter(engine, TTL, on_batch=on_batch)
    with pytest.raises(RuntimeError, match="metrics broke"):
        writer.submit(draft(1)).result(timeout=10)
    assert writer.submit(draft(2)).result(timeout=10).replayed is False
    writer.close()
    assert len(chain_rows(engine)) == 1


@pytest.mark.usefixtures("poison")
def test_a_group_of_two_with_one_failing_item_stores_the_other_and_logs_why_it_split(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = draft(1, key="k1", api_key="a"), draft(2, key="poison", api_key="a")
    with caplog.at_level("WARNING", logger="chipclass.decisions"):
        results = repository.append_group(engine, [good, bad], TTL)
    assert len(results) == 2 and isinstance(results[1], TypeError)
    assert isinstance(results[0], repository.Stored) and results[0].decision_id == good.id
    assert [r.getMessage() for r in caplog.records] == [
        "a group of 2 decisions failed (TypeError); committing each alone"
    ]


def test_the_writer_announces_a_commit_only_when_something_was_stored(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``on_commit`` wakes the webhook dispatcher: once per group that stored a decision, never for
    a group that stored nothing."""
    commits: list[int] = []
    writer = repository.DecisionWriter(engine, TTL, on_commit=lambda: commits.append(1))
    writer.submit(draft(1)).result(timeout=10)
    assert commits == [1]

    def failing(*_: object) -> list[repository.Stored | repository.IdempotencyConflict]:
        raise OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(repository, "append_many", failing)
    with pytest.raises(OperationalError):
        writer.submit(draft(2)).result(timeout=10)
    writer.close()
    assert commits == [1]


def test_the_pending_count_is_the_callers_still_waiting_and_returns_to_zero(engine: Engine) -> None:
    """``chipclass_decisions_pending`` reads ``writer.pending``: each decision submitted counts once
    until its caller has its answer, so an idle writer reads 0 (not 3, or -3)."""
    writer = repository.DecisionWriter(engine, TTL)
    try:
        gate = threading.Event()
        original = writer._write

        def held(batch: Any) -> None:
            gate.wait(30)
            original(batch)

        writer._write = held  # type: ignore[method-assign]
        drafts = [draft(n) for n in range(3)]
        futures = [writer.submit(d) for d in drafts]
        assert writer.pending == 3
        gate.set()
        assert [f.result(timeout=30).decision_id for f in futures] == [d.id for d in drafts]
        for _ in range(1000):  # the count drops in the futures' done callbacks, right after the results
            if writer.pending == 0:
                break
            threading.Event().wait(0.001)
        assert writer.pending == 0
    finally:
        writer.close()
