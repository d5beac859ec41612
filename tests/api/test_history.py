"""GET /v1/accelerators/{id}/history: the classification and licence picture between rule changes."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

H800 = "nvidia-h800-sxm5-80gb"
A100 = "nvidia-a100-sxm4-80gb"
H20 = "nvidia-h20-96gb"
H100 = "nvidia-h100-sxm5-80gb"
A30 = "nvidia-a30-24gb"
CN = {"destination": "CN"}
MO = {"destination": "MO"}
SG_KH = {"destination": "SG", "parent_headquarters": "KH"}
D5 = "742.6(a)(6)(iii)-d5-macau"
HQ = "744.23(a)(3)-headquarters"
HQA = "742.6(a)(6)(iii)(A)-headquarters"
CHINA_MACAU_2023 = "742.6(a)(6)(i)-china-macau"
EARLY = "early-2023-d5-macau"
LETTER = "bandwidth-letter-2025"
DENIAL = "presumption of denial"
LETTER_REVIEW = "not published (reported: licences issued from 2025-08)"


def history(client: TestClient, accelerator: str, params: dict[str, str]) -> list[dict[str, Any]]:
    resp = client.get(f"/v1/accelerators/{accelerator}/history", params=params)
    assert resp.status_code == 200, resp.text
    intervals: list[dict[str, Any]] = resp.json()["intervals"]
    return intervals


def at(intervals: list[dict[str, Any]], day: date) -> dict[str, Any]:
    """The interval holding ``day`` ([effective_from, effective_to))."""
    for iv in intervals:
        start = date.fromisoformat(iv["effective_from"]) if iv["effective_from"] else date.min
        end = date.fromisoformat(iv["effective_to"]) if iv["effective_to"] else date.max
        if start <= day < end:
            return iv
    raise AssertionError(f"no interval holds {day}")


def d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


# (item, query, a day) -> the interval holding that day: (from, to, eccn, licence, review policy, reason rule ids)
ROWS = [
    # H800 to China: the 2022 rule needs 600 GB/s interconnect; the H800 has 400
    pytest.param(H800, CN, "2022-10-06", None, "2022-10-07", None, False, None, [], id="h800-cn-before-any-rule"),
    pytest.param(H800, CN, "2022-10-07", "2022-10-07", "2023-10-23", None, False, None, [], id="h800-cn-2022-not-a"),
    pytest.param(
        H800, CN, "2023-10-22", "2022-10-07", "2023-10-23", None, False, None, [], id="h800-cn-day-before-early"
    ),
    pytest.param(
        H800, CN, "2023-10-23", "2023-10-23", "2023-11-17", "3A090.a", True, DENIAL, [EARLY], id="h800-cn-early-effect"
    ),
    pytest.param(
        H800,
        CN,
        "2023-11-16",
        "2023-10-23",
        "2023-11-17",
        "3A090.a",
        True,
        DENIAL,
        [EARLY],
        id="h800-cn-early-last-day",
    ),
    pytest.param(
        H800, CN, "2023-11-17", "2023-11-17", "2024-04-04", "3A090.a", True, DENIAL, [D5], id="h800-cn-2023-rule"
    ),
    pytest.param(
        H800, CN, "2025-04-09", "2025-04-09", "2026-01-15", "3A090.a", True, DENIAL, [D5, LETTER], id="h800-cn-letters"
    ),
    # the H800 was never a US product: the 2026 band never applies, so the answer stays the same on
    # 2026-01-15 (a new interval only because the band's note is among its warnings from that day)
    pytest.param(
        H800, CN, "2026-01-15", "2026-01-15", None, "3A090.a", True, DENIAL, [D5, LETTER], id="h800-cn-no-band"
    ),
    # A100 to Macau: no licence before 2023-01-17 (China only), required from then on
    pytest.param(A100, MO, "2022-10-07", "2022-10-07", "2023-01-17", "3A090.a", False, None, [], id="a100-mo-2022"),
    pytest.param(
        A100, MO, "2023-01-16", "2022-10-07", "2023-01-17", "3A090.a", False, None, [], id="a100-mo-day-before"
    ),
    pytest.param(
        A100,
        MO,
        "2023-01-17",
        "2023-01-17",
        "2023-10-23",
        "3A090.a",
        True,
        DENIAL,
        [CHINA_MACAU_2023],
        id="a100-mo-day-of",
    ),
    pytest.param(
        A100,
        MO,
        "2023-10-23",
        "2023-10-23",
        "2023-11-17",
        "3A090.a",
        True,
        DENIAL,
        [CHINA_MACAU_2023, EARLY],
        id="a100-mo-both-2022-and-early-rules",
    ),
    pytest.param(
        A100, MO, "2023-11-17", "2023-11-17", "2024-04-04", "3A090.a", True, DENIAL, [D5], id="a100-mo-2023-rule"
    ),
    # H20 to China: never 3A090; the 2025 letters, then the 2026 band
    pytest.param(H20, CN, "2022-10-07", "2022-10-07", "2025-04-09", None, False, None, [], id="h20-cn-not-3A090"),
    pytest.param(
        H20, CN, "2025-04-08", "2022-10-07", "2025-04-09", None, False, None, [], id="h20-cn-day-before-letters"
    ),
    pytest.param(H20, CN, "2025-04-09", "2025-04-09", None, None, True, LETTER_REVIEW, [LETTER], id="h20-cn-letters"),
    # the letters are not 742.6 requirements and the H20 was never a US product: no band
    pytest.param(H20, CN, "2026-01-15", "2025-04-09", None, None, True, LETTER_REVIEW, [LETTER], id="h20-cn-no-band"),
    # a buyer in Singapore whose parent is headquartered in Cambodia (D:5 until 2026-02-03)
    pytest.param(
        H100, SG_KH, "2023-11-17", "2023-11-17", "2024-04-04", "3A090.a", True, DENIAL, [HQ], id="sg-kh-parent-hq-rule"
    ),
    pytest.param(
        H100,
        SG_KH,
        "2026-02-02",
        "2025-04-09",
        "2026-02-03",
        "3A090.a",
        True,
        DENIAL,
        [HQA, LETTER],
        id="sg-kh-parent-day-before-removal",
    ),
    pytest.param(H100, SG_KH, "2026-02-03", "2026-02-03", None, "3A090.a", False, None, [], id="sg-kh-parent-day-of"),
    pytest.param(
        A30, SG_KH, "2026-02-02", "2025-01-13", "2026-02-03", "3A090.b", True, DENIAL, [HQ], id="sg-kh-parent-b-item"
    ),
    pytest.param(A30, SG_KH, "2026-02-03", "2026-02-03", None, "3A090.b", False, None, [], id="sg-kh-parent-b-after"),
]


@pytest.mark.parametrize(
    ("item", "query", "day", "start", "end", "eccn", "required", "review", "rules"),
    ROWS,
)
def test_history_interval_holding_a_day_has_exact_bounds_and_outcome(
    client: TestClient,
    item: str,
    query: dict[str, str],
    day: str,
    start: str | None,
    end: str | None,
    eccn: str | None,
    required: bool,
    review: str | None,
    rules: list[str],
) -> None:
    iv = at(history(client, item, query), date.fromisoformat(day))
    assert (d(iv["effective_from"]), d(iv["effective_to"])) == (d(start), d(end))
    assert iv["eccn"] == eccn
    assert iv["license_required"] is required
    assert iv["review_policy"] == review
    assert [r["rule_id"] for r in iv["reasons"]] == rules


@pytest.mark.parametrize(
    ("item", "query"),
    [
        pytest.param(H800, CN, id="h800-cn"),
        pytest.param(A100, MO, id="a100-mo"),
        pytest.param(H20, CN, id="h20-cn"),
        pytest.param(H100, SG_KH, id="h100-sg-kh-parent"),
    ],
)
def test_history_intervals_are_contiguous_from_the_beginning_to_open_end(
    client: TestClient, item: str, query: dict[str, str]
) -> None:
    intervals = history(client, item, query)
    assert intervals[0]["effective_from"] is None
    assert intervals[0]["effective_to"] == "2022-10-07"
    assert intervals[0]["license_required"] is False
    # before 2022-10-07 only part 746 embargoes and the 2022 letters (neither reaching these items
    # and destinations) were in force
    assert all(r.startswith(("embargo-", "company-letters-2022")) for r in intervals[0]["rulesets"])
    assert intervals[-1]["effective_to"] is None
    for prev, nxt in itertools.pairwise(intervals):
        assert prev["effective_to"] == nxt["effective_from"]


def test_h800_early_effect_rests_on_a_reported_source_and_says_so(client: TestClient) -> None:
    iv = at(history(client, H800, CN), date(2023, 10, 23))
    assert [r["source_kind"] for r in iv["reasons"]] == ["reported"]
    assert "ac-2023-10-23-early" in iv["rulesets"]
    assert any("rests on a reported source" in w for w in iv["warnings"])


def test_h20_letters_reasons_carry_source_kind_company_letter(client: TestClient) -> None:
    intervals = history(client, H20, CN)
    for day in (date(2025, 4, 9), date(2026, 1, 15), date(2026, 11, 28)):
        iv = at(intervals, day)
        assert iv["eccn"] is None
        assert {r["source_kind"] for r in iv["reasons"]} == {"company_letter"}
        assert any("rests on a company letter source" in w for w in iv["warnings"])


def test_h20_is_never_3A090_in_any_interval(client: TestClient) -> None:
    assert {iv["eccn"] for iv in history(client, H20, CN)} == {None}


def test_headquarters_rule_reasons_name_the_headquarters_basis(client: TestClient) -> None:
    iv = at(history(client, H100, SG_KH), date(2024, 6, 1))
    assert [(r["basis"], r["review_policy"]) for r in iv["reasons"]] == [("headquarters", DENIAL)]
    assert "ultimate parent headquartered in KH" in iv["reasons"][0]["detail"]


def _answers(intervals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The intervals by answer alone (warnings set aside), neighbours with the same answer joined."""
    keys = ("eccn", "license_required", "review_policy")
    runs: list[dict[str, Any]] = []
    for iv in intervals:
        answer = {k: iv[k] for k in keys}
        if runs and {k: runs[-1][k] for k in keys} == answer:
            runs[-1]["effective_to"] = iv["effective_to"]
        else:
            runs.append({"effective_from": iv["effective_from"], "effective_to": iv["effective_to"], **answer})
    return runs


