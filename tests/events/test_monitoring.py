"""Open orders stay screened: a rule change or a dated change re-screens every open screening
once, a new version is stored only where an outcome changed, and closed ones are left alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import clock
from app.main import create_app
from app.screening import monitoring
from tests.conftest import ADMIN_KEY, make_settings, wait_ready
from tests.events.conftest import FAST, events, eventually, utc_today


def malaysia_rule(ruleset_id: str, effective_from: str) -> dict[str, Any]:
    return {
        "id": ruleset_id,
        "family": "test-malaysia",
        "title": "Test: licence for 3A090.a to Malaysia",
        "effective_from": effective_from,
        "source_kind": "regulation",
        "citations": [{"source": "Test FR citation", "source_kind": "regulation"}],
        "reason": "test: a Malaysia rule",
        "destination_rules": [
            {
                "id": "test-my",
                "label": "3A090.a to MY",
                "citation": "test",
                "items": {"eccns": ["3A090.a"]},
                "destinations": {"countries": ["MY"]},
                "review_policy": "case-by-case",
            }
        ],
    }


def open_screening(client: TestClient, accelerator: str, reference: str, days: int = 30) -> dict[str, Any]:
    body = {
        "destination": "MY",
        "end_user": {"name": "Buyer Sdn Bhd"},
        "reference": reference,
        "open_until": str(utc_today() + timedelta(days=days)),
        "lines": [{"key": "1", "accelerator_id": accelerator, "quantity": 4}],
    }
    resp = client.post("/v1/screenings", json=body)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


def decisions(client: TestClient, kind: str) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        page = client.get("/v1/decisions", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
        items += [d for d in page["items"] if d["kind"] == kind]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@pytest.mark.parametrize(
    "change,pointer",
    [
        pytest.param({"open_until": "2020-01-01"}, "/open_until", id="in the past"),
        pytest.param({"open_until": "2099-01-01"}, "/open_until", id="more than a year ahead"),
        pytest.param({"hypothetical_rulesets": ["ai-diffusion-2025-01-13"]}, "/open_until", id="hypothetical"),
    ],
)
def test_open_until_is_bounded(client: TestClient, change: dict[str, Any], pointer: str) -> None:
    body = {
        "destination": "MY",
        "end_user": {"name": "Buyer"},
        "open_until": str(utc_today() + timedelta(days=10)),
        "lines": [{"key": "1", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": 1}],
        **change,
    }
    resp = client.post("/v1/screenings", json=body)
    assert resp.status_code == 422 and resp.json()["errors"][0]["pointer"] == pointer, resp.text


def test_a_rule_change_re_screens_exactly_the_open_screenings_it_changes(watched: TestClient) -> None:
    controlled = [open_screening(watched, "nvidia-h100-sxm5-80gb", f"PO-{n}")["id"] for n in range(25)]
    untouched = [open_screening(watched, "nvidia-a10-24gb", f"PO-{n + 25}")["id"] for n in range(25)]
    assert len(events(watched, "screening.created")) == 50
    posted = watched.post("/v1/rulesets", json=malaysia_rule("test-my-now", str(utc_today())))
    assert posted.status_code == 201, posted.text
    rule_change = posted.json()["change_id"]

    changed = eventually(
        lambda: (found := events(watched, "screening.outcome_changed")) and len(found) >= 25 and found,
        what="25 outcome_changed events",
    )
    assert sorted(e["subject"] for e in changed) == sorted(controlled)
    for event in changed:
        data = event["data"]
        assert (data["outcome_before"], data["outcome"], data["action"]) == ("clear", "license_required", "hold")
        assert data["lines"] == [{"key": "1", "outcome_before": "clear", "outcome": "license_required"}]
        assert data["cause"]["reference_revision"] > data["cause"]["previous_revision"]
        assert data["cause"]["changes"] == [rule_change]  # the change-log record that caused it
    rescreens = decisions(watched, "rescreening")
    assert sorted(d["response"]["screening_id"] for d in rescreens) == sorted(controlled)
    assert not set(untouched) & {d["response"]["screening_id"] for d in rescreens}

    # the chain of versions, latest first, and the order reference finds both versions
    first = controlled[0]
    history = watched.get(f"/v1/screenings/{first}/versions").json()
    assert [v["version"] for v in history["versions"]] == [2, 1]
    assert history["versions"][0]["screening"]["supersedes"] == first
    assert history["versions"][0]["screening"]["outcome"] == "license_required"
    assert history["monitor"]["status"] == "open" and history["monitor"]["version"] == 2
    found = watched.get("/v1/screenings", params={"reference": "PO-0"}).json()["items"]
    assert [(s["version"], s["outcome"]) for s in found] == [(2, "license_required"), (1, "clear")]
    # the first version is still served byte for byte, and points at its successor
    original = watched.get(f"/v1/screenings/{first}")
    assert original.json()["outcome"] == "clear"
    assert original.headers["chipclass-latest-version"] == history["versions"][0]["decision_id"]
    assert original.headers["link"] == f'</v1/screenings/{first}/versions>; rel="version-history"'
    # nothing more happens for the same change
    assert len(events(watched, "screening.outcome_changed")) == 25
    assert watched.get("/v1/decisions/verify").json()["ok"] is True


def test_a_closed_screening_is_never_re_screened(watched: TestClient) -> None:
    closed = open_screening(watched, "nvidia-h100-sxm5-80gb", "PO-closed")["id"]
    kept = open_screening(watched, "nvidia-h100-sxm5-80gb", "PO-kept")["id"]
    resp = watched.post(f"/v1/screenings/{closed}/close", json={"status": "shipped", "reason": "AWB 176-1"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["monitor"]["status"] == "shipped"
    again = watched.post(f"/v1/screenings/{closed}/close", json={"status": "cancelled", "reason": "twice"})
    assert again.status_code == 409
    assert watched.post("/v1/rulesets", json=malaysia_rule("test-my-now", str(utc_today()))).status_code == 201
    eventually(lambda: events(watched, "screening.outcome_changed"), what="the open one re-screened")
    assert [e["subject"] for e in events(watched, "screening.outcome_changed")] == [kept]
    closing = events(watched, "screening.closed")
    assert [(e["subject"], e["data"]["status"], e["data"]["reason"]) for e in closing] == [
        (closed, "shipped", "AWB 176-1")
    ]
    assert [d["request"]["screening_id"] for d in decisions(watched, "closure")] == [closed]
    assert watched.get(f"/v1/screenings/{closed}/versions").json()["versions"][0]["version"] == 1


def test_a_dated_change_re_screens_when_its_day_arrives_without_a_request(
    watched: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = utc_today()
    tomorrow = today + timedelta(days=1)
    screening_id = open_screening(watched, "nvidia-h100-sxm5-80gb", "PO-dated")["id"]
    assert watched.post("/v1/rulesets", json=malaysia_rule("test-my-tomorrow", str(tomorrow))).status_code == 201
    # the change is known but not in force: the re-screen after it changes nothing
    eventually(
        lambda: watched.get(f"/v1/screenings/{screening_id}/versions").json()["monitor"] is not None,
        what="monitor",
    )
    assert not events(watched, "screening.outcome_changed")
    monkeypatch.setattr(clock, "today", lambda: tomorrow)  # midnight UTC passes
    changed = eventually(lambda: events(watched, "screening.outcome_changed"), what="re-screened on the new day")
    assert changed[0]["subject"] == screening_id
    assert changed[0]["data"]["cause"]["on"] == str(tomorrow)
    assert "test-my-tomorrow" in changed[0]["data"]["cause"]["taking_effect"]


def test_two_replicas_re_screen_each_open_screening_once(database_url: str) -> None:
    settings = make_settings(database_url, **FAST)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    apps = [create_app(settings), create_app(settings)]
    with (
        TestClient(apps[0], headers=headers) as one,
        TestClient(apps[1], headers=headers) as two,
    ):
        wait_ready(one)
        wait_ready(two)
        ids = [open_screening(one if n % 2 else two, "nvidia-h100-sxm5-80gb", f"PO-r{n}")["id"] for n in range(20)]
        assert one.post("/v1/rulesets", json=malaysia_rule("test-my-now", str(utc_today()))).status_code == 201
        eventually(lambda: len(events(one, "screening.outcome_changed")) >= 20, what="20 re-screenings")
        # every monitor records the new revision: a sweep by either replica finds nothing left to claim
        for app in apps:
            eventually(lambda app=app: app.state.store.current.revision == apps[0].state.store.current.revision)
            left = monitoring.sweep(app.state.engine, app.state.store.current, utc_today(), timedelta(hours=48))
            assert left.checked == 0
        rescreens = decisions(one, "rescreening")
        assert sorted(d["response"]["screening_id"] for d in rescreens) == sorted(ids)
        assert len(events(two, "screening.outcome_changed")) == 20


def test_every_reference_change_is_an_event_and_a_refused_one_is_not(watched: TestClient) -> None:
    before = events(watched, "reference.changed")
    assert watched.post("/v1/rulesets", json=malaysia_rule("test-my-now", str(utc_today()))).status_code == 201
    refused = watched.post("/v1/rulesets", json=malaysia_rule("test-my-now", str(utc_today())))
    assert refused.status_code == 409  # nothing stored, so nothing announced
    change = {
        "group": "D:5",
        "country": "TH",
        "action": "add",
        "effective": str(utc_today() + timedelta(days=30)),
        "citation": {"source": "Test FR citation", "source_kind": "regulation"},
        "reason": "test: Thailand into D:5",
    }
    assert watched.post("/v1/country-group-changes", json=change).status_code == 201, "group change"
    after = events(watched, "reference.changed")[len(before) :]
    assert [(e["data"]["kind"], e["data"]["subjects"]) for e in after] == [
        ("ruleset", ["test-my-now"]),
        ("country_group_change", ["D:5:TH:add"]),
    ]
    assert after[0]["data"]["revision"] < after[1]["data"]["revision"]
    # each names its change-log record and carries what it changes (the impact summary)
    logged = watched.get("/v1/changes", params={"limit": "2"}).json()["items"]
    assert [e["data"]["change_ids"] for e in after] == [[logged[1]["id"]], [logged[0]["id"]]]
    ruleset_impact = after[0]["data"]["impact"]
    assert ruleset_impact["on"] == str(utc_today()) and ruleset_impact["differences"] > 0
    assert any(
        line.startswith("nvidia-h100-sxm5-80gb (headquartered locally) MY: ") for line in ruleset_impact["summary"]
    )
    assert all(" MY: " in line for line in ruleset_impact["summary"] if "headquartered locally" in line)
    group_impact = after[1]["data"]["impact"]
    assert group_impact["on"] == change["effective"] and group_impact["differences"] > 0
    assert any(" TH: " in line for line in group_impact["summary"])


def test_closing_a_screening_that_was_never_kept_open_is_a_conflict_not_a_missing_resource(
    watched: TestClient,
) -> None:
    """The screening exists (GET finds it), so closing it must not claim it does not: 409, and
    an id nobody stored stays 404."""
    body = {
        "destination": "SG",
        "end_user": {"name": "Buyer Pte"},
        "lines": [{"key": "1", "accelerator_id": "nvidia-l40-48gb", "quantity": 1}],
    }
    created = watched.post("/v1/screenings", json=body)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert watched.get(f"/v1/screenings/{sid}").status_code == 200
    resp = watched.post(f"/v1/screenings/{sid}/close", json={"status": "shipped", "reason": "AWB 1"})
    assert resp.status_code == 409, resp.text
    assert "not kept open" in resp.json()["detail"]
    missing = watched.post("/v1/screenings/01M8RKT5GDE3RY36FE7SB84WFE/close", json={"status": "shipped", "reason": "x"})
    assert missing.status_code == 404
