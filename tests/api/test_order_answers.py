"""What an order's answer says, line by line and as a whole: each test here was written against a
deliberate change to the code that the rest of the suite let through (issue 16's mutation table)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

H100 = "nvidia-h100-sxm5-80gb"
RTX_4090_D = "nvidia-geforce-rtx-4090-d"
# below every 3A090 threshold, and a 3A090.a chip: figures sent instead of catalog ids
SMALL_SPEC = {
    "throughput": [{"precision": "fp16", "dense_tops": 10}],
    "die_area_mm2": 300,
    "datacenter": True,
    "memory_bandwidth_gbps": 100,
    "interconnect_bandwidth_gbps": 10,
}
BIG_SPEC = {
    "throughput": [{"precision": "fp16", "dense_tops": 1000}],
    "die_area_mm2": 814,
    "datacenter": True,
    "memory_bandwidth_gbps": 3000,
    "interconnect_bandwidth_gbps": 900,
}


def order(destination: str, lines: list[dict[str, Any]], **end_user: str) -> dict[str, Any]:
    return {"destination": destination, "end_user": {"name": "Buyer", **end_user}, "lines": lines}


def line(key: str, **item: Any) -> dict[str, Any]:
    return {"key": key, "quantity": 1, **item}


def decision_count(client: TestClient) -> int:
    return int(client.get("/v1/decisions/verify").json()["checked"])


def test_an_order_needs_a_licence_when_any_one_line_does(client: TestClient) -> None:
    resp = client.post(
        "/v1/screenings",
        json=order("CN", [line("h100", accelerator_id=H100), line("4090d", accelerator_id=RTX_4090_D)]),
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert [(x["key"], x["license_required"]) for x in body["lines"]] == [("h100", True), ("4090d", False)]
    assert body["license_required"] is True


def test_an_order_needs_no_licence_when_no_line_does(client: TestClient) -> None:
    resp = client.post("/v1/screenings", json=order("CN", [line("4090d", accelerator_id=RTX_4090_D)]))
    assert resp.status_code == 201, resp.text
    assert resp.json()["license_required"] is False


def test_each_spec_line_is_classified_on_its_own_figures_not_the_line_before(client: TestClient) -> None:
    lines = [line("small", spec=SMALL_SPEC), line("big", spec=BIG_SPEC), line("small-again", spec=SMALL_SPEC)]
    resp = client.post("/v1/screenings", json=order("CN", lines))
    assert resp.status_code == 201, resp.text
    got = [(x["key"], x["classification"]["eccn"], x["license_required"]) for x in resp.json()["lines"]]
    assert got == [("small", None, False), ("big", "3A090.a", True), ("small-again", None, False)]


def test_a_spec_line_and_a_catalog_line_are_never_confused(client: TestClient) -> None:
    lines = [line("id", accelerator_id=RTX_4090_D), line("spec", spec=BIG_SPEC)]
    resp = client.post("/v1/screenings", json=order("CN", lines))
    assert [x["classification"]["eccn"] for x in resp.json()["lines"]] == [None, "3A090.a"]


def test_an_end_user_and_its_parent_both_headquartered_in_china_give_one_reason_per_rule(client: TestClient) -> None:
    """Headquarters is one basis: the end user's, else its ultimate parent's; never both."""
    resp = client.post(
        "/v1/screenings",
        json=order("MY", [line("a", accelerator_id=H100)], headquarters="CN", parent_headquarters="CN"),
    )
    assert resp.status_code == 201, resp.text
    reasons = resp.json()["lines"][0]["reasons"]
    rule_ids = [r["rule_id"] for r in reasons]
    assert rule_ids and len(rule_ids) == len(set(rule_ids)), rule_ids
    assert all(r["detail"].endswith("end user headquartered in CN") for r in reasons), reasons


def test_a_parent_headquartered_in_china_is_a_reason_when_the_end_user_is_not(client: TestClient) -> None:
    resp = client.post(
        "/v1/screenings",
        json=order("MY", [line("a", accelerator_id=H100)], headquarters="FR", parent_headquarters="CN"),
    )
    reasons = resp.json()["lines"][0]["reasons"]
    assert reasons and all(r["detail"].endswith("ultimate parent headquartered in CN") for r in reasons), reasons


def test_an_unknown_parent_headquarters_country_is_refused_and_nothing_is_stored(client: TestClient) -> None:
    before = decision_count(client)
    resp = client.post("/v1/screenings", json=order("CN", [line("a", accelerator_id=H100)], parent_headquarters="ZZ"))
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "validation_error"
    assert any(e["pointer"] == "/end_user/parent_headquarters" for e in resp.json()["errors"])
    assert decision_count(client) == before


def test_an_unknown_end_user_headquarters_country_is_refused(client: TestClient) -> None:
    resp = client.post("/v1/screenings", json=order("CN", [line("a", accelerator_id=H100)], headquarters="ZZ"))
    assert resp.status_code == 422
    assert any(e["pointer"] == "/end_user/headquarters" for e in resp.json()["errors"])


def test_every_answer_carries_the_disclaimer(client: TestClient) -> None:
    screening = client.post("/v1/screenings", json=order("CN", [line("a", accelerator_id=H100)])).json()
    classification = client.post("/v1/classifications", json={"accelerator_id": H100}).json()
    history = client.get(f"/v1/accelerators/{H100}/history", params={"destination": "CN"}).json()
    for answer in (screening, classification, history):
        assert "not a licence" in answer["disclaimer"], answer.keys()


def test_an_embargoed_destination_is_named_as_such_in_the_reason(client: TestClient) -> None:
    resp = client.post("/v1/screenings", json=order("RU", [line("a", accelerator_id=H100)]))
    assert resp.status_code == 201, resp.text
    details = {r["rule_id"]: r["detail"] for r in resp.json()["lines"][0]["reasons"]}
    assert details["746.8-russia"].endswith("; embargoed destination RU"), details
    others = [d for rule, d in details.items() if rule != "746.8-russia"]
    assert all("embargoed" not in d for d in others), others


def test_a_buyer_headquartered_in_china_but_located_in_the_us_is_told_why_the_headquarters_rule_is_left_out(
    client: TestClient,
) -> None:
    resp = client.post("/v1/screenings", json=order("US", [line("a", accelerator_id=H100)], headquarters="CN"))
    assert resp.status_code == 201, resp.text
    result = resp.json()["lines"][0]
    assert result["license_required"] is False
    notes = [w for w in result["warnings"] if "does not apply" in w]
    assert notes, result["warnings"]
    assert all(
        "its headquarters basis reaches only entities located outside US, and this one is in US" in n for n in notes
    ), notes


def test_a_screening_line_carries_the_items_computed_figures_as_its_classification_does(client: TestClient) -> None:
    """Each line's classification names the figures the rules read (TPP with its precision, the
    performance density, the assembly ECCN), the same as the item's own classification that day."""
    order = {
        "destination": "DE",
        "end_user": {"name": "Figures GmbH"},
        "lines": [{"key": "1", "accelerator_id": H100, "quantity": 1}],
    }
    line = client.post("/v1/screenings", json={**order, "as_of": "2025-06-01"}).json()["lines"][0]["classification"]
    own = client.get(f"/v1/accelerators/{H100}/classification", params={"as_of": "2025-06-01"}).json()
    assert line["tpp"] == own["tpp"] and line["tpp"]["value"] > 0 and line["tpp"]["precision"]
    assert line["performance_density"] == own["performance_density"] is not None
    assert line["assembly_eccn"] == own["assembly_eccn"] is not None