def test_history_of_hong_kong_matches_china(client: TestClient) -> None:
    hk = history(client, H800, {"destination": "HK"})
    assert _answers(hk) == _answers(history(client, H800, CN))
    # from the day the EAR treats Hong Kong as China its intervals say so, and not before
    alias = next(i for i in hk if i["effective_from"] == "2020-12-23")
    assert any("HK is treated as CN" in w for w in alias["warnings"])
    assert not any("HK is treated as CN" in w for w in hk[0]["warnings"])


@pytest.mark.parametrize(
    "params,pointer",
    [
        ({"destination": "ZZ"}, "query:destination"),
        ({"destination": "CN", "headquarters": "XX"}, "query:headquarters"),
        ({"destination": "CN", "parent_headquarters": "QQ"}, "query:parent_headquarters"),
    ],
)
def test_a_history_for_an_unknown_country_is_422_naming_the_query_parameter(
    client: TestClient, params: dict[str, str], pointer: str
) -> None:
    resp = client.get(f"/v1/accelerators/{H100}/history", params=params)
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["code"] == "validation_error"
    assert [e["pointer"] for e in body["errors"]] == [pointer]


def test_before_the_first_rule_change_an_h100_needed_no_licence_and_after_it_did(client: TestClient) -> None:
    """The first interval is answered as of a day before every change date (the Cuba embargo of
    1996-03-25 is the first): no licence then, one from the embargo on."""
    first, second = history(client, H100, {"destination": "CU"})[:2]
    assert (first["effective_from"], first["effective_to"]) == (None, "1996-03-25")
    assert (first["eccn"], first["license_required"], first["reasons"]) == (None, False, [])
    assert (second["effective_from"], second["license_required"]) == ("1996-03-25", True)


