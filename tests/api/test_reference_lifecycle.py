"""Reference data over time: a new release of the shipped files corrects a ruleset a decision used
while keeping the text that decision was answered on, and a replica whose reload fails keeps
answering on the rules it has."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.db import normalize_url
from app.main import create_app
from app.regulations import loader
from tests.conftest import ADMIN_KEY, make_settings, wait_ready

H100 = "nvidia-h100-sxm5-80gb"
SCREENING = {
    "destination": "CN",
    "end_user": {"name": "Buyer"},
    "lines": [{"key": "a", "accelerator_id": H100, "quantity": 1}],
    "as_of": "2023-12-01",  # under ac-2023-11-17 only
}
USED, UNUSED = "ac-2023-11-17", "ac-2022-10-07"


def release_with_new_titles(tmp_path: Path, *ruleset_ids: str) -> loader.ReferenceFiles:
    """The shipped data as a later release would ship it: the named rulesets' titles edited."""
    data = tmp_path / "data"
    shutil.copytree(loader.DATA_DIR, data)
    path = data / "rulesets.yaml"
    text_ = path.read_text()
    for ruleset_id in ruleset_ids:
        head, sep, tail = text_.partition(f"- id: {ruleset_id}\n")
        assert sep, ruleset_id
        before, title, after = tail.partition("    title: ")
        text_ = head + sep + before + title + '"Edited in a later release: ' + after.lstrip('"')
    path.write_text(text_)
    return loader.read_reference_files(data)


def test_seeding_a_new_release_corrects_a_used_ruleset_keeping_the_text_decisions_used(
    client: TestClient, database_url: str, tmp_path: Path
) -> None:
    from app.db import make_engine
    from app.regulations import service

    made = client.post("/v1/screenings", json=SCREENING)
    assert made.status_code == 201, made.text
    assert USED in [r["id"] for r in made.json()["provenance"]["rulesets"]]
    used_before = client.get(f"/v1/rulesets/{USED}").json()
    assert client.get(f"/v1/rulesets/{USED}/revisions").json()["items"] == []

    engine = make_engine(make_settings(database_url))
    try:
        release = release_with_new_titles(tmp_path, USED, UNUSED)
        report = service.seed(engine, release)
    finally:
        engine.dispose()
    assert report.rulesets_corrected == [USED]
    assert report.rulesets_updated == [UNUSED]

    deadline = time.monotonic() + 30  # the app reloads on its poll
    while client.get(f"/v1/rulesets/{USED}").json()["title"].startswith("Advanced") and time.monotonic() < deadline:
        time.sleep(0.02)
    # the correction answers from now on, for every date
    assert client.get(f"/v1/rulesets/{USED}").json()["title"].startswith("Edited in a later release")
    assert client.get(f"/v1/rulesets/{UNUSED}").json()["title"].startswith("Edited in a later release")
    # the text the decision was answered on is kept, with when it was replaced and by which release
    (revision,) = client.get(f"/v1/rulesets/{USED}/revisions").json()["items"]
    assert revision["document"]["title"] == used_before["title"]
    # the release's data version: derived from its content, so not the shipped one
    assert revision["replaced_in"] == release.version != loader.read_reference_files().version
    when = [datetime.fromisoformat(t) for t in (revision["stored_at"], revision["replaced_at"])]
    assert when[0] <= datetime.fromisoformat(made.json()["provenance"]["evaluated_at"]) <= when[1]
    # an unused ruleset is simply updated: nothing to keep
    assert client.get(f"/v1/rulesets/{UNUSED}/revisions").json()["items"] == []
    # the decision still reads exactly as it was returned
    assert client.get(f"/v1/screenings/{made.json()['id']}").content == made.content


def test_revisions_of_an_unknown_ruleset_are_a_404(client: TestClient) -> None:
    resp = client.get("/v1/rulesets/no-such-ruleset/revisions")
    assert resp.status_code == 404
    assert resp.json()["code"] == "unknown_ruleset"


class _Seen(logging.Handler):
    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.event.set()


@pytest.fixture
def polling_client(database_url: str) -> Iterator[TestClient]:
    app = create_app(make_settings(database_url, reload_interval_s=0.05))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        yield c


def test_a_replica_whose_reload_fails_keeps_answering_on_its_rules_and_recovers(
    polling_client: TestClient, database_url: str
) -> None:
    client = polling_client
    version = client.post("/v1/classifications", json={"accelerator_id": H100}).json()["data_version"]
    seen = _Seen("reload failed")
    logging.getLogger("chipclass").addHandler(seen)
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.begin() as conn:  # another replica (or a hand edit) stores a document that cannot load
            good = conn.execute(text("SELECT document FROM ruleset WHERE id = :id"), {"id": UNUSED}).scalar_one()
            conn.execute(text("UPDATE ruleset SET document = '{}' WHERE id = :id"), {"id": UNUSED})
            conn.execute(text("UPDATE reference_state SET revision = revision + 1 WHERE id = 1"))
        assert seen.event.wait(30), "the replica never tried to reload"
        answer = client.post("/v1/classifications", json={"accelerator_id": H100})
        assert answer.status_code == 200 and answer.json()["data_version"] == version
        assert client.post("/v1/screenings", json=SCREENING).status_code == 201

        with engine.begin() as conn:
            conn.execute(
                text("UPDATE ruleset SET document = :doc WHERE id = :id"),
                {"doc": good if isinstance(good, str) else json.dumps(good), "id": UNUSED},
            )
            conn.execute(text("UPDATE reference_state SET revision = revision + 1 WHERE id = 1"))
        deadline = time.monotonic() + 30
        while client.get("/readyz").json().get("data_version") == version and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/readyz").json()["data_version"] != version
    finally:
        logging.getLogger("chipclass").removeHandler(seen)
        engine.dispose()
