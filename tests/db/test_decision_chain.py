"""The decision log: concurrent writers never fork or break the chain, idempotency makes exactly
one decision, verification names an altered or missing record, and a failed write stores nothing
and tells the client to retry (no phantom decisions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session
from typer.testing import CliRunner
from ulid import ULID

from app import chain
from app.canonical import canonical
from app.cli import cli
from app.config import get_settings
from app.db import make_engine
from app.decisions import repository
from app.decisions.models import Decision
from tests.conftest import make_settings

TTL = timedelta(hours=48)
THREADS, PER_THREAD = 8, 25
SCREENING = {
    "destination": "CN",
    "end_user": {"name": "Buyer"},
    "lines": [{"key": "a", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": 1}],
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(make_settings(database_url, db_pool_size=THREADS, db_max_overflow=4))
    yield eng
    eng.dispose()


def draft(n: int, key: str | None = None, api_key: str | None = None, request: str | None = None) -> repository.Draft:
    body = request if request is not None else canonical({"n": n})
    return repository.Draft(
        id=str(ULID()),
        kind="screening",
        api_key_id=api_key,
        request_id=f"req-{n}",
        idempotency_key=key,
        request=body,
        response=canonical({"answer": n}),
        rulesets=["r1"],
        data_version="test",
    )


def chain_rows(engine: Engine) -> list[tuple[int, str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT seq, id, prev_hash, hash FROM decision ORDER BY seq"))]  # type: ignore[misc]


def run_threads(n: int, target: object) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            barrier.wait()
            target(i)  # type: ignore[operator]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_concurrent_writers_make_one_unbroken_chain_with_no_gaps_or_forks(engine: Engine) -> None:
    def write(i: int) -> None:
        for j in range(PER_THREAD):
            repository.append(engine, draft(i * 1000 + j), TTL)

    assert run_threads(THREADS, write) == []
    rows = chain_rows(engine)
    total = THREADS * PER_THREAD
    assert [r[0] for r in rows] == list(range(1, total + 1))
    assert len({r[1] for r in rows}) == total
    prev = chain.GENESIS
    for _seq, _id, prev_hash, digest in rows:
        assert prev_hash == prev  # each record links to exactly the one before: no fork
        prev = digest
    result = repository.verify(engine)
    assert result.ok, result
    assert (result.checked, result.last_seq, result.head_hash) == (total, total, prev)
    with engine.connect() as conn:
        head = conn.execute(text("SELECT last_seq, last_hash FROM decision_chain WHERE id = 1")).one()
    assert tuple(head) == (total, prev)


def test_concurrent_duplicates_with_one_idempotency_key_make_exactly_one_decision(engine: Engine) -> None:
    results: list[repository.Stored] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        for _ in range(3):
            stored = repository.append(engine, draft(i, key="order-42", api_key="key-a", request='{"same":true}'), TTL)
            with lock:
                results.append(stored)

    assert run_threads(THREADS, write) == []
    assert len(results) == THREADS * 3
    assert len({r.decision_id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False] + [True] * (THREADS * 3 - 1)
    assert len({r.response for r in results}) == 1
    assert len(chain_rows(engine)) == 1
    # the same key under another API key is a different request
    other = repository.append(engine, draft(1, key="order-42", api_key="key-b", request='{"same":true}'), TTL)
    assert not other.replayed
    assert repository.verify(engine).checked == 2


def test_same_idempotency_key_with_a_different_body_is_a_conflict(engine: Engine) -> None:
    first = repository.append(engine, draft(1, key="k", api_key="key-a", request='{"a":1}'), TTL)
    with pytest.raises(repository.IdempotencyConflict) as info:
        repository.append(engine, draft(2, key="k", api_key="key-a", request='{"a":2}'), TTL)
    assert info.value.decision_id == first.decision_id
    assert len(chain_rows(engine)) == 1
    assert repository.verify(engine).ok


def test_idempotency_over_http_replays_the_first_answer_and_rejects_a_changed_body_naming_the_key(
    client: TestClient,
) -> None:
    headers = {"Idempotency-Key": "order-7"}
    first = client.post("/v1/screenings", json=SCREENING, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post("/v1/screenings", json=SCREENING, headers=headers)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    changed = client.post("/v1/screenings", json={**SCREENING, "reference": "PO-2"}, headers=headers)
    assert changed.status_code == 422
    assert changed.headers["content-type"].startswith("application/problem+json")
    assert changed.json()["code"] == "idempotency_key_reused"
    assert first.json()["id"] in changed.json()["detail"]
    assert "Idempotency-Key 'order-7' was used for a different request" in changed.json()["detail"]
    verification = client.get("/v1/decisions/verify").json()
    assert verification["ok"] and verification["checked"] == 1


def _cli_verify(database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIPCLASS_")}
    env["CHIPCLASS_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "decisions", "verify"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def tamper(engine: Engine) -> Iterator[Connection]:
    """A connection with the database's append-only guard dropped, as an attacker with DDL rights
    could; verification must still name what was changed."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE decision DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS decision_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS decision_no_delete"))
        yield conn


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE decision SET response = '{}' WHERE seq = 1",
        "DELETE FROM decision",
        "UPDATE decision_ruleset SET ruleset_id = 'other' WHERE decision_seq = 1",
        "DELETE FROM decision_ruleset",
    ],
)
def test_the_database_refuses_to_change_or_delete_a_decision(
    client: TestClient, database_url: str, statement: str
) -> None:
    _screen(client, 2)
    engine = make_engine(make_settings(database_url))
    try:
        with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
        if engine.dialect.name == "postgresql":
            table = "decision_ruleset" if "decision_ruleset" in statement else "decision"
            with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {table}"))
    finally:
        engine.dispose()
    assert client.get("/v1/decisions/verify").json()["checked"] == 2