def test_a_history_applies_the_headquarters_rule_to_the_end_users_own_headquarters(client: TestClient) -> None:
    iv = at(history(client, H100, {"destination": "SG", "headquarters": "CN"}), date(2024, 6, 1))
    assert iv["license_required"] is True
    assert [(r["basis"], r["detail"]) for r in iv["reasons"]] == [
        ("headquarters", "3A090.a item; end user headquartered in CN")
    ]


def test_a_history_of_an_unknown_accelerator_is_404_naming_it(client: TestClient) -> None:
    resp = client.get("/v1/accelerators/no-such-chip/history", params=CN)
    assert resp.status_code == 404, resp.text
    assert resp.json()["code"] == "unknown_accelerator"
    assert resp.json()["errors"] == [{"pointer": "/accelerator_id", "detail": "unknown accelerator id"}]


@pytest.mark.parametrize("transaction_type", ["export", "reexport", "transfer"])
def test_a_historys_current_interval_answers_as_a_screening_of_the_same_transaction_type_today(
    client: TestClient, transaction_type: str
) -> None:
    current = history(client, H100, {**CN, "transaction_type": transaction_type})[-1]
    body = {
        **CN,
        "end_user": {"name": "Buyer"},
        "transaction_type": transaction_type,
        "lines": [{"key": "a", "accelerator_id": H100, "quantity": 1}],
    }
    line = client.post("/v1/screenings", json=body).json()["lines"][0]
    keys = ("license_required", "reasons", "license_exceptions", "review_policy")
    assert {k: current[k] for k in keys} == {k: line[k] for k in keys}


