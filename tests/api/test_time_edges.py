"""Answers that depend on today's date (UTC) and on how long ago something happened, tested on
a clock the test moves (time-machine), never on the machine's clock or its speed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from fastapi.testclient import TestClient
from ulid import ULID

from app.main import create_app
from tests.conftest import ADMIN_KEY, ManualClock, make_settings, new_key, wait_ready

H100 = "nvidia-h100-sxm5-80gb"
FUTURE = "in the future"


def screening(**extra: Any) -> dict[str, Any]:
    return {
        "destination": "CN",
        "end_user": {"name": "Buyer"},
        "lines": [{"key": "a", "accelerator_id": H100, "quantity": 1}],
        **extra,
    }


def future_warnings(resp: Any) -> list[str]:
    assert resp.status_code in (200, 201), resp.text
    return [w for w in resp.json()["warnings"] if FUTURE in w]


def test_as_of_today_is_not_warned_about_as_a_future_date(client: TestClient) -> None:
    with time_machine.travel(datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC), tick=False):
        assert future_warnings(client.post("/v1/screenings", json=screening(as_of="2026-03-10"))) == []
        classified = client.post("/v1/classifications", json={"accelerator_id": H100, "as_of": "2026-03-10"})
        assert future_warnings(classified) == []


def test_as_of_tomorrow_is_warned_about_until_midnight_utc(client: TestClient) -> None:
    with time_machine.travel(datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC), tick=False) as clock:
        assert len(future_warnings(client.post("/v1/screenings", json=screening(as_of="2026-03-11")))) == 1
        clock.move_to(datetime(2026, 3, 11, 0, 0, 0, tzinfo=UTC))
        assert future_warnings(client.post("/v1/screenings", json=screening(as_of="2026-03-11"))) == []


def test_a_ruleset_takes_effect_at_midnight_utc_for_answers_without_as_of(client: TestClient) -> None:
    """ac-2023-11-17 replaced ac-2023-01-17 on 17 November 2023 (88 FR 73458)."""

    def rulesets() -> set[str]:
        resp = client.post("/v1/screenings", json=screening())
        assert resp.status_code == 201, resp.text
        return {r["id"] for r in resp.json()["provenance"]["rulesets"]}

    with time_machine.travel(datetime(2023, 11, 16, 23, 59, 59, tzinfo=UTC), tick=False) as clock:
        before = rulesets()
        clock.move_to(datetime(2023, 11, 17, 0, 0, 0, tzinfo=UTC))
        after = rulesets()
    assert "ac-2023-01-17" in before and "ac-2023-11-17" not in before
    assert "ac-2023-11-17" in after and "ac-2023-01-17" not in after


def test_an_idempotency_key_replays_within_its_ttl_and_is_free_again_after_it(client: TestClient) -> None:
    """CHIPCLASS_IDEMPOTENCY_TTL_H is 48 by default: a retry inside it replays, after it a new decision is made
    (and the key may carry a different body), so the table does not grow forever."""
    key = {"Idempotency-Key": "po-2026-0042"}
    start = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        first = client.post("/v1/screenings", json=screening(reference="first"), headers=key)
        assert first.status_code == 201, first.text
        clock.move_to(start + timedelta(hours=47, minutes=59))
        replay = client.post("/v1/screenings", json=screening(reference="first"), headers=key)
        assert (replay.status_code, replay.headers.get("idempotent-replayed")) == (200, "true")
        assert replay.content == first.content
        assert client.post("/v1/screenings", json=screening(reference="other"), headers=key).status_code == 422
        clock.move_to(start + timedelta(hours=48, minutes=1))
        again = client.post("/v1/screenings", json=screening(reference="other"), headers=key)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != first.json()["id"]
    log = client.get("/v1/decisions").json()["items"]
    assert [d["idempotency_key"] for d in log] == ["po-2026-0042", "po-2026-0042"]


def test_a_key_revoked_through_another_replica_stops_working_when_the_key_cache_ttl_ends(
    database_url: str,
) -> None:
    """CHIPCLASS_KEY_CACHE_TTL_S (10 s): the documented bound on how long a revoked key keeps working
    on a replica that did not take the revocation."""
    clock = ManualClock()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(create_app(make_settings(database_url), clock=clock), headers=admin) as a:
        wait_ready(a)
        with TestClient(create_app(make_settings(database_url), clock=clock)) as b:
            wait_ready(b)
            key = new_key(a, "read")
            headers = {"Authorization": f"Bearer {key}"}
            assert b.get("/v1/rulesets", headers=headers).status_code == 200  # cached on b from now on
            assert a.post(f"/v1/keys/{key.split('_')[1]}/revoke").status_code == 200
            assert a.get("/v1/rulesets", headers=headers).status_code == 401  # at once where it was revoked
            clock.advance(4.5)
            assert b.get("/v1/rulesets", headers=headers).status_code == 200  # within the TTL: still cached
            clock.advance(5.5)
            assert b.get("/v1/rulesets", headers=headers).status_code == 401


def test_an_idempotency_key_still_replays_at_exactly_its_ttl(client: TestClient) -> None:
    """A key expires once it is older than CHIPCLASS_IDEMPOTENCY_TTL_H (48 h), not at 48 h itself: a
    retry sent exactly 48 h after the first request is still the same decision."""
    key = {"Idempotency-Key": "po-2026-0043"}
    start = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        first = client.post("/v1/screenings", json=screening(reference="first"), headers=key)
        assert first.status_code == 201, first.text
        clock.move_to(start + timedelta(hours=48))
        replay = client.post("/v1/screenings", json=screening(reference="first"), headers=key)
    assert (replay.status_code, replay.headers.get("idempotent-replayed")) == (200, "true")
    assert replay.content == first.content


def test_a_screening_id_is_a_ulid_carrying_the_millisecond_it_was_made(client: TestClient) -> None:
    """Decision ids sort by time: the ULID's timestamp is the wall-clock millisecond of the request."""
    made_at = datetime(2026, 3, 10, 12, 0, 0, 123000, tzinfo=UTC)
    with time_machine.travel(made_at, tick=False):
        resp = client.post("/v1/screenings", json=screening(reference="ulid"))
    assert resp.status_code == 201, resp.text
    assert ULID.from_str(resp.json()["id"]).datetime == made_at
