"""The reference-data change log: every path (admin HTTP, CLI, seed) records who, when, why and the
document in the same transaction as the change; the chain verifies and names an altered or
missing record; GET /v1/changes pages newest first, filters by kind and date, audit scope only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import exc, text
from sqlalchemy.engine import Connection, Engine
from typer.testing import CliRunner

from app.changes import service as changelog
from app.cli import cli
from app.config import get_settings
from app.db import make_engine
from app.regulations import loader
from tests.conftest import make_settings, new_key

runner = CliRunner()
SHIPPED = loader.read_reference_files()
SHIPPED_DOCUMENTS = len(SHIPPED.rulesets) + len(SHIPPED.group_changes) + len(SHIPPED.accelerators)

RULESET: dict[str, Any] = {
    "id": "test-th-2027-01-01",
    "family": "test-thailand",
    "title": "Test: licence for 3A090.a to Thailand",
    "effective_from": "2027-01-01",
    "source_kind": "regulation",
    "citations": [{"source": "Test FR citation", "source_kind": "regulation"}],
    "destination_rules": [
        {
            "id": "test-th",
            "label": "3A090.a to TH",
            "citation": "test",
            "items": {"eccns": ["3A090.a"]},
            "destinations": {"countries": ["TH"]},
            "review_policy": "case-by-case",
        }
    ],
}
GROUP_CHANGE: dict[str, Any] = {
    "group": "D:5",
    "country": "TH",
    "action": "add",
    "effective": "2027-02-01",
    "citation": {"source": "Test rule", "source_kind": "regulation"},
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(make_settings(database_url))
    yield eng
    eng.dispose()


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CHIPCLASS_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _newest(client: TestClient, **params: str) -> dict[str, Any]:
    page = client.get("/v1/changes", params={"limit": "1", **params}).json()
    item: dict[str, Any] = page["items"][0]
    return item


def test_seeding_records_each_shipped_document_as_actor_seed_with_the_version_as_reason(engine: Engine) -> None:
    rows, _ = changelog.page(engine, limit=1000)
    assert len(rows) == SHIPPED_DOCUMENTS
    assert {(r.actor_kind, r.actor_name, r.actor_id) for r in rows} == {("seed", "seed", None)}
    assert {r.reason for r in rows} == {f"shipped reference data {SHIPPED.version}"}
    kh = next(r for r in rows if r.kind == "country_group_change" and "KH" in r.subject)
    assert kh.subject == "D:5 KH remove 2026-02-03" and json.loads(kh.document)["action"] == "remove"
    assert kh.retroactive is True  # shipped history is in the past by nature
    h20 = next(r for r in rows if r.kind == "accelerator" and r.subject == "nvidia-h20-96gb")
    assert json.loads(h20.document)["vendor"] == "NVIDIA" and h20.effective is None


def test_admin_http_changes_record_the_key_id_name_reason_and_document(client: TestClient) -> None:
    created = client.post("/v1/rulesets", json={**RULESET, "reason": "EXP-1 new rule"})
    assert created.status_code == 201, created.text
    change = _newest(client)
    assert created.json()["change_id"] == change["id"]
    assert (change["kind"], change["subject"], change["reason"]) == ("ruleset", RULESET["id"], "EXP-1 new rule")
    assert (change["actor_kind"], change["actor_id"], change["actor_name"]) == (
        "api_key",
        "testadmin",
        "bootstrap-admin",
    )
    assert change["document"]["destination_rules"][0]["destinations"] == {"countries": ["TH"]} | {
        "all_countries": False,
        "groups": [],
        "except_groups": [],
        "except_countries": [],
    }
    assert "reason" not in change["document"] and change["effective"] == "2027-01-01"

    assert client.post("/v1/country-group-changes", json={**GROUP_CHANGE, "reason": "EXP-2"}).status_code == 201
    change = _newest(client)
    assert (change["kind"], change["subject"], change["reason"]) == (
        "country_group_change",
        "D:5 TH add 2027-02-01",
        "EXP-2",
    )

    assert client.get("/v1/changes/verify").json()["ok"] is True


@pytest.mark.parametrize("reason", [None, "", "   ", "line\x00break"])
def test_a_change_without_a_usable_reason_is_422_and_stores_nothing(client: TestClient, reason: str | None) -> None:
    body = dict(RULESET) if reason is None else {**RULESET, "reason": reason}
    resp = client.post("/v1/rulesets", json=body)
    assert resp.status_code == 422 and any(e["pointer"] == "/reason" for e in resp.json()["errors"])
    assert client.get(f"/v1/rulesets/{RULESET['id']}").status_code == 404
    assert _newest(client)["actor_kind"] == "seed"


ACME: dict[str, Any] = {
    "id": "acme-x9",
    "vendor": "Acme",
    "model": "X9",
    "datacenter": True,
    "throughput": [{"precision": "fp16", "dense_tops": "400", "source": "sheet"}],
    "die_area_mm2": {"value": "600", "source": "sheet"},
    "sources": {"sheet": {"title": "Acme X9 datasheet", "kind": "vendor_datasheet"}},
}


def test_catalog_writes_are_checked_and_recorded_with_who_and_why(client: TestClient) -> None:
    """POST /v1/accelerators and the import record one change per entry written, with the key and
    the reason; an entry with an implausible figure is 422 naming it, and nothing is recorded."""
    missing = client.post("/v1/accelerators", json=ACME)
    assert missing.status_code == 422 and any(e["pointer"] == "/reason" for e in missing.json()["errors"])
    huge = {**ACME, "die_area_mm2": {"value": "700000", "source": "sheet"}}
    rejected = client.post("/v1/accelerators", json={**huge, "reason": "typo'd die area"})
    assert rejected.status_code == 422, rejected.text
    assert [e["pointer"] for e in rejected.json()["errors"]] == ["/die_area_mm2/value"]
    assert "plausible maximum" in rejected.json()["errors"][0]["detail"]
    assert _newest(client)["actor_kind"] == "seed" and client.get("/v1/accelerators/acme-x9").status_code == 404

    created = client.post("/v1/accelerators", json={**ACME, "reason": "Acme X9 datasheet rev 2; EXP-7"})
    assert created.status_code == 201, created.text
    change = _newest(client, kind="accelerator")
    assert (change["subject"], change["reason"], change["actor_kind"], change["actor_id"]) == (
        "acme-x9",
        "Acme X9 datasheet rev 2; EXP-7",
        "api_key",
        "testadmin",
    )
    assert change["document"]["model"] == "X9" and "reason" not in change["document"]

    csv = client.get("/v1/accelerators.csv").text.replace(",X9,", ",X9 refresh,")
    headers = {"Content-Type": "text/csv"}
    no_reason = client.post("/v1/accelerators/import", content=csv.encode(), headers=headers)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["pointer"] == "/reason"
    dry = client.post("/v1/accelerators/import", params={"dry_run": "true"}, content=csv.encode(), headers=headers)
    assert dry.status_code == 200 and dry.json()["updated"] == ["acme-x9"]
    imported = client.post(
        "/v1/accelerators/import", params={"reason": "quarterly refresh"}, content=csv.encode(), headers=headers
    )
    assert imported.status_code == 200, imported.text
    change = _newest(client, kind="accelerator")
    assert (change["subject"], change["reason"], change["document"]["model"]) == (
        "acme-x9",
        "quarterly refresh",
        "X9 refresh",
    )
    assert client.get("/v1/changes/verify").json()["ok"] is True


def test_cli_catalog_import_needs_a_reason_and_records_actor_cli(env: str, client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(client.get("/v1/accelerators.csv").content.replace(b",HGX H20 96GB,", b",HGX H20 (96 GB),"))
    refused = runner.invoke(cli, ["catalog", "import", str(path)])
    assert refused.exit_code == 2 and "--reason is required" in refused.stderr
    done = runner.invoke(cli, ["catalog", "import", str(path), "--reason", "model name as marketed"])
    assert done.exit_code == 0, done.output
    change = _newest(client, kind="accelerator")
    assert (change["subject"], change["actor_kind"], change["reason"]) == (
        "nvidia-h20-96gb",
        "cli",
        "model name as marketed",
    )


def test_cli_changes_add_records_actor_cli_and_verify_passes(env: str, client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text(yaml.safe_dump({"ruleset": RULESET}), encoding="utf-8")
    result = runner.invoke(cli, ["changes", "add", str(path), "--reason", "EXP-4 from the CLI"])
    assert result.exit_code == 0, result.output
    change = _newest(client)
    assert (change["actor_kind"], change["actor_name"], change["actor_id"]) == ("cli", "cli", None)
    assert change["reason"] == "EXP-4 from the CLI" and change["subject"] == RULESET["id"]
    listed = runner.invoke(cli, ["changes", "list", "--limit", "1"])
    assert RULESET["id"] in listed.stdout and "EXP-4 from the CLI" in listed.stdout
    verified = runner.invoke(cli, ["changes", "verify"])
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True


def test_cli_changes_add_refuses_a_bad_document_naming_the_field(env: str, tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "rule.yaml"
    bad = {
        **RULESET,
        "destination_rules": [{**RULESET["destination_rules"][0], "review_policy": "presumption of denyal"}],
    }
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    result = runner.invoke(cli, ["changes", "add", str(path), "--reason", "typo"])
    assert result.exit_code == 2
    assert "/destination_rules/0/review_policy" in result.stderr and "'presumption of denial'" in result.stderr
    assert len(changelog.page(engine, limit=1000)[0]) == SHIPPED_DOCUMENTS


def test_change_log_pages_newest_first_and_filters_by_kind_and_date(client: TestClient) -> None:
    for i in range(3):
        body = {**RULESET, "id": f"test-th-2027-0{i + 1}-01", "family": f"test-th-{i}", "reason": f"EXP-{i}"}
        body["effective_from"] = f"2027-0{i + 1}-01"
        assert client.post("/v1/rulesets", json=body).status_code == 201
    first = client.get("/v1/changes", params={"limit": 2}).json()
    assert [c["reason"] for c in first["items"]] == ["EXP-2", "EXP-1"]
    second = client.get("/v1/changes", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert second["items"][0]["reason"] == "EXP-0"
    seqs = [c["seq"] for c in first["items"] + second["items"]]
    assert seqs == sorted(seqs, reverse=True)
    groups = client.get("/v1/changes", params={"kind": "country_group_change", "limit": 200}).json()["items"]
    assert {c["kind"] for c in groups} == {"country_group_change"} and len(groups) == len(SHIPPED.group_changes)
    today = datetime.now(UTC).date()
    assert len(client.get("/v1/changes", params={"since": today.isoformat(), "limit": 200}).json()["items"]) > 3
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert client.get("/v1/changes", params={"since": tomorrow}).json()["items"] == []
    yesterday = (today - timedelta(days=1)).isoformat()
    assert client.get("/v1/changes", params={"until": yesterday}).json()["items"] == []
    assert client.get("/v1/changes", params={"cursor": "%%%"}).status_code == 422
    assert client.get("/v1/changes", params={"kind": "rulesets"}).status_code == 422


def test_change_log_needs_the_audit_scope(client: TestClient) -> None:
    reader = TestClient(client.app, headers={"Authorization": f"Bearer {new_key(client, 'read', 'screen')}"})
    assert reader.get("/v1/changes").status_code == 403
    auditor = TestClient(client.app, headers={"Authorization": f"Bearer {new_key(client, 'audit')}"})
    assert auditor.get("/v1/changes").status_code == 200
    assert auditor.get("/v1/changes/verify").json()["ok"] is True


@contextmanager
def tamper(engine: Engine) -> Iterator[Connection]:
    """The append-only guard dropped, as someone with DDL rights could."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE reference_change DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS reference_change_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS reference_change_no_delete"))
        yield conn


@pytest.mark.parametrize("statement", ["UPDATE reference_change SET reason = 'x'", "DELETE FROM reference_change"])
def test_the_database_refuses_to_change_or_delete_a_change_record(engine: Engine, statement: str) -> None:
    with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    assert changelog.verify(engine).ok


def test_verification_names_a_change_whose_reason_was_altered(engine: Engine) -> None:
    with tamper(engine) as conn:
        conn.execute(text("UPDATE reference_change SET reason = 'nobody asked' WHERE seq = 3"))
    result = changelog.verify(engine)
    assert not result.ok and result.first_broken_seq == 3 and "altered" in (result.problem or "")
    assert result.checked == 2


def test_verification_detects_a_deleted_last_change(env: str, engine: Engine) -> None:
    with tamper(engine) as conn:
        conn.execute(text("DELETE FROM reference_change WHERE seq = (SELECT MAX(seq) FROM reference_change)"))
    result = changelog.verify(engine)
    assert not result.ok and "head" in (result.problem or "")
    failed = runner.invoke(cli, ["changes", "verify"])
    assert failed.exit_code == 1 and json.loads(failed.stdout)["ok"] is False