def _screen(client: TestClient, n: int) -> list[str]:
    ids = []
    for i in range(n):
        resp = client.post("/v1/screenings", json={**SCREENING, "reference": f"PO-{i}"})
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    return ids


def test_verification_names_a_decision_altered_in_the_database(
    client: TestClient, database_url: str, tmp_path: Path
) -> None:
    ids = _screen(client, 5)
    assert client.get("/v1/decisions/verify").json()["ok"] is True
    k = 3
    engine = make_engine(make_settings(database_url))
    try:
        with tamper(engine) as conn:
            original = conn.execute(text("SELECT response FROM decision WHERE seq = :k"), {"k": k}).scalar_one()
            forged = json.loads(original)
            forged["license_required"] = not forged["license_required"]
            conn.execute(text("UPDATE decision SET response = :r WHERE seq = :k"), {"r": json.dumps(forged), "k": k})
        result = repository.verify(engine)
    finally:
        engine.dispose()
    assert not result.ok
    assert (result.first_broken_seq, result.first_broken_id) == (k, ids[k - 1])
    assert (result.checked, result.last_seq) == (k - 1, k - 1)  # the last good record: the one before
    assert result.problem == "content does not match its hash (record altered)"

    over_http = client.get("/v1/decisions/verify")
    assert over_http.status_code == 200
    body = over_http.json()
    assert body["ok"] is False
    assert (body["first_broken_seq"], body["first_broken_id"]) == (k, ids[k - 1])

    cli = _cli_verify(database_url, tmp_path)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    printed = json.loads(cli.stdout)
    assert printed["ok"] is False
    assert (printed["first_broken_seq"], printed["first_broken_id"]) == (k, ids[k - 1])


def test_rehashing_an_altered_decision_is_caught_at_the_next_link(client: TestClient, database_url: str) -> None:
    ids = _screen(client, 4)
    engine = make_engine(make_settings(database_url))
    try:
        with tamper(engine) as conn:
            conn.execute(text("UPDATE decision SET data_version = 'forged' WHERE seq = 2"))
        # the forger also recomputes the record's own hash: its link to the next record still breaks
        with Session(engine) as session:
            forged = session.get(Decision, 2)
            assert forged is not None and forged.data_version == "forged"
            new_hash = repository.record_hash(forged)
        with tamper(engine) as conn:
            conn.execute(text("UPDATE decision SET hash = :h WHERE seq = 2"), {"h": new_hash})
        result = repository.verify(engine)
    finally:
        engine.dispose()
    assert not result.ok
    assert (result.first_broken_seq, result.first_broken_id) == (3, ids[2])
    assert result.problem == "prev_hash does not match the previous record's hash"


