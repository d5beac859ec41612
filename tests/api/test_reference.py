"""Catalog, countries and rulesets: browsing, ETags, and admin changes without a restart."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.impact import service as impact


def test_catalog_holds_at_least_55_accelerators_each_figure_citing_a_source(client: TestClient) -> None:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get("/v1/accelerators", params={"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(items) >= 55
    assert len({i["id"] for i in items}) == len(items)
    assert {i["vendor"] for i in items} >= {"NVIDIA", "AMD", "Intel", "Huawei", "Google", "AWS", "Cerebras"}
    for item in items:
        figures = [item["die_area_mm2"], item["memory_bandwidth_gbps"], item["interconnect_bandwidth_gbps"]]
        cited = {t["source"] for t in item["throughput"]} | {f["source"] for f in figures if f}
        assert cited <= set(item["sources"]), item["id"]


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"q": "h100 sxm"}, {"nvidia-h100-sxm5-80gb"}),
        ({"q": "4090"}, {"nvidia-geforce-rtx-4090", "nvidia-geforce-rtx-4090-d"}),
        ({"vendor": "huawei"}, {"huawei-ascend-910", "huawei-ascend-910b", "huawei-ascend-910c"}),
    ],
)
def test_catalog_search_and_filters(client: TestClient, params: dict[str, str], expected: set[str]) -> None:
    assert {i["id"] for i in client.get("/v1/accelerators", params=params).json()["items"]} == expected


def test_datacenter_filter(client: TestClient) -> None:
    consumer = client.get("/v1/accelerators", params={"datacenter": "false", "limit": 200}).json()["items"]
    assert consumer and all(not i["datacenter"] for i in consumer)


def test_bad_cursor_and_page_size_are_422(client: TestClient) -> None:
    assert client.get("/v1/accelerators", params={"cursor": "%%%"}).status_code == 422
    assert client.get("/v1/accelerators", params={"limit": 201}).status_code == 422


@pytest.mark.parametrize("path", ["/v1/accelerators", "/v1/rulesets", "/v1/countries", "/v1/countries/CN"])
def test_reference_data_has_etag_and_304(client: TestClient, path: str) -> None:
    first = client.get(path)
    etag = first.headers["etag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_country_groups_on_a_date(client: TestClient) -> None:
    kh_before = client.get("/v1/countries/KH", params={"as_of": "2026-02-02"}).json()
    kh_after = client.get("/v1/countries/KH", params={"as_of": "2026-02-03"}).json()
    assert "D:5" in kh_before["groups"] and "D:5" not in kh_after["groups"] and "D:1" in kh_after["groups"]
    hk = client.get("/v1/countries/hk").json()
    assert hk["name"] == "Hong Kong" and hk["treated_as"] == "CN" and "D:5" in hk["groups"]
    il = client.get("/v1/countries/IL").json()
    assert {"D:4", "A:6"} <= set(il["groups"])
    assert client.get("/v1/countries/ZZ").json()["code"] == "unknown_country"
    d5 = {c["code"] for c in client.get("/v1/countries", params={"group": "D:5"}).json()["items"]}
    assert {"CN", "RU", "IR", "MO"} - d5 == {"MO"} and "HK" in d5


def test_rulesets_list_every_version_with_citations(client: TestClient) -> None:
    items = client.get("/v1/rulesets").json()["items"]
    ids = [r["id"] for r in items]
    # sorted by effective date: the part 746 embargoes modelled from 1996, then the 2022 letters and rule
    assert ids.index("company-letters-2022-08-26") < ids.index("ac-2022-10-07")
    assert ids[0].startswith("embargo-")
    diffusion = next(r for r in items if r["id"] == "ai-diffusion-2025-01-13")
    assert diffusion["enforced"] is False and diffusion["in_force_today"] is False
    detail = client.get("/v1/rulesets/ac-2023-11-17").json()
    assert detail["citations"][0]["source"].startswith("88 FR 73458")
    assert {c["id"] for c in detail["classification"]["clauses"]} == {
        "3A090.a.1",
        "3A090.a.2",
        "3A090.b.1",
        "3A090.b.2",
    }
    assert client.get("/v1/rulesets/nope").json()["code"] == "unknown_ruleset"


def new_ruleset(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "test-my-2027-01-01",
        "family": "test-malaysia",
        "title": "Test: licence for 3A090.a to Malaysia",
        "effective_from": "2027-01-01",
        "source_kind": "regulation",
        "citations": [{"source": "Test FR citation", "source_kind": "regulation"}],
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
        "reason": "test: a Malaysia rule published today",
    }
    doc.update(overrides)
    return doc


def screen_my(client: TestClient, as_of: str) -> dict[str, Any]:
    body = {
        "destination": "MY",
        "end_user": {"name": "Buyer"},
        "lines": [{"key": "1", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": 1}],
        "as_of": as_of,
    }
    resp = client.post("/v1/screenings", json=body)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


def test_added_ruleset_applies_from_its_date_without_restart(client: TestClient) -> None:
    assert screen_my(client, "2027-01-01")["license_required"] is False
    created = client.post("/v1/rulesets", json=new_ruleset())
    assert created.status_code == 201, created.text
    assert screen_my(client, "2026-12-31")["license_required"] is False
    after = screen_my(client, "2027-01-01")
    assert after["license_required"] is True
    assert after["lines"][0]["reasons"][0]["rule_id"] == "test-my"


def test_superseding_ends_the_older_ruleset_without_editing_it(client: TestClient) -> None:
    assert client.post("/v1/rulesets", json=new_ruleset()).status_code == 201
    overlapping = client.post("/v1/rulesets", json=new_ruleset(id="test-my-2027-06-01", effective_from="2027-06-01"))
    assert overlapping.status_code == 422 and "overlaps" in overlapping.json()["detail"]
    newer = new_ruleset(id="test-my-2027-06-01", effective_from="2027-06-01", supersedes="test-my-2027-01-01")
    newer["destination_rules"][0]["destinations"] = {"countries": ["TH"]}
    assert client.post("/v1/rulesets", json=newer).status_code == 201
    old = client.get("/v1/rulesets/test-my-2027-01-01").json()
    assert old["effective_to"] is None and old["effective_to_derived"] == "2027-06-01"
    assert old["superseded_by"] == "test-my-2027-06-01"
    assert screen_my(client, "2027-05-31")["license_required"] is True
    assert screen_my(client, "2027-06-01")["license_required"] is False


@pytest.mark.parametrize(
    "overrides,status,code",
    [
        ({"citations": []}, 422, "validation_error"),
        ({"effective_to": "2026-01-01"}, 422, "validation_error"),
        ({"destination_rules": [], "classification": None}, 422, "validation_error"),
        ({"id": "ac-2023-11-17", "family": "advanced-computing"}, 409, "conflict"),
        ({"family": "advanced-computing", "id": "ac-new"}, 422, "invalid_ruleset"),
        ({"supersedes": "nope"}, 422, "invalid_ruleset"),
        (
            {"classification": {"clauses": [{"id": "x", "eccn": "3A090.a", "text": "t", "all": [["tpp", "~", "1"]]}]}},
            422,
            "validation_error",
        ),
        (
            {
                "classification": {
                    "clauses": [{"id": "x", "eccn": "3A090.a", "text": "t", "all": [["watts", ">=", "1"]]}]
                }
            },
            422,
            "validation_error",
        ),
    ],
    ids=[
        "uncited",
        "ends-before-start",
        "empty",
        "existing-id",
        "overlaps-family",
        "supersedes-unknown",
        "bad-operator",
        "unknown-metric",
    ],
)
def test_bad_rulesets_are_rejected(client: TestClient, overrides: dict[str, Any], status: int, code: str) -> None:
    resp = client.post("/v1/rulesets", json=new_ruleset(**overrides))
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code


def test_country_group_change_applies_from_its_date(client: TestClient) -> None:
    change = {
        "group": "D:5",
        "country": "MY",
        "action": "add",
        "effective": "2027-03-01",
        "citation": {"source": "Test rule", "source_kind": "regulation"},
        "reason": "test: Malaysia added to D:5",
    }
    assert client.post("/v1/country-group-changes", json=change).status_code == 201
    assert "D:5" in client.get("/v1/countries/MY", params={"as_of": "2027-03-01"}).json()["groups"]
    assert "D:5" not in client.get("/v1/countries/MY", params={"as_of": "2027-02-28"}).json()["groups"]
    assert screen_my(client, "2027-03-01")["license_required"] is True
    again = client.post("/v1/country-group-changes", json=change)
    assert again.status_code == 422
    removal = {**change, "country": "DE", "action": "remove"}
    assert client.post("/v1/country-group-changes", json=removal).status_code == 422


def test_a_refused_reference_write_is_answered_before_its_impact_is_computed(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The impact a reference.changed event carries costs seconds (every item, country and profile);
    a write that will be refused (422, 409) is answered without computing it (the contract gate saw a
    refused Country Group change take 17 s on a loaded machine)."""
    computed: list[str] = []
    real = impact.announcement

    def counting(*args: Any) -> Any:
        computed.append("impact")
        return real(*args)

    monkeypatch.setattr(impact, "announcement", counting)
    change = {
        "group": "D:5",
        "country": "MY",
        "action": "add",
        "effective": "2027-03-01",
        "citation": {"source": "Test rule", "source_kind": "regulation"},
        "reason": "test: Malaysia added to D:5",
    }
    assert client.post("/v1/country-group-changes", json=change).status_code == 201
    assert computed == ["impact"]  # an accepted write announces its impact
    again = client.post("/v1/country-group-changes", json=change)
    assert again.status_code == 422 and "already in D:5" in again.json()["detail"]
    assert client.post("/v1/rulesets", json=new_ruleset()).status_code == 201
    assert computed == ["impact", "impact"]
    existing = client.post("/v1/rulesets", json=new_ruleset())
    assert existing.status_code == 409, existing.text
    overlapping = client.post("/v1/rulesets", json=new_ruleset(id="test-my-2027-06-01", effective_from="2027-06-01"))
    assert overlapping.status_code in (409, 422), overlapping.text
    assert computed == ["impact", "impact"]