NO_IO = {
    "id": "acme-noio",
    "vendor": "Acme",
    "model": "No-IO",
    "datacenter": True,
    "throughput": [{"precision": "fp16", "dense_tops": "100", "source": "sheet"}],
    "die_area_mm2": {"value": "800", "source": "sheet"},
    "memory_bandwidth_gbps": {"value": "1000", "source": "sheet"},
    "sources": {"sheet": {"title": "Acme datasheet", "kind": "vendor_datasheet"}},
}


def test_a_history_of_a_catalog_item_missing_a_deciding_figure_is_422_naming_the_figure(client: TestClient) -> None:
    """Memory bandwidth under the 2025 letters' line and no I/O figure: from the letters on, only the
    I/O figure decides, so the history cannot be told and says which figure it needs."""
    created = client.post("/v1/accelerators", json={**NO_IO, "reason": "Acme datasheet"})
    assert created.status_code == 201, created.text
    resp = client.get("/v1/accelerators/acme-noio/history", params=CN)
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["code"] == "undetermined"
    assert "interconnect_bandwidth_gbps" in body["detail"]
    assert [e["pointer"] for e in body["errors"]] == ["/spec/interconnect_bandwidth_gbps"]


ASCEND_910B = "huawei-ascend-910b"
GP10 = "General Prohibition 10"


def test_a_history_carries_an_items_advisory_in_an_interval_starting_after_its_date(client: TestClient) -> None:
    """The Ascend 910B's GP10 advisory (from 2025-05-13) is in the Syria interval that starts on
    2025-09-02, and not in the one before any rule."""
    intervals = history(client, ASCEND_910B, {"destination": "SY"})
    assert any(GP10 in w for w in at(intervals, date(2025, 9, 2))["warnings"])
    assert not any(GP10 in w for w in intervals[0]["warnings"])


def test_a_history_interval_that_a_ranged_figure_decides_says_so_and_is_not_determined(client: TestClient) -> None:
    iv = at(history(client, ASCEND_910B, {"destination": "DE"}), date(2023, 11, 1))
    assert iv["determined"] is False
    assert any(w.startswith("The range decides") for w in iv["warnings"])


def test_a_merged_history_interval_lists_the_rulesets_of_every_change_it_spans(client: TestClient) -> None:
    """H800 to China is not 3A090 from 2022-10-07 until 2023-10-23: the 2023-01-17 change inside
    that span changes nothing, so it is one interval, listing both rule sets."""
    iv = at(history(client, H800, CN), date(2023, 6, 1))
    assert (iv["effective_from"], iv["effective_to"]) == ("2022-10-07", "2023-10-23")
    assert {"ac-2022-10-07", "ac-2023-01-17"} <= set(iv["rulesets"])


def test_a_history_echoes_the_parties_it_was_asked_about(client: TestClient) -> None:
    params = {"destination": "SG", "headquarters": "CN", "parent_headquarters": "MO", "transaction_type": "reexport"}
    resp = client.get(f"/v1/accelerators/{H100}/history", params=params)
    assert resp.status_code == 200, resp.text
    assert {k: resp.json()[k] for k in params} == params


GP10 = "General Prohibition 10"


def test_an_advisory_taking_effect_starts_an_interval_that_carries_it(client: TestClient) -> None:
    """General Prohibition 10 on the Ascend 910B applies from 2025-05-13, a day no ruleset changes:
    the history used to merge it into the interval from 2023-11-17 and drop it, so the current
    interval lacked the advisory a classification made today carries."""
    intervals = history(client, "huawei-ascend-910b", {"destination": "DE"})
    starting = next(i for i in intervals if i["effective_from"] == "2025-05-13")
    before = next(i for i in intervals if i["effective_to"] == "2025-05-13")
    assert any(GP10 in w for w in starting["warnings"])
    assert not any(GP10 in w for w in before["warnings"])
    today = client.get("/v1/accelerators/huawei-ascend-910b/classification").json()
    assert any(GP10 in w for w in today["warnings"]) and any(GP10 in w for w in intervals[-1]["warnings"])


@pytest.mark.parametrize("accelerator", [H100, H20, "huawei-ascend-910b"])
@pytest.mark.parametrize("params", [CN, {"destination": "MY"}, SG_KH])
def test_neighbouring_intervals_always_differ_in_answer_or_warnings(
    client: TestClient, accelerator: str, params: dict[str, str]
) -> None:
    intervals = history(client, accelerator, params)
    fields = ("eccn", "license_required", "reasons", "license_exceptions", "review_policy", "summary", "warnings")
    for a, b in itertools.pairwise(intervals):
        assert a["effective_to"] == b["effective_from"]
        assert any(a[f] != b[f] for f in fields), (a["effective_from"], b["effective_from"])
