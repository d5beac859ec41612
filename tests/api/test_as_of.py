"""POST /v1/screenings with as_of: every boundary date in rulesets.yaml, the day before and the day of."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

H100 = {"accelerator_id": "nvidia-h100-sxm5-80gb"}
H800 = {"accelerator_id": "nvidia-h800-sxm5-80gb"}
A100 = {"accelerator_id": "nvidia-a100-sxm4-80gb"}
A30 = {"accelerator_id": "nvidia-a30-24gb"}
L40 = {"accelerator_id": "nvidia-l40-48gb"}
H20 = {"accelerator_id": "nvidia-h20-96gb"}
# a stand-alone HBM stack: 2,500 GB/s over 1,000 mm2 = 2.5 GB/s/mm2 (> 2, below the 3.3 of Licence Exception HBM)
HBM = {"spec": {"kind": "hbm", "memory_bandwidth_gbps": "2500", "die_area_mm2": "1000", "datacenter": True}}
# exactly TPP 4800 (300 dense fp16 x 16) with interconnect exactly 600 GB/s: on both 2022 lines
ON_THE_LINE = {
    "spec": {
        "throughput": [{"precision": "fp16", "dense_tops": "300"}],
        "die_area_mm2": "1000",
        "interconnect_bandwidth_gbps": "600",
        "datacenter": True,
    }
}
DENIAL = "presumption of denial"
CONDITIONAL = "case-by-case if the listed conditions are met; otherwise presumption of denial"
APPROVAL = "presumption of approval"


def screening(
    item: dict[str, Any],
    destination: str,
    as_of: Any,
    hq: str | None = None,
    parent: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    end_user: dict[str, Any] = {"name": "Buyer"}
    if hq:
        end_user["headquarters"] = hq
    if parent:
        end_user["parent_headquarters"] = parent
    return {
        "destination": destination,
        "end_user": end_user,
        "lines": [{"key": "1", "quantity": 1, **item}],
        "as_of": as_of,
        **extra,
    }


# (item, destination, end user's HQ, its parent's HQ, as_of) -> (ECCN, licence, exceptions, review policy)
ROWS = [
    # 2022-08-26: the letters to NVIDIA and AMD (company letters), before any rule
    pytest.param(H100, "CN", None, None, "2022-08-25", None, False, [], None, id="2022-08-25-h100-cn-nothing-in-force"),
    pytest.param(
        H100, "CN", None, None, "2022-08-26", None, True, [], "not published (company letter)", id="2022-08-26-letter"
    ),
    # 2022-10-07: the first rule (the letters end: the rule took over)
    pytest.param(
        H100, "CN", None, None, "2022-10-06", None, True, [], "not published (company letter)", id="2022-10-06-letter"
    ),
    pytest.param(H100, "CN", None, None, "2022-10-07", "3A090.a", True, [], DENIAL, id="2022-10-07-h100-cn-licence"),
    pytest.param(
        ON_THE_LINE, "CN", None, None, "2022-10-07", "3A090.a", True, [], DENIAL, id="2022-10-07-tpp-4800-ic-600"
    ),
    pytest.param(H100, "HK", None, None, "2022-10-07", "3A090.a", True, [], DENIAL, id="2022-10-07-hong-kong-as-china"),
    # 2023-01-17: Macau added
    pytest.param(A100, "MO", None, None, "2023-01-16", "3A090.a", False, [], None, id="2023-01-16-a100-macau-none"),
    pytest.param(A100, "MO", None, None, "2023-01-17", "3A090.a", True, [], DENIAL, id="2023-01-17-a100-macau-licence"),
    # 2023-10-23: early effect for datacenter products with TPP >= 4800 (reported)
    pytest.param(H800, "CN", None, None, "2023-10-22", None, False, [], None, id="2023-10-22-h800-cn-not-3A090"),
    pytest.param(H800, "CN", None, None, "2023-10-23", "3A090.a", True, [], DENIAL, id="2023-10-23-h800-cn-early"),
    pytest.param(H800, "AE", None, None, "2023-10-22", None, False, [], None, id="2023-10-22-h800-uae-none"),
    pytest.param(H800, "AE", None, None, "2023-10-23", "3A090.a", True, [], APPROVAL, id="2023-10-23-h800-uae-early"),
    # 2023-11-17: the October 2023 rule
    pytest.param(L40, "AE", None, None, "2023-11-16", None, False, [], None, id="2023-11-16-l40-uae-none"),
    pytest.param(L40, "AE", None, None, "2023-11-17", "3A090.b", True, ["NAC"], APPROVAL, id="2023-11-17-l40-uae-nac"),
    pytest.param(A30, "SG", "SG", "CN", "2023-11-16", None, False, [], None, id="2023-11-16-sg-cn-parent-none"),
    pytest.param(A30, "SG", "SG", "CN", "2023-11-17", "3A090.b", True, ["NAC"], DENIAL, id="2023-11-17-hq-rule"),
    # 2024-03-15: Nicaragua into D:5
    pytest.param(A30, "NI", None, None, "2024-03-14", "3A090.b", False, [], None, id="2024-03-14-ni-group-b"),
    pytest.param(A30, "NI", None, None, "2024-03-15", "3A090.b", True, ["NAC"], DENIAL, id="2024-03-15-ni-d5"),
    pytest.param(A30, "SG", "NI", None, "2024-03-14", "3A090.b", False, [], None, id="2024-03-14-ni-hq-none"),
    pytest.param(A30, "SG", "NI", None, "2024-03-15", "3A090.b", True, ["NAC"], DENIAL, id="2024-03-15-ni-hq-rule"),
    # 2024-04-04: Licence Exception ACA
    pytest.param(A30, "AE", None, None, "2024-04-03", "3A090.b", True, ["NAC"], APPROVAL, id="2024-04-03-uae-nac"),
    pytest.param(A30, "AE", None, None, "2024-04-04", "3A090.b", True, ["ACA"], APPROVAL, id="2024-04-04-uae-aca"),
    # 2024-12-02: 3A090.c HBM
    pytest.param(HBM, "CN", None, None, "2024-12-01", None, False, [], None, id="2024-12-01-hbm-cn-none"),
    pytest.param(HBM, "CN", None, None, "2024-12-02", "3A090.c", True, ["HBM"], DENIAL, id="2024-12-02-hbm-cn"),
    # 2025-01-13: AI Diffusion took effect but is not enforced: nothing changes without a hypothetical
    pytest.param(H100, "DE", None, None, "2025-01-12", "3A090.a", False, [], None, id="2025-01-12-h100-germany-none"),
    pytest.param(
        H100, "DE", None, None, "2025-01-13", "3A090.a", False, [], None, id="2025-01-13-diffusion-unenforced"
    ),
    # 2025-04-09: the bandwidth letters
    pytest.param(H20, "CN", None, None, "2025-04-08", None, False, [], None, id="2025-04-08-h20-cn-none"),
    pytest.param(
        H20,
        "CN",
        None,
        None,
        "2025-04-09",
        None,
        True,
        [],
        "not published (reported: licences issued from 2025-08)",
        id="2025-04-09-h20-cn-letter",
    ),
    # 2026-01-15: the China review band (exports from the US only)
    pytest.param(H100, "CN", None, None, "2026-01-14", "3A090.a", True, [], DENIAL, id="2026-01-14-h100-cn-denial"),
    pytest.param(H100, "CN", None, None, "2026-01-15", "3A090.a", True, [], CONDITIONAL, id="2026-01-15-h100-cn"),
    pytest.param(H100, "SG", None, "CN", "2026-01-15", "3A090.a", True, [], DENIAL, id="2026-01-15-hq-rule-unchanged"),
    # 2026-02-03: Cambodia out of D:5
    pytest.param(H100, "SG", None, "KH", "2026-02-02", "3A090.a", True, [], DENIAL, id="2026-02-02-kh-parent-hq-rule"),
    pytest.param(H100, "SG", None, "KH", "2026-02-03", "3A090.a", False, [], None, id="2026-02-03-kh-parent-none"),
    pytest.param(A30, "KH", None, None, "2026-02-02", "3A090.b", True, ["NAC"], DENIAL, id="2026-02-02-kh-d5"),
    pytest.param(A30, "KH", None, None, "2026-02-03", "3A090.b", True, ["ACA"], APPROVAL, id="2026-02-03-kh-d1"),
]


@pytest.mark.parametrize(("item", "destination", "hq", "parent", "as_of", "eccn", "required", "codes", "review"), ROWS)
def test_screening_as_of_each_boundary_day_before_and_day_of(
    client: TestClient,
    item: dict[str, Any],
    destination: str,
    hq: str | None,
    parent: str | None,
    as_of: str,
    eccn: str | None,
    required: bool,
    codes: list[str],
    review: str | None,
) -> None:
    resp = client.post("/v1/screenings", json=screening(item, destination, as_of, hq, parent))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["provenance"]["as_of"] == as_of
    (line,) = body["lines"]
    assert line["classification"]["eccn"] == eccn
    assert line["license_required"] is required
    assert body["license_required"] is required
    assert [e["code"] for e in line["license_exceptions"]] == codes
    assert line["review_policy"] == review


def test_screening_before_any_rule_warns_that_no_3A090_control_was_in_force(client: TestClient) -> None:
    body = client.post("/v1/screenings", json=screening(H100, "CN", "2022-08-25")).json()
    assert {r["family"] for r in body["provenance"]["rulesets"]} <= {
        "embargo-cuba",
        "embargo-iran",
        "embargo-north-korea",
        "embargo-syria",
        "embargo-russia",
        "embargo-belarus",
    }
    assert body["license_required"] is False
    assert any("No 3A090 control was in force on 2022-08-25" in w for w in body["warnings"])


def test_screening_in_the_future_warns(client: TestClient) -> None:
    body = client.post("/v1/screenings", json=screening(H100, "DE", "2099-01-01")).json()
    assert any(w.startswith("as_of 2099-01-01 is in the future") for w in body["warnings"])


@pytest.mark.parametrize(
    ("as_of", "pointer"),
    [
        pytest.param("2025-13-01", "/as_of", id="month-13"),
        pytest.param("yesterday", "/as_of", id="word-not-a-date"),
        pytest.param("2025-02-30", "/as_of", id="february-30"),
        pytest.param("1900-01-01", "/as_of", id="before-the-supported-range"),
        # a Unix timestamp (pydantic alone reads 946684800 as 2000-01-01) is not a date
        pytest.param(946684800, "/as_of", id="unix-timestamp-number"),
        pytest.param("946684800", "/as_of", id="unix-timestamp-text"),
        pytest.param("2026-01-20T00:00:00Z", "/as_of", id="a-timestamp-not-a-day"),
    ],
)
def test_malformed_as_of_is_a_422_problem_naming_the_field(client: TestClient, as_of: Any, pointer: str) -> None:
    resp = client.post("/v1/screenings", json=screening(H100, "CN", as_of))
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == "validation_error"
    assert pointer in [e["pointer"] for e in body["errors"]]


def test_unknown_hypothetical_ruleset_is_404_unknown_ruleset(client: TestClient) -> None:
    body = screening(H100, "DE", "2025-06-01", hypothetical_rulesets=["no-such-ruleset"])
    resp = client.post("/v1/screenings", json=body)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["code"] == "unknown_ruleset"
    assert "no-such-ruleset" in problem["detail"]
    assert problem["errors"] == [{"pointer": "/hypothetical_rulesets", "detail": "unknown ruleset 'no-such-ruleset'"}]


@pytest.mark.parametrize(
    ("destination", "required", "codes"),
    [
        pytest.param("DE", True, ["AIA"], id="tier1-germany-aia"),
        pytest.param("MY", True, ["LPP"], id="tier2-malaysia-lpp"),
        pytest.param("CN", True, [], id="tier3-china-no-exception"),
    ],
)
def test_hypothetical_screening_answers_200_unstored_and_marked(
    client: TestClient, destination: str, required: bool, codes: list[str]
) -> None:
    before = client.get("/v1/decisions").json()["items"]
    body = screening(H100, destination, "2025-06-01", hypothetical_rulesets=["ai-diffusion-2025-01-13"])
    resp = client.post("/v1/screenings", json=body)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["hypothetical"] is True
    assert answer["id"] is None
    assert "Location" not in resp.headers
    (line,) = answer["lines"]
    assert line["license_required"] is required
    assert [e["code"] for e in line["license_exceptions"]] == codes
    assert "ai-diffusion-2025-01-13" in [r["id"] for r in answer["provenance"]["rulesets"]]
    assert client.get("/v1/decisions").json()["items"] == before


def test_the_same_screening_without_the_hypothetical_is_stored_and_needs_no_licence(client: TestClient) -> None:
    resp = client.post("/v1/screenings", json=screening(H100, "DE", "2025-06-01"))
    assert resp.status_code == 201
    answer = resp.json()
    assert answer["hypothetical"] is False
    assert answer["id"] is not None
    assert answer["license_required"] is False
    assert [d["id"] for d in client.get("/v1/decisions").json()["items"]] == [answer["id"]]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accelerators/nvidia-h100-sxm5-80gb/classification",
        "/v1/countries",
        "/v1/countries/CN",
    ],
)
@pytest.mark.parametrize("as_of", ["946684800", "0", "2026-1-20", "1989-12-31"])
def test_a_query_as_of_that_is_not_a_supported_yyyy_mm_dd_day_is_a_422_naming_it(
    client: TestClient, path: str, as_of: str
) -> None:
    sep = "&" if "?" in path else "?"
    resp = client.get(f"{path}{sep}as_of={as_of}")
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "validation_error"
    assert "as_of" in resp.json()["detail"] + str(resp.json().get("errors"))
    assert client.get(f"{path}{sep}as_of=2026-01-20").status_code == 200


def test_open_until_and_impact_dates_are_yyyy_mm_dd_only(client: TestClient) -> None:
    resp = client.post("/v1/screenings", json=screening(H100, "SG", "2026-01-20", open_until=1893456000))
    assert resp.status_code == 422 and "/open_until" in [e["pointer"] for e in resp.json()["errors"]]
    resp = client.get("/v1/impact", params={"from": "1700000000", "to": "2026-01-20"})
    assert resp.status_code == 422 and resp.json()["code"] == "validation_error"
    resp = client.post("/v1/impact", json={"change_id": "x", "on": 1767225600})
    assert resp.status_code == 422 and "/on" in [e["pointer"] for e in resp.json()["errors"]]
