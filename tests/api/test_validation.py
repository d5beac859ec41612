"""Fail closed: a reference document the engine cannot use as sent is 422 naming the field and the
allowed values, and nothing is stored (no row, no change record, no new revision); a document
effective before today is refused unless it says so, and then its impact is returned."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.regulations import loader

FILES = loader.read_reference_files()


def ruleset(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "test-vn-2027-01-01",
        "family": "test-vietnam",
        "title": "Test: licence for 3A090 items to Viet Nam",
        "effective_from": "2027-01-01",
        "source_kind": "regulation",
        "citations": [{"source": "Test FR citation", "source_kind": "regulation"}],
        "classification": {
            "clauses": [{"id": "c1", "eccn": "3A090.a", "text": "TPP of 4800 or more", "all": [["tpp", ">=", "4800"]]}]
        },
        "destination_rules": [
            {
                "id": "test-vn",
                "label": "3A090 to VN",
                "citation": "test",
                "items": {"eccns": ["3A090.a"]},
                "destinations": {"groups": ["D:1"], "countries": ["VN"]},
                "review_policy": "presumption of denial",
                "exceptions": [
                    {
                        "code": "NAC",
                        "name": "Notified Advanced Computing",
                        "citation": "15 CFR 740.8",
                        "notification_required": True,
                        "eligible": {"eccns": ["3A090.b"]},
                    }
                ],
            }
        ],
        "reason": "test: a rule published today",
    }
    doc.update(overrides)
    return doc


def _edit(path: str, value: Any) -> dict[str, Any]:
    doc = ruleset()
    node: Any = doc
    parts = [int(p) if p.isdigit() else p for p in path.strip("/").split("/")]
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
    return copy.deepcopy(doc)


def _stored_nothing(client: TestClient, revision_before: str, changes_before: int) -> None:
    assert client.get("/v1/rulesets/test-vn-2027-01-01").status_code == 404
    assert client.get("/v1/rulesets").json()["data_version"] == revision_before
    assert len(client.get("/v1/changes", params={"limit": 200}).json()["items"]) == changes_before


@pytest.mark.parametrize(
    ("path", "value", "pointer", "allowed"),
    [
        ("/destination_rules/0/review_policy", "presumption of denyal", None, "'presumption of denial'"),
        ("/destination_rules/0/destinations/groups/0", "D:9", None, "'D:5'"),
        ("/destination_rules/0/destinations/countries/0", "XX", None, "ISO 3166-1"),
        ("/destination_rules/0/items/eccns/0", "3A090.z", None, "'3A090.a'"),
        ("/destination_rules/0/exceptions/0/code", "NACK", None, "'NAC'"),
        ("/classification/clauses/0/eccn", "3A091.a", None, "'3A090.b'"),
        ("/classification/clauses/0/all/0/0", "tpx", "/classification/clauses/0/all/0", "'tpp'"),
        ("/classification/clauses/0/all/0/1", "=>", "/classification/clauses/0/all/0", "'>='"),
        ("/classification/clauses/0/all/0/2", "-4800", "/classification/clauses/0/all/0/2", "greater than 0"),
        ("/classification/clauses/0/all/0/2", "999999999999", "/classification/clauses/0/all/0/2", "plausible"),
        ("/classification/clauses/0/all", [["tpp", ">=", "5"], ["tpp", "<", "1"]], None, "never all hold"),
        ("/effective_from", "9999-12-31", None, "sane window"),
        ("/source_kind", "rumour", None, "'regulation'"),
    ],
    ids=[
        "policy-typo",
        "unknown-group",
        "unknown-country",
        "unknown-eccn",
        "unknown-exception",
        "clause-eccn",
        "unknown-metric",
        "bad-operator",
        "negative-threshold",
        "implausible-threshold",
        "unsatisfiable",
        "year-9999",
        "source-kind",
    ],
)
def test_a_bad_ruleset_is_422_naming_the_field_and_allowed_values_and_stores_nothing(
    client: TestClient, path: str, value: Any, pointer: str | None, allowed: str
) -> None:
    version = client.get("/v1/rulesets").json()["data_version"]
    changes = len(client.get("/v1/changes", params={"limit": 200}).json()["items"])
    resp = client.post("/v1/rulesets", json=_edit(path, value))
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert resp.headers["content-type"] == "application/problem+json"
    want = pointer or path
    assert any(e["pointer"].startswith(want) and allowed in e["detail"] for e in body["errors"]), body
    _stored_nothing(client, version, changes)


def test_a_retroactive_ruleset_is_refused_without_acknowledgement_then_recorded_with_its_impact(
    client: TestClient,
) -> None:
    # the latest advanced-computing rule superseded from 2025-03-01 by one without destination
    # rules would flip H100 to China on that day to "no licence": history rewritten, so explicit
    latest = max((d for d in FILES.rulesets if d.family == "advanced-computing"), key=lambda d: d.effective_from)
    old = latest.model_dump(mode="json", exclude_none=True)
    old.pop("effective_to", None)
    doc = {
        **old,
        "id": "ac-2025-03-01",
        "effective_from": "2025-03-01",
        "supersedes": latest.id,
        "destination_rules": [],
        "reason": "test: a correction back-dated to 2025-03-01",
    }
    version = client.get("/v1/rulesets").json()["data_version"]
    changes = len(client.get("/v1/changes", params={"limit": 200}).json()["items"])
    refused = client.post("/v1/rulesets", json=doc)
    assert refused.status_code == 422 and refused.json()["code"] == "retroactive_change"
    assert refused.json()["errors"][0]["pointer"] == "/effective_from"
    assert client.get("/v1/rulesets/ac-2025-03-01").status_code == 404
    assert client.get("/v1/rulesets").json()["data_version"] == version
    assert len(client.get("/v1/changes", params={"limit": 200}).json()["items"]) == changes

    accepted = client.post("/v1/rulesets", json={**doc, "retroactive": True})
    assert accepted.status_code == 201, accepted.text
    impact = accepted.json()["impact"]
    assert impact["before_on"] == "2025-03-01"
    h100 = next(
        d
        for d in impact["differences"]
        if d["accelerator_id"] == "nvidia-h100-sxm5-80gb"
        and d["profile"] == "headquartered locally"
        and "CN" in d["destinations"]
    )
    assert {"CN", "HK", "MO"} <= set(h100["destinations"]) and "licence no longer required" in h100["summary"]
    assert "RU" not in h100["destinations"]  # part 746 still requires one
    newest = client.get("/v1/changes", params={"limit": 1}).json()["items"][0]
    assert (newest["id"], newest["retroactive"]) == (accepted.json()["change_id"], True)


def test_a_retroactive_group_change_needs_the_flag_and_then_returns_what_it_changed(client: TestClient) -> None:
    change = {
        "group": "D:5",
        "country": "TH",
        "action": "add",
        "effective": "2025-06-01",
        "citation": {"source": "Test rule", "source_kind": "regulation"},
        "reason": "test: back-dated correction",
    }
    refused = client.post("/v1/country-group-changes", json=change)
    assert refused.status_code == 422 and refused.json()["code"] == "retroactive_change"
    assert (
        refused.json()["errors"] == [{"pointer": "/effective", "detail": refused.json()["errors"][0]["detail"]}]
        and "retroactive: true" in refused.json()["errors"][0]["detail"]
    )
    accepted = client.post("/v1/country-group-changes", json={**change, "retroactive": True})
    assert accepted.status_code == 201, accepted.text
    body = accepted.json()
    newest = client.get("/v1/changes", params={"limit": 1}).json()["items"][0]
    assert body["change_id"] == newest["id"] and newest["retroactive"] is True
    h100 = [d for d in body["impact"]["differences"] if d["accelerator_id"] == "nvidia-h100-sxm5-80gb"]
    local = next(d for d in h100 if d["profile"] == "headquartered locally")
    assert local["destinations"] == ["TH"] and local["summary"].startswith("TH: licence now required")


@pytest.mark.parametrize(
    ("edit", "pointer", "text"),
    [
        ({"group": "D:9"}, "/group", "'D:5'"),
        ({"country": "XX"}, "/country", "ISO 3166-1"),
        ({"effective": "9999-01-01"}, "/effective", "sane window"),
        ({"action": "remove", "country": "FR"}, "/action", "not in D:5"),
    ],
)
def test_a_bad_group_change_is_422_naming_the_field(
    client: TestClient, edit: dict[str, str], pointer: str, text: str
) -> None:
    change = {
        "group": "D:5",
        "country": "TH",
        "action": "add",
        "effective": "2027-06-01",
        "citation": {"source": "Test rule", "source_kind": "regulation"},
        "reason": "test",
        **edit,
    }
    resp = client.post("/v1/country-group-changes", json=change)
    assert resp.status_code == 422, resp.text
    assert any(e["pointer"] == pointer and text in e["detail"] for e in resp.json()["errors"]), resp.json()
    assert "TH" not in [c["country"] for c in client.get("/v1/country-group-changes").json()["items"]]


@pytest.mark.parametrize("value", ["0", "86400", "2026-12-01T00:00:00", "20261201", "2026-1-1"])
@pytest.mark.parametrize("param", ["since", "until"])
def test_change_log_dates_are_yyyy_mm_dd_never_a_timestamp(client: TestClient, param: str, value: str) -> None:
    """The spec says format date; pydantic alone read `until=0` as 1970-01-01 (schemathesis ST201)."""
    resp = client.get("/v1/changes", params={param: value})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["pointer"] == f"/query/{param}" or param in resp.text


def test_change_log_dates_in_the_documented_form_are_accepted(client: TestClient) -> None:
    resp = client.get("/v1/changes", params={"since": "2020-01-01", "until": "2100-12-31"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["items"]
