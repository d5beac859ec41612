"""The order desk's story, end to end: an H20 order to China screened on 2025-04-08 and kept open,
the 2025-04-09 bandwidth-letters ruleset posted, the superseding decision, and the
``screening.outcome_changed`` event as a real receiver process got it, its signature verified by the
``standardwebhooks`` package. Run with ``-s`` to print the transcript."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from app import migrate
from app.config import Settings
from app.db import make_engine
from app.main import create_app
from app.regulations import loader, service
from tests.conftest import ADMIN_KEY, make_settings, wait_ready
from tests.e2e.conftest import free_port
from tests.events.conftest import FAST, eventually, utc_today

LETTERS = "bandwidth-letters-2025-04-09"
RECEIVER = Path(__file__).parents[1] / "e2e" / "webhook_receiver.py"


@pytest.fixture
def before_the_letters(empty_database_url: str) -> Iterator[TestClient]:
    """The service as it stood on 2025-04-08: every shipped ruleset but the bandwidth letters."""
    migrate.upgrade(empty_database_url)
    files = loader.read_reference_files()
    engine = make_engine(Settings(database_url=empty_database_url))
    service.seed(engine, replace(files, rulesets=[r for r in files.rulesets if r.id != LETTERS]))
    engine.dispose()
    settings = make_settings(empty_database_url, **FAST, seed_on_start=False, webhook_allow_private=True)
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        wait_ready(c)
        yield c


def show(title: str, value: Any) -> None:
    print(f"\n### {title}\n{json.dumps(value, indent=2) if not isinstance(value, str) else value}")


def test_an_open_h20_order_is_superseded_when_the_letters_arrive(
    before_the_letters: TestClient, tmp_path: Path
) -> None:
    c = before_the_letters
    port = free_port()
    sub = c.post(
        "/v1/webhooks",
        json={"url": f"http://127.0.0.1:{port}/erp", "event_types": ["screening.outcome_changed"]},
    ).json()
    out = tmp_path / "received.jsonl"
    receiver = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--port", str(port), "--secret", sub["secret"], "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        order = {
            "destination": "CN",
            "end_user": {"name": "Example Cloud (Shanghai) Co., Ltd"},
            "reference": "PO-2025-0408-H20",
            "as_of": "2025-04-08",
            "open_until": str(utc_today() + timedelta(days=30)),
            "lines": [{"key": "1", "accelerator_id": "nvidia-h20-96gb", "quantity": 64}],
        }
        first = c.post("/v1/screenings", json=order)
        assert first.status_code == 201, first.text
        screened = first.json()
        line = screened["lines"][0]
        assert (screened["outcome"], screened["action"], line["license_required"]) == ("clear", "release", False)
        show(
            "1. POST /v1/screenings (H20 to CN as of 2025-04-08, open)",
            {k: screened[k] for k in ("id", "reference", "outcome", "action", "open_until")}
            | {"lines": [{k: line[k] for k in ("key", "accelerator_id", "outcome", "action", "license_required")}]},
        )

        letters = next(r for r in loader.read_reference_files().rulesets if r.id == LETTERS)
        document = letters.model_dump(mode="json", exclude_none=True)
        # effective before today: the change says so, and why
        document |= {"reason": "USG letters of 2025-04-09 (8-K of 2025-04-15)", "retroactive": True}
        posted = c.post("/v1/rulesets", json=document)
        assert posted.status_code == 201, posted.text
        show("2. POST /v1/rulesets (the 2025-04-09 letters)", f"{posted.status_code} {LETTERS}")

        history = eventually(
            lambda: (
                (h := c.get(f"/v1/screenings/{screened['id']}/versions").json())["versions"][0]["version"] == 2 and h
            ),
            what="the superseding decision",
        )
        latest = history["versions"][0]["screening"]
        new_line = latest["lines"][0]
        assert latest["supersedes"] == screened["id"] and latest["outcome"] == "license_required"
        assert [r["rule_id"] for r in new_line["reasons"]] == ["bandwidth-letter-2025"]
        show(
            "3. GET /v1/screenings/{id}/versions (latest first)",
            {
                "screening_id": history["screening_id"],
                "monitor": history["monitor"],
                "versions": [
                    {
                        "decision_id": v["decision_id"],
                        "version": v["version"],
                        "outcome": v["outcome"],
                        "supersedes": v["screening"]["supersedes"],
                        "cause": v["screening"]["cause"],
                        "reasons": [r["rule_id"] for r in v["screening"]["lines"][0]["reasons"]],
                    }
                    for v in history["versions"]
                ],
            },
        )

        got = eventually(
            lambda: out.exists() and [json.loads(x) for x in out.read_text().splitlines()], what="the delivery"
        )
        delivery = got[0]
        assert delivery["verified"] is True
        event = json.loads(delivery["body"])
        assert event["type"] == "screening.outcome_changed" and event["data"]["outcome"] == "license_required"
        assert delivery["headers"]["webhook-id"] == event["id"]
        show(
            "4. The delivery as the receiver got it",
            {
                "headers": {k: v for k, v in delivery["headers"].items() if k.startswith("webhook-")},
                "body": event,
            },
        )
        verified = Webhook(sub["secret"]).verify(delivery["body"], delivery["headers"])
        show("5. standardwebhooks.Webhook(secret).verify(body, headers)", f"verified: payload type {verified['type']}")
    finally:
        receiver.kill()
        receiver.wait(10)
