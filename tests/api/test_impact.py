"""Impact analysis over HTTP and the CLI: the 2025-04-09 letters make exactly the H20-class parts
licensable to China/Macau/D:5 and nothing else; the 2026-02-03 Cambodia change lifts the
headquarters rule for a KH-parent buyer; a no-op has no impact; stored screenings that would
come out differently are counted and paged; nothing is stored by a dry run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.regulations import loader
from tests.conftest import new_key

FILES = loader.read_reference_files()
LETTERS = next(d for d in FILES.rulesets if d.id == "bandwidth-letters-2025-04-09").model_dump(mode="json")
KH_REMOVAL = next(c for c in FILES.group_changes if c.country == "KH").model_dump(mode="json")
# the parts the 2025-04-09 letters made licensable: not 3A090, and over the reported bandwidths.
# Not among them: the MI308X and RTX Pro 6000D (3A090.a as catalogued, licensed already) and the
# RTX 5090 D V2 (1,344 GB/s, designed under the 1,400 GB/s line)
LETTER_PARTS = {"nvidia-h20-96gb", "nvidia-geforce-rtx-5090-d"}
NOT_LETTER_PARTS = {"amd-instinct-mi308x", "nvidia-rtx-pro-6000d", "nvidia-geforce-rtx-5090-d-v2"}
runner = CliRunner()


def _impact(client: TestClient, **body: Any) -> dict[str, Any]:
    resp = client.post("/v1/impact", json=body)
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


def _rows(result: dict[str, Any], profile: str = "headquartered locally") -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in result["differences"]:
        if d["profile"] == profile:
            out.setdefault(d["accelerator_id"], []).append(d)
    return out


def test_replaying_the_2025_04_09_letters_lists_exactly_the_parts_that_became_licensable(client: TestClient) -> None:
    result = _impact(client, ruleset=LETTERS, on="2025-04-09")
    catalog = {i["id"] for i in client.get("/v1/accelerators", params={"limit": 200}).json()["items"]}
    now_required = {d["accelerator_id"] for d in result["differences"] if "licence now required" in d["summary"]}
    assert now_required == LETTER_PARTS
    assert not NOT_LETTER_PARTS & now_required and catalog >= NOT_LETTER_PARTS
    for item in now_required:
        (local,) = _rows(result)[item]
        assert {"CN", "HK", "MO"} <= set(local["destinations"]) and not {"SG", "US", "DE"} & set(local["destinations"])
        # embargoed D:5 destinations (RU, IR, ...) needed a licence already under part 746
        assert "RU" not in local["destinations"] and {"CN", "HK", "MO"} <= set(
            local["summary"].split(": ")[0].split(", ")
        )
        assert ": licence now required" in local["summary"]
        assert local["before"]["license_required"] is False and local["after"]["license_required"] is True
    # items already licensed under 742.6 only lose exceptions the letter does not offer; nothing else moves
    for d in result["differences"]:
        if d["accelerator_id"] not in now_required:
            assert d["before"]["license_required"] is True and d["after"]["license_required"] is True
            assert d["before"]["review_policy"] == d["after"]["review_policy"]
    assert result["eccn_changes"] == [] and result["countries"] == len(loader.COUNTRY_NAMES)
    assert client.get("/v1/changes", params={"limit": 1}).json()["items"][0]["actor_kind"] == "seed"  # dry run


def test_the_cambodia_change_lifts_the_headquarters_rule_for_a_kh_parent_buyer(client: TestClient) -> None:
    result = _impact(client, country_group_change=KH_REMOVAL)
    assert result["after_on"] == "2026-02-03"
    kh_parent = [d for d in result["differences"] if d["profile"] == "parent headquartered in KH"]
    h100 = [d for d in kh_parent if d["accelerator_id"] == "nvidia-h100-sxm5-80gb"]
    lifted = next(d for d in h100 if d["after"]["license_required"] is False)
    assert {"DE", "SG", "JP"} <= set(lifted["destinations"]) and not {"CN", "US"} & set(lifted["destinations"])
    assert lifted["before"]["review_policy"] == "presumption of denial"
    assert "licence no longer required" in lifted["summary"]
    local_kh = _rows(result)["nvidia-h100-sxm5-80gb"]
    assert [d["destinations"] for d in local_kh] == [["KH"]]
    assert local_kh[0]["after"]["review_policy"] == "presumption of approval"  # still D:1


def test_a_no_op_change_has_an_empty_impact(client: TestClient) -> None:
    # US into A:6 (a group the rules read only to except countries outside D:1/D:4)
    noop = {
        "group": "A:6",
        "country": "US",
        "action": "add",
        "effective": "2027-01-01",
        "citation": {"source": "Test", "source_kind": "regulation"},
    }
    result = _impact(client, country_group_change=noop)
    assert result["differences"] == [] and result["eccn_changes"] == [] and result["summary"] == []
    same = client.get("/v1/accelerators/nvidia-l40-48gb").json()
    same.pop("data_version")
    assert _impact(client, accelerator=same)["differences"] == []


def test_impact_names_stored_screenings_that_would_come_out_differently_paged(client: TestClient) -> None:
    def screen(item: str, destination: str) -> str:
        body = {
            "destination": destination,
            "end_user": {"name": "Buyer", "headquarters": destination},
            "lines": [{"key": "1", "accelerator_id": item, "quantity": 1}],
        }
        resp = client.post("/v1/screenings", json=body)
        assert resp.status_code == 201, resp.text
        screening_id: str = resp.json()["id"]
        return screening_id

    affected = [screen("nvidia-h20-96gb", "CN"), screen("nvidia-h20-96gb", "MO")]
    screen("nvidia-h20-96gb", "DE")
    screen("nvidia-geforce-rtx-4090", "CN")
    first = _impact(client, ruleset=LETTERS, on="2025-04-09", screenings_limit=1)
    assert (first["screenings"]["checked"], first["screenings"]["differing"]) == (4, 2)
    assert first["screenings"]["ids"] == affected[:1] and first["screenings"]["next_cursor"]
    cursor = first["screenings"]["next_cursor"]
    second = _impact(client, ruleset=LETTERS, on="2025-04-09", screenings_limit=1, screenings_cursor=cursor)
    assert second["screenings"]["ids"] == affected[1:] and second["screenings"]["next_cursor"] is None


def test_a_stored_change_can_be_replayed_by_id(client: TestClient) -> None:
    changes = client.get("/v1/changes", params={"kind": "country_group_change", "limit": 10}).json()["items"]
    kh = next(c for c in changes if c["subject"] == "D:5 KH remove 2026-02-03")
    by_id = _impact(client, change_id=kh["id"])
    by_document = _impact(client, country_group_change=KH_REMOVAL)
    assert by_id["differences"] == by_document["differences"] and by_id["change"].startswith(f"change {kh['id']}")
    missing = client.post("/v1/impact", json={"change_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_change"


def test_a_typoed_proposal_is_422_naming_the_field_and_a_read_key_may_ask(client: TestClient) -> None:
    bad = {
        **LETTERS,
        "destination_rules": [{**LETTERS["destination_rules"][0], "review_policy": "presumption of denyal"}],
    }
    reader = TestClient(client.app, headers={"Authorization": f"Bearer {new_key(client, 'read')}"})
    resp = reader.post("/v1/impact", json={"ruleset": bad})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["pointer"] == "/destination_rules/0/review_policy"
    assert (
        reader.post("/v1/impact", json={"ruleset": LETTERS, "change_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}).status_code
        == 422
    )
    assert reader.post("/v1/impact", json={"country_group_change": KH_REMOVAL}).status_code == 200


def test_published_changes_between_two_dates_around_the_letters(client: TestClient) -> None:
    resp = client.get("/v1/impact", params={"from": "2025-04-01", "to": "2025-04-30"})
    assert resp.status_code == 200, resp.text
    (step,) = resp.json()["steps"]
    assert step["date"] == "2025-04-09" and step["changes"] == ["ruleset bandwidth-letters-2025-04-09 takes effect"]
    assert {"nvidia-h20-96gb", "nvidia-geforce-rtx-5090-d"} <= {
        d["accelerator_id"] for d in step["impact"]["differences"] if "licence now required" in d["summary"]
    }
    assert client.get("/v1/impact", params={"from": "2025-05-01", "to": "2025-04-01"}).status_code == 422
    steps = client.get("/v1/impact", params={"from": "2026-01-01", "to": "2026-03-01"}).json()["steps"]
    assert [s["date"] for s in steps] == ["2026-01-15", "2026-02-03"]


def test_a_long_range_is_answered_a_few_change_dates_at_a_time_and_pages_to_the_end(client: TestClient) -> None:
    """Each change date is a whole catalog x world comparison: an answer holds at most `limit`
    dates and says where to go on; paging visits every date once, in order."""
    seen: list[str] = []
    start = "2022-01-01"
    while True:
        page = client.get("/v1/impact", params={"from": start, "to": "2026-12-31", "limit": "6"}).json()
        assert 1 <= len(page["steps"]) <= 6
        seen += [s["date"] for s in page["steps"]]
        if page["next_from"] is None:
            break
        assert page["next_from"] == page["steps"][-1]["date"]
        start = page["next_from"]
    assert seen == sorted(set(seen)) and len(seen) > 6
    assert {"2025-04-09", "2026-01-15", "2026-02-03"} <= set(seen)
    assert client.get("/v1/impact", params={"from": start, "to": "2026-12-31", "limit": "17"}).status_code == 422


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CHIPCLASS_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_chipclass_impact_prints_a_readable_table(env: str, tmp_path: Path) -> None:
    path = tmp_path / "kh.yaml"
    path.write_text(yaml.safe_dump({"country_group_change": KH_REMOVAL}), encoding="utf-8")
    result = runner.invoke(cli, ["impact", str(path)])
    assert result.exit_code == 0, result.output
    assert "Impact of KH removed from D:5 on 2026-02-03" in result.stdout
    assert "buyer parent headquartered in KH; every country but" in result.stdout
    assert "licence no longer required" in result.stdout
    letters = tmp_path / "letters.yaml"
    letters.write_text(yaml.safe_dump(LETTERS), encoding="utf-8")
    result = runner.invoke(cli, ["impact", str(letters), "--on", "2025-04-08"])
    assert result.exit_code == 0 and "No difference" in result.stdout  # not yet in force that day
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**KH_REMOVAL, "group": "D:9"}), encoding="utf-8")
    result = runner.invoke(cli, ["impact", str(bad)])
    assert result.exit_code == 2 and "/group" in result.stderr
