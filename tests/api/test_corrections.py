"""The regulatory corrections of issue 11, each through POST /v1/screenings on both sides of its date."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

H100 = {"accelerator_id": "nvidia-h100-sxm5-80gb"}  # datacenter 3A090.a, sold in the US
H200 = {"accelerator_id": "nvidia-h200-sxm5-141gb"}  # the 2026 band's reference item
H20 = {"accelerator_id": "nvidia-h20-96gb"}  # China-only, not 3A090, reached by the 2025 letters
H800 = {"accelerator_id": "nvidia-h800-sxm5-80gb"}  # China-only 3A090.a
A30 = {"accelerator_id": "nvidia-a30-24gb"}  # datacenter 3A090.b: NAC/ACA-eligible
L40 = {"accelerator_id": "nvidia-l40-48gb"}  # datacenter 3A090.b
ASCEND = {"accelerator_id": "huawei-ascend-910b"}
# an H200-like part described by its figures, with and without a US-availability fact
H200_SPEC: dict[str, Any] = {
    "throughput": [{"precision": "fp8", "dense_tops": "1979"}],
    "die_area_mm2": "814",
    "memory_bandwidth_gbps": "4800",
    "interconnect_bandwidth_gbps": "900",
    "datacenter": True,
}
HBM = {"spec": {"kind": "hbm", "memory_bandwidth_gbps": "2500", "die_area_mm2": "1000", "datacenter": True}}

D5 = "742.6(a)(6)(iii)-d5-macau"
D14 = "742.6(a)(6)(iii)-d1-d4"
HQ = "744.23(a)(3)-headquarters"
HQA = "742.6(a)(6)(iii)(A)-headquarters"
LETTER = "bandwidth-letter-2025"
DENIAL = "presumption of denial"
APPROVAL = "presumption of approval"
CONDITIONAL = "case-by-case if the listed conditions are met; otherwise presumption of denial"
LETTER_POLICY = "not published (reported: licences issued from 2025-08)"


def screen(
    client: TestClient,
    item: dict[str, Any],
    destination: str,
    as_of: str,
    *,
    hq: str | None = None,
    parent: str | None = None,
    transaction: str = "export",
) -> dict[str, Any]:
    end_user: dict[str, Any] = {"name": "Buyer"}
    if hq:
        end_user["headquarters"] = hq
    if parent:
        end_user["parent_headquarters"] = parent
    body = {
        "destination": destination,
        "end_user": end_user,
        "lines": [{"key": "1", "quantity": 1, **item}],
        "as_of": as_of,
        "transaction_type": transaction,
    }
    resp = client.post("/v1/screenings", json=body)
    assert resp.status_code == 201, resp.text
    line: dict[str, Any] = resp.json()["lines"][0]
    return line


def policies(line: dict[str, Any]) -> dict[tuple[str, str], str | None]:
    return {(r["rule_id"], r["basis"]): r["review_policy"] for r in line["reasons"]}


def codes(line: dict[str, Any]) -> dict[str, bool]:
    return {e["code"]: e["notification_required"] for e in line["license_exceptions"]}


# 1. The 2026 band reaches Chinese buyers located in China, whatever their headquarters
@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        pytest.param("2026-01-14", DENIAL, id="day-before-denial"),
        pytest.param("2026-01-15", CONDITIONAL, id="day-of-conditional-case-by-case"),
    ],
)
def test_h200_to_a_chinese_company_in_china_is_in_the_band_on_both_bases(
    client: TestClient, as_of: str, expected: str
) -> None:
    line = screen(client, H200, "CN", as_of, hq="CN")
    assert line["license_required"] is True
    assert policies(line) == {
        (D5, "destination"): expected,
        (HQA, "headquarters"): expected,
        (LETTER, "destination"): LETTER_POLICY,
        (LETTER, "headquarters"): LETTER_POLICY,
    }
    assert line["review_policy"] == expected


@pytest.mark.parametrize(
    ("destination", "hq", "parent", "transaction"),
    [
        pytest.param("SG", "SG", "CN", "export", id="cn-parent-buyer-located-in-singapore"),
        pytest.param("SG", "CN", None, "export", id="cn-headquartered-buyer-located-in-singapore"),
        pytest.param("CN", "CN", None, "reexport", id="reexport-to-china"),
        pytest.param("CN", "CN", None, "transfer", id="in-country-transfer-in-china"),
    ],
)
def test_band_leaves_buyers_outside_china_reexports_and_transfers_at_denial(
    client: TestClient, destination: str, hq: str | None, parent: str | None, transaction: str
) -> None:
    line = screen(client, H200, destination, "2026-03-01", hq=hq, parent=parent, transaction=transaction)
    assert line["license_required"] is True
    assert line["review_policy"] == DENIAL
    assert {p for (rule, _), p in policies(line).items() if rule != LETTER} == {DENIAL}


# 2. The band is conditional: US availability (a dated catalog fact) and the listed certifications
def test_band_answer_lists_the_conditions_on_each_rewritten_reason(client: TestClient) -> None:
    line = screen(client, H200, "CN", "2026-03-01")
    banded = [r for r in line["reasons"] if r["review_policy"] == CONDITIONAL]
    assert [r["rule_id"] for r in banded] == [D5]
    conditions = banded[0]["review_conditions"]
    assert any("commercially available in the United States" in c for c in conditions)
    assert any("50%" in c for c in conditions)
    assert any("third-party" in c for c in conditions)
    assert any("Conditions: (1)" in w and "[reported:" in w for w in line["warnings"])


@pytest.mark.parametrize(
    ("item", "as_of", "review"),
    [
        pytest.param(H800, "2026-01-14", DENIAL, id="h800-day-before"),
        pytest.param(H800, "2026-01-15", DENIAL, id="h800-never-a-us-product-day-of"),
        pytest.param(H100, "2026-01-14", DENIAL, id="h100-day-before"),
        pytest.param(H100, "2026-01-15", CONDITIONAL, id="h100-us-product-day-of"),
    ],
)
def test_band_applies_only_to_items_commercially_available_in_the_us(
    client: TestClient, item: dict[str, Any], as_of: str, review: str
) -> None:
    line = screen(client, item, "CN", as_of)
    assert line["review_policy"] == review
    if item is H800 and as_of == "2026-01-15":
        assert any("was not commercially available in the United States on 2026-01-15" in w for w in line["warnings"])


@pytest.mark.parametrize(
    ("us_available", "review", "warned"),
    [
        pytest.param(None, DENIAL, "is not known", id="spec-without-the-fact-stays-denial"),
        pytest.param({"value": True, "as_of": "2026-01-15"}, CONDITIONAL, None, id="spec-available-conditional"),
        pytest.param({"value": False, "as_of": "2026-01-15"}, DENIAL, "was not", id="spec-not-available-denial"),
    ],
)
def test_a_missing_us_availability_never_makes_the_answer_less_restrictive(
    client: TestClient, us_available: dict[str, Any] | None, review: str, warned: str | None
) -> None:
    spec = dict(H200_SPEC)
    if us_available is not None:
        spec["us_available"] = us_available
    line = screen(client, {"spec": spec}, "CN", "2026-03-01")
    assert line["review_policy"] == review
    if warned:
        assert any(warned in w and "91 FR 1684" in w for w in line["warnings"])


@pytest.mark.parametrize("as_of", ["2026-01-14", "2026-01-15"])
def test_band_never_rewrites_the_2025_letter_reasons(client: TestClient, as_of: str) -> None:
    line = screen(client, H20, "CN", as_of)
    assert [(r["rule_id"], r["review_policy"], r["section"]) for r in line["reasons"]] == [
        (LETTER, LETTER_POLICY, "company letter")
    ]


def test_catalog_records_us_availability_as_a_dated_fact(client: TestClient) -> None:
    h200 = client.get("/v1/accelerators/nvidia-h200-sxm5-141gb").json()
    h20 = client.get("/v1/accelerators/nvidia-h20-96gb").json()
    assert h200["us_available"]["value"] is True and h200["us_available"]["as_of"] == "2026-01-15"
    assert h20["us_available"]["value"] is False
    assert h200["us_available"]["source"] in h200["sources"]


# 3. NAC covers a Macau/D:5-headquartered buyer located elsewhere (from 2024-04-04 too)
@pytest.mark.parametrize("as_of", ["2024-04-03", "2024-04-04", "2026-03-01"])
def test_nac_with_notification_for_a_uae_buyer_with_a_chinese_parent(client: TestClient, as_of: str) -> None:
    line = screen(client, A30, "AE", as_of, hq="AE", parent="CN")
    assert line["license_required"] is True
    assert [r["rule_id"] for r in line["reasons"]] == [HQ, D14]
    assert codes(line) == {"NAC": True}
    assert line["review_policy"] == DENIAL


def test_the_uae_buyer_without_a_chinese_parent_keeps_aca(client: TestClient) -> None:
    assert codes(screen(client, A30, "AE", "2024-04-04", hq="AE")) == {"ACA": False}


# 4. The headquarters rule applies to destinations outside the United States; its citation by period
@pytest.mark.parametrize(
    ("destination", "as_of", "required"),
    [
        pytest.param("SG", "2023-11-16", False, id="singapore-day-before-the-rule"),
        pytest.param("SG", "2023-11-17", True, id="singapore-day-of-the-rule"),
        pytest.param("US", "2023-11-16", False, id="us-day-before-the-rule"),
        pytest.param("US", "2023-11-17", False, id="us-day-of-the-rule"),
        pytest.param("US", "2026-06-01", False, id="us-after-the-2026-guidance"),
    ],
)
def test_headquarters_rule_reaches_only_entities_located_outside_the_us(
    client: TestClient, destination: str, as_of: str, required: bool
) -> None:
    line = screen(client, A30, destination, as_of, hq=destination, parent="CN")
    assert line["license_required"] is required
    if destination == "US" and as_of >= "2023-11-17":
        assert any("located outside US" in w for w in line["warnings"])


@pytest.mark.parametrize(
    ("item", "as_of", "rule", "cited"),
    [
        pytest.param(H100, "2024-06-01", HQ, "15 CFR 744.23(a)(3)", id="a-item-744.23-before-2025"),
        pytest.param(H100, "2025-01-12", HQ, "15 CFR 744.23(a)(3)", id="a-item-day-before-the-move"),
        pytest.param(H100, "2025-01-13", HQA, "15 CFR 742.6(a)(6)(iii)(A)", id="a-item-742.6-from-2025-01-13"),
        pytest.param(A30, "2025-01-13", HQ, "15 CFR 744.23(a)(3)", id="b-item-stays-744.23"),
    ],
)
def test_headquarters_rule_citation_follows_its_paragraph_over_time(
    client: TestClient, item: dict[str, Any], as_of: str, rule: str, cited: str
) -> None:
    line = screen(client, item, "SG", as_of, hq="SG", parent="CN")
    (reason,) = [r for r in line["reasons"] if r["basis"] == "headquarters" and r["rule_id"] != LETTER]
    assert reason["rule_id"] == rule
    assert reason["citation"].startswith(cited)


# 5. Nicaragua: Country Group B until 2024-03-15, then D:1 and D:5 (89 FR 18780)
@pytest.mark.parametrize(
    ("as_of", "required", "review", "exceptions"),
    [
        pytest.param("2024-01-10", False, None, {}, id="2024-01-10-group-b-no-licence"),
        pytest.param("2024-03-14", False, None, {}, id="2024-03-14-day-before"),
        pytest.param("2024-03-15", True, DENIAL, {"NAC": True}, id="2024-03-15-d1-d5"),
    ],
)
def test_l40_to_nicaragua_on_both_sides_of_its_group_change(
    client: TestClient, as_of: str, required: bool, review: str | None, exceptions: dict[str, bool]
) -> None:
    line = screen(client, L40, "NI", as_of)
    assert line["classification"]["eccn"] == "3A090.b"
    assert line["license_required"] is required
    assert line["review_policy"] == review
    assert codes(line) == exceptions
    assert [r["rule_id"] for r in line["reasons"]] == ([D5] if required else [])


# 6. Exceptions depend on the transaction type
@pytest.mark.parametrize(
    ("as_of", "transaction", "exceptions"),
    [
        pytest.param("2024-04-03", "export", {"NAC": True}, id="export-nac-notified-before"),
        pytest.param("2024-04-04", "export", {"NAC": True}, id="export-nac-notified-after"),
        pytest.param("2024-04-03", "reexport", {"NAC": True}, id="reexport-nac-notified"),
        pytest.param("2024-04-03", "transfer", {"NAC": False}, id="transfer-nac-without-notification-before"),
        pytest.param("2024-04-04", "transfer", {"ACA": False}, id="transfer-aca-after"),
    ],
)
def test_licence_exception_for_china_depends_on_the_transaction_type(
    client: TestClient, as_of: str, transaction: str, exceptions: dict[str, bool]
) -> None:
    assert codes(screen(client, A30, "CN", as_of, transaction=transaction)) == exceptions


# 7. Part 746: embargoes require a licence regardless of the 3A090 rules
@pytest.mark.parametrize(
    ("destination", "as_of", "rule", "review"),
    [
        pytest.param("RU", "2022-02-23", None, None, id="russia-day-before-746.8"),
        pytest.param("RU", "2022-02-24", "746.8-russia", "policy of denial", id="russia-day-of-746.8"),
        pytest.param("RU", "2023-06-01", "746.8-russia", "policy of denial", id="russia-2023-06-01"),
        pytest.param("BY", "2022-03-01", None, None, id="belarus-day-before"),
        pytest.param("BY", "2023-06-01", "746.8-belarus", "policy of denial", id="belarus-2023-06-01"),
        pytest.param("CU", "2023-06-01", "746.2-cuba", "policy of denial", id="cuba"),
        pytest.param("IR", "2023-06-01", "746.7-iran", "policy of denial", id="iran"),
        pytest.param("KP", "2023-06-01", "746.4-north-korea", "policy of denial", id="north-korea"),
        pytest.param("SY", "2025-09-01", "746.9-syria", "policy of denial", id="syria-day-before-relaxation"),
        pytest.param("SY", "2025-09-02", "746.9-syria", "case-by-case", id="syria-relaxed-2025-09-02"),
    ],
)
def test_embargoed_destinations_need_a_licence_with_basis_embargo(
    client: TestClient, destination: str, as_of: str, rule: str | None, review: str | None
) -> None:
    line = screen(client, H100, destination, as_of)
    embargo = [r for r in line["reasons"] if r["basis"] == "embargo"]
    if rule is None:
        assert embargo == []
        return
    (reason,) = embargo
    assert line["license_required"] is True
    assert (reason["rule_id"], reason["review_policy"]) == (rule, review)
    assert reason["citation"].startswith("15 CFR 746")
    assert line["license_exceptions"] == []


def test_h100_to_russia_on_2023_06_01_needs_a_licence(client: TestClient) -> None:
    line = screen(client, H100, "RU", "2023-06-01")
    assert line["license_required"] is True
    assert line["review_policy"] == "policy of denial"
    assert [(r["rule_id"], r["basis"]) for r in line["reasons"]] == [("746.8-russia", "embargo")]


# 8. Timeline gaps: the 2022 letters, GP10 on Huawei Ascend, the HBM compliance date
@pytest.mark.parametrize(
    ("item", "destination", "as_of", "required"),
    [
        pytest.param(H100, "CN", "2022-08-25", False, id="h100-china-day-before-the-letters"),
        pytest.param(H100, "CN", "2022-08-26", True, id="h100-china-day-of-the-letters"),
        pytest.param(H100, "HK", "2022-08-26", True, id="h100-hong-kong-as-china"),
        pytest.param({"accelerator_id": "amd-instinct-mi250x"}, "CN", "2022-08-26", True, id="mi250x-china"),
        pytest.param(H800, "CN", "2022-08-26", False, id="h800-below-a100-io-not-covered"),
        pytest.param(A30, "CN", "2022-08-26", False, id="a30-below-a100-performance-not-covered"),
    ],
)
def test_2022_company_letters_before_the_october_rule(
    client: TestClient, item: dict[str, Any], destination: str, as_of: str, required: bool
) -> None:
    line = screen(client, item, destination, as_of)
    assert line["license_required"] is required
    if required:
        (reason,) = line["reasons"]
        assert (reason["rule_id"], reason["source_kind"]) == ("company-letter-2022", "company_letter")
        assert any("rests on a company letter source" in w for w in line["warnings"])


@pytest.mark.parametrize(
    ("as_of", "destination", "warned"),
    [
        pytest.param("2025-05-12", "DE", False, id="day-before-the-guidance"),
        pytest.param("2025-05-13", "DE", True, id="germany-day-of"),
        pytest.param("2026-03-01", "BR", True, id="brazil-any-destination"),
    ],
)
def test_gp10_warning_on_huawei_ascend_parts_at_any_destination(
    client: TestClient, as_of: str, destination: str, warned: bool
) -> None:
    line = screen(client, ASCEND, destination, as_of)
    assert any(w.startswith("General Prohibition 10") for w in line["warnings"]) is warned
    other = screen(client, H100, destination, as_of)
    assert not any(w.startswith("General Prohibition 10") for w in other["warnings"])


def test_gp10_warning_shows_on_the_classification_too(client: TestClient) -> None:
    body = client.post("/v1/classifications", json={**ASCEND, "as_of": "2026-03-01"}).json()
    assert any(w.startswith("General Prohibition 10") for w in body["warnings"])


@pytest.mark.parametrize(
    ("as_of", "warned"),
    [
        pytest.param("2024-12-30", True, id="before-the-compliance-date"),
        pytest.param("2024-12-31", False, id="compliance-date"),
    ],
)
def test_hbm_requirement_warns_until_its_compliance_date(client: TestClient, as_of: str, warned: bool) -> None:
    line = screen(client, HBM, "CN", as_of)
    assert line["license_required"] is True
    assert any("compliance is required only from 2024-12-31" in w for w in line["warnings"]) is warned


# 9. D:1/D:4 outside D:5: presumption of approval, unchanged by the 2024-04-04 corrections
@pytest.mark.parametrize("as_of", ["2024-04-03", "2024-04-04"])
def test_d1_d4_review_policy_is_presumption_of_approval_on_both_sides_of_2024_04_04(
    client: TestClient, as_of: str
) -> None:
    line = screen(client, A30, "SA", as_of)
    assert line["review_policy"] == APPROVAL