def test_deleting_the_last_decision_is_detected(
    client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _screen(client, 3)
    engine = make_engine(make_settings(database_url))
    try:
        with tamper(engine) as conn:
            conn.execute(text("DELETE FROM decision WHERE seq = 3"))
        result = repository.verify(engine)
    finally:
        engine.dispose()
    assert not result.ok
    assert result.first_broken_seq == 3
    assert result.checked == 2
    assert result.problem == "chain head does not match the last record (records missing at the end)"
    assert client.get("/v1/decisions/verify").json()["first_broken_seq"] == 3
    # the CLI, in process this time (the altered-record test runs the real command)
    monkeypatch.setenv("CHIPCLASS_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        outcome = CliRunner().invoke(cli, ["decisions", "verify"])
    finally:
        get_settings.cache_clear()
    assert outcome.exit_code == 1, outcome.output
    assert json.loads(outcome.stdout)["first_broken_seq"] == 3


def test_deleting_a_decision_in_the_middle_is_detected(client: TestClient, database_url: str) -> None:
    ids = _screen(client, 4)
    engine = make_engine(make_settings(database_url))
    try:
        with tamper(engine) as conn:
            conn.execute(text("DELETE FROM decision WHERE seq = 2"))
        result = repository.verify(engine)
    finally:
        engine.dispose()
    assert not result.ok
    assert (result.first_broken_seq, result.first_broken_id) == (3, ids[2])
    assert result.problem == "sequence gap: expected 2, found 3"


def _assert_retry_later_and_nothing_stored(client: TestClient, resp: object, database_url: str) -> None:
    from httpx import Response

    assert isinstance(resp, Response)
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert int(resp.headers["Retry-After"]) > 0
    problem = resp.json()
    assert problem["code"] == "database_unavailable"
    assert problem["status"] == 503
    assert "id" not in problem
    engine = make_engine(make_settings(database_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM decision")).scalar_one() == 0
            assert conn.execute(text("SELECT last_seq FROM decision_chain")).scalar_one() == 0
            assert conn.execute(text("SELECT count(*) FROM idempotency_record")).scalar_one() == 0
    finally:
        engine.dispose()
    assert client.get("/v1/decisions").json()["items"] == []


def test_a_failed_decision_write_is_503_with_retry_after_and_stores_nothing(
    client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_append(*_args: object, **_kwargs: object) -> repository.Stored:
        raise exc.OperationalError("INSERT INTO decision ...", {}, Exception("server closed the connection"))

    monkeypatch.setattr(repository, "append_many", failing_append)
    resp = client.post("/v1/screenings", json=SCREENING, headers={"Idempotency-Key": "retry-me"})
    _assert_retry_later_and_nothing_stored(client, resp, database_url)
    monkeypatch.undo()
    # the client's retry with the same key then makes exactly one decision
    retry = client.post("/v1/screenings", json=SCREENING, headers={"Idempotency-Key": "retry-me"})
    assert retry.status_code == 201
    assert client.get(f"/v1/screenings/{retry.json()['id']}").content == retry.content


def test_a_write_blocked_by_the_database_is_503_and_stores_nothing(database_url: str, tmp_path: Path) -> None:
    """A real failure, not a mock: another transaction holds the chain head past our timeout."""
    from app.main import create_app
    from tests.conftest import ADMIN_KEY, wait_ready

    settings = make_settings(database_url, sqlite_busy_timeout_ms=200, db_statement_timeout_ms=300)
    app = create_app(settings)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        blocker = make_engine(make_settings(database_url))
        try:
            with blocker.connect() as conn:
                if database_url.startswith("sqlite"):
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    conn.execute(text("UPDATE decision_chain SET last_seq = last_seq WHERE id = 1"))
                else:
                    conn.execute(text("SELECT * FROM decision_chain WHERE id = 1 FOR UPDATE"))
                resp = c.post("/v1/screenings", json=SCREENING)
                conn.rollback()
        finally:
            blocker.dispose()
        _assert_retry_later_and_nothing_stored(c, resp, database_url)


def test_verifying_while_writers_append_never_reports_a_false_break(engine: Engine, database_url: str) -> None:
    """Verification under live traffic checks the chain up to the head it saw, never a false alarm.

    The overlap is certain, not hoped for: the verifier reads pages of 2 records, and after each
    page it reads (a hook on its engine) a writer appends and commits 3 more before the walk goes on.
    """
    for n in range(5):
        repository.append(engine, draft(n), TTL)
    verifier = make_engine(make_settings(database_url))
    appended: list[int] = []

    def append_three() -> None:  # another thread, another connection: a concurrent writer
        for j in range(3):
            repository.append(engine, draft(100 + len(appended) * 3 + j), TTL)

    @event.listens_for(verifier, "after_cursor_execute")
    def _between_pages(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if (
            statement.lstrip().upper().startswith("SELECT")
            and "FROM decision " in statement + " "
            and len(appended) < 4
        ):
            writer = threading.Thread(target=append_three)
            writer.start()
            writer.join(60)
            appended.append(3)

    try:
        during = repository.verify(verifier, batch=2)
    finally:
        verifier.dispose()
    assert len(appended) >= 2, "no writer appended while the walk ran"
    assert during.ok, during
    assert during.checked >= 5
    final = repository.verify(engine)
    assert final.ok and final.checked == 5 + 3 * len(appended)


def test_a_record_inserted_past_the_chain_head_is_detected(engine: Engine) -> None:
    """A well-formed record (valid hash and link) slipped in with SQL, leaving the head alone."""
    for n in range(3):
        repository.append(engine, draft(n), TTL)
    with Session(engine) as session:
        last = session.get(Decision, 3)
        assert last is not None
        last_hash = last.hash
        forged = Decision(
            **{
                **last.model_dump(),
                "seq": 4,
                "id": str(ULID()),
                "prev_hash": last.hash,
                "response": '{"answer":"forged"}',
            }
        )
        forged.hash = repository.record_hash(forged)
        session.add(forged)
        session.commit()
    result = repository.verify(engine)
    assert result.ok is False
    # the walk stopped at the head: three records checked, the last good one is 3 and its hash
    assert (result.checked, result.last_seq, result.head_hash) == (3, 3, last_hash)
    assert (result.first_broken_seq, result.first_broken_id) == (4, None)
    assert result.problem == "records beyond the chain head (not appended through the log)"


def test_concurrent_http_duplicates_with_one_idempotency_key_make_exactly_one_decision(client: TestClient) -> None:
    answers: list[tuple[int, bytes, str | None]] = []
    lock = threading.Lock()

    def post(_i: int) -> None:
        resp = client.post("/v1/screenings", json=SCREENING, headers={"Idempotency-Key": "dup-1"})
        with lock:
            answers.append((resp.status_code, resp.content, resp.headers.get("Idempotent-Replayed")))

    assert run_threads(6, post) == []
    assert sorted(code for code, _, _ in answers) == [200] * 5 + [201]
    assert len({body for _, body, _ in answers}) == 1
    assert sorted(str(flag) for _, _, flag in answers) == ["None"] + ["true"] * 5
    verification = client.get("/v1/decisions/verify").json()
    assert verification["ok"] and verification["checked"] == 1


def test_a_chain_written_in_one_time_zone_verifies_in_another(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hash covers created_at in UTC: a log written by a server in UTC verifies on one whose
    local time zone is Tokyo's (a replica or an auditor's machine)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        repository.append(engine, draft(1), TTL)
        monkeypatch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        assert repository.verify(engine).ok
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_chain_head_whose_hash_was_changed_is_detected(engine: Engine) -> None:
    """The head row names the last record by sequence and hash: a head pointing at the right sequence
    with another hash no longer matches the chain."""
    for n in range(3):
        repository.append(engine, draft(n), TTL)
    with engine.begin() as conn:
        conn.execute(text("UPDATE decision_chain SET last_hash = :h WHERE id = 1"), {"h": "f" * 64})
    result = repository.verify(engine)
    assert not result.ok
    assert (result.checked, result.last_seq, result.first_broken_seq) == (3, 3, 4)
    assert result.problem == "chain head does not match the last record (records missing at the end)"
