"""Which rulesets a decision used is a table (decision_ruleset), written with the decision and
backfilled by its migration: "did any decision use ruleset X" reads an index, not JSON text."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import migrate
from app.db import make_engine, normalize_url
from app.decisions.service import ruleset_used
from app.regulations.loader import read_reference_files
from tests.conftest import make_settings
from tests.db.test_decision_chain import SCREENING


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(make_settings(database_url))
    yield engine
    engine.dispose()


def _links(engine: Engine) -> set[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT decision_seq, ruleset_id FROM decision_ruleset"))
        return {(int(seq), str(ruleset)) for seq, ruleset in rows}


def test_a_stored_screening_links_every_ruleset_it_used(client: TestClient, engine: Engine) -> None:
    resp = client.post("/v1/screenings", json=SCREENING)
    assert resp.status_code == 201, resp.text
    used = [r["id"] for r in resp.json()["provenance"]["rulesets"]]
    assert used
    assert _links(engine) == {(1, r) for r in used}
    with Session(engine) as session:
        assert all(ruleset_used(session, r) for r in used)
        unused = [r.id for r in read_reference_files().rulesets if r.id not in used]
        assert unused and not any(ruleset_used(session, r) for r in unused)


def test_a_ruleset_id_inside_other_text_is_not_a_use(client: TestClient, engine: Engine) -> None:
    """The old LIKE '%"id"%' search matched any JSON string equal to the id; the link table does not."""
    with Session(engine) as session:
        assert not ruleset_used(session, "")
        assert not ruleset_used(session, "%")


def test_the_migration_backfills_links_for_decisions_stored_before_it(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0004")
    engine = create_engine(normalize_url(url))
    rows = [(1, ["us-3a090-2023-10-17", "us-742-6-2025"]), (2, []), (3, ["us-3a090-2023-10-17"])]
    try:
        with engine.begin() as conn:
            for seq, rulesets in rows:
                conn.execute(
                    text(
                        "INSERT INTO decision (seq, id, kind, created_at, request_id, request_hash, request, response,"
                        " rulesets, data_version, prev_hash, hash) VALUES (:seq, :id, 'screening', CURRENT_TIMESTAMP,"
                        " 'r', 'h', '{}', '{}', :rulesets, 'v', 'p', 'h')"
                    ),
                    {"seq": seq, "id": f"{seq:026d}", "rulesets": json.dumps(rulesets)},
                )
        migrate.upgrade(url)
        assert _links(engine) == {(1, "us-3a090-2023-10-17"), (1, "us-742-6-2025"), (3, "us-3a090-2023-10-17")}
    finally:
        engine.dispose()
