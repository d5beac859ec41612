"""Catalog CSV/YAML exchange: canonical export, per-row validation naming row, column and reason."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from app.catalog import exchange
from app.catalog.schemas import AcceleratorCreate
from app.cli import cli
from app.config import get_settings
from app.regulations import loader
from tests.conftest import new_key

runner = CliRunner()


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CHIPCLASS_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def shipped() -> list[AcceleratorCreate]:
    return sorted(loader.read_reference_files().accelerators, key=lambda a: a.id)


@pytest.fixture(scope="module")
def exported(shipped: list[AcceleratorCreate]) -> str:
    return exchange.to_csv(shipped)


def edit(text: str, row_id: str, column: str, value: str) -> str:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        if row["id"] == row_id:
            row[column] = value
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def test_csv_export_parses_back_to_the_same_items_and_the_same_bytes(
    shipped: list[AcceleratorCreate], exported: str
) -> None:
    parsed = exchange.parse_csv(exported)
    assert parsed.problems == []
    assert [i.model_dump() for i in parsed.items] == [i.model_dump() for i in shipped]
    assert exchange.to_csv(parsed.items) == exported


def test_ranges_and_us_availability_survive_the_spreadsheet(exported: str) -> None:
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(exported, newline=""))}
    tpu = rows["google-tpu-v4"]
    assert (tpu["die_area_mm2"], tpu["die_area_mm2_min"], tpu["die_area_mm2_max"]) == ("", "400", "780")
    a800 = rows["nvidia-a800-pcie-80gb"]
    assert (a800["us_available"], a800["us_available_as_of"]) == ("false", "2026-01-15")


def test_the_shipped_yaml_imports_as_the_same_items(shipped: list[AcceleratorCreate], exported: str) -> None:
    text = (loader.DATA_DIR / "accelerators.yaml").read_text(encoding="utf-8")
    parsed = exchange.parse(text, filename="accelerators.yaml")
    assert parsed.problems == []
    assert exchange.to_csv(sorted(parsed.items, key=lambda a: a.id)) == exported


@pytest.mark.parametrize(
    ("column", "value", "reason", "reported"),
    [
        ("datacenter", "maybe", "valid boolean", "datacenter"),
        ("die_area_mm2", "-5", "pattern", "die_area_mm2"),
        ("die_area_mm2_min", "900", "give either value or min and max, not both", "die_area_mm2"),
        ("throughput_1_source", "nowhere", "cites source 'nowhere'", "throughput_1_source"),
        ("us_available_as_of", "15/01/2026", "valid date", "us_available_as_of"),
    ],
)
def test_a_bad_cell_is_reported_with_its_row_column_and_reason(
    exported: str, column: str, value: str, reason: str, reported: str
) -> None:
    parsed = exchange.parse_csv(edit(exported, "nvidia-a40-48gb", column, value))
    assert len(parsed.problems) == 1, parsed.problems
    problem = parsed.problems[0]
    row = 2 + [i.id for i in exchange.parse_csv(exported).items].index("nvidia-a40-48gb")
    assert (problem.row, problem.column, problem.id) == (str(row), reported, "nvidia-a40-48gb")
    assert reason in problem.reason
    assert problem.line().startswith(f"row {row} (nvidia-a40-48gb), column {reported}: ")


def test_a_range_with_min_not_below_max_is_refused(exported: str) -> None:
    text = edit(exported, "google-tpu-v4", "die_area_mm2_min", "800")
    [problem] = exchange.parse_csv(text).problems
    assert problem.column == "die_area_mm2" and "min (800) must be less than max (780)" in problem.reason


def test_duplicate_ids_unknown_columns_and_empty_files_are_reported(exported: str) -> None:
    lines = exported.split("\r\n")
    duplicated = "\r\n".join([*lines[:3], lines[2], *lines[3:]])
    [dup] = exchange.parse_csv(duplicated).problems
    assert (dup.row, dup.column, dup.reason) == ("4", "id", "duplicate of row 3")
    renamed = exported.replace("memory_gb,", "memory_gib,", 1)
    assert [(p.row, p.column, p.reason) for p in exchange.parse_csv(renamed).problems] == [
        ("1", "memory_gib", "unknown column")
    ]
    assert exchange.parse_csv("").problems[0].reason.startswith("the file is empty")


# --- through the service: HTTP and the CLI ------------------------------------------------------


def csv_of(client: TestClient) -> str:
    r = client.get("/v1/accelerators", headers={"Accept": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    return r.content.decode("utf-8")


def import_file(client: TestClient, text: str, dry_run: bool = False, ctype: str = "text/csv") -> Response:
    return client.post(
        "/v1/accelerators/import",
        params={
            "dry_run": str(dry_run).lower(),
            **({} if dry_run else {"reason": "Vendor datasheets 2026-12; EXP-42"}),
        },
        content=text.encode("utf-8"),
        headers={"Content-Type": ctype},
    )


def test_the_catalog_is_served_as_csv_by_accept_header_or_csv_path(client: TestClient, exported: str) -> None:
    by_accept = client.get("/v1/accelerators", headers={"Accept": "text/csv"})
    by_path = client.get("/v1/accelerators.csv")
    assert by_accept.content == by_path.content == exported.encode("utf-8")
    assert by_accept.headers["vary"] == "Accept"
    assert by_accept.headers["content-disposition"].startswith('attachment; filename="chipclass-accelerators-')
    again = client.get("/v1/accelerators.csv", headers={"If-None-Match": by_path.headers["etag"]})
    assert again.status_code == 304
    # JSON stays the default and wins a tie it is listed first in
    for accept in (None, "application/json, text/csv", "text/csv;q=0.5, */*"):
        r = client.get("/v1/accelerators", headers={"Accept": accept} if accept else {})
        assert r.headers["content-type"].startswith("application/json"), accept
    filtered = client.get("/v1/accelerators.csv", params={"vendor": "google"}).text
    assert [r["id"] for r in csv.DictReader(io.StringIO(filtered, newline=""))] == [
        "google-tpu-v4",
        "google-tpu-v5e",
        "google-tpu-v5p",
        "google-tpu-v6e",
        "google-tpu7x-ironwood",
    ]


def test_export_import_export_over_http_is_byte_identical_and_writes_nothing(client: TestClient) -> None:
    first = csv_of(client)
    r = import_file(client, first)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["committed"], body["added"], body["updated"], len(body["unchanged"])) == (False, [], [], 59)
    assert csv_of(client) == first


def test_an_http_import_updates_changed_rows_all_at_once(client: TestClient) -> None:
    text = edit(csv_of(client), "nvidia-a40-48gb", "memory_gb", "96")
    text = edit(text, "google-tpu-v4", "die_area_mm2_min", "700")
    r = import_file(client, text)
    assert r.status_code == 200, r.text
    assert r.json()["updated"] == ["google-tpu-v4", "nvidia-a40-48gb"] and r.json()["committed"] is True
    assert client.get("/v1/accelerators/nvidia-a40-48gb").json()["memory_gb"] == "96"
    assert client.get("/v1/accelerators/google-tpu-v4").json()["die_area_mm2"]["min"] == "700"
    assert csv_of(client) == text


def test_a_dry_run_reports_each_problem_and_a_real_import_with_problems_writes_nothing(client: TestClient) -> None:
    good = csv_of(client)
    text = edit(edit(good, "nvidia-a40-48gb", "datacenter", "perhaps"), "nvidia-l4-24gb", "memory_gb", "32")
    dry = import_file(client, text, dry_run=True)
    assert dry.status_code == 200
    [problem] = dry.json()["problems"]
    assert (problem["column"], problem["id"]) == ("datacenter", "nvidia-a40-48gb")
    assert dry.json()["report"][-1].endswith("nothing was written")
    real = import_file(client, text)
    assert real.status_code == 422
    errors = real.json()["errors"]
    assert errors[0]["pointer"] == f"row:{problem['row']}/column:datacenter"
    assert csv_of(client) == good  # the valid row (L4) was not written either


@pytest.mark.parametrize("ctype", ["application/yaml", "application/octet-stream"])
def test_the_shipped_yaml_format_imports_over_http(client: TestClient, ctype: str) -> None:
    text = (loader.DATA_DIR / "accelerators.yaml").read_text(encoding="utf-8")
    r = import_file(client, text, dry_run=True, ctype=ctype)
    assert r.status_code == 200 and r.json()["problems"] == [] and len(r.json()["unchanged"]) == 59


def test_a_csv_sent_as_octet_stream_is_recognised(client: TestClient) -> None:
    r = import_file(client, csv_of(client), dry_run=True, ctype="application/octet-stream")
    assert r.status_code == 200 and len(r.json()["unchanged"]) == 59


def test_import_needs_a_file_type_and_the_admin_scope(client: TestClient) -> None:
    assert import_file(client, "{}", ctype="application/json").status_code == 415
    assert import_file(client, "x", ctype="text/plain").status_code == 415
    reader = new_key(client, "read")
    r = client.post(
        "/v1/accelerators/import",
        content=b"id\r\n",
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {reader}"},
    )
    assert r.status_code == 403


def test_cli_export_then_import_round_trips_byte_identically(env: str, client: TestClient, tmp_path: Path) -> None:
    out = tmp_path / "catalog.csv"
    assert runner.invoke(cli, ["catalog", "export", "--output", str(out)]).exit_code == 0
    dry = runner.invoke(cli, ["catalog", "import", str(out), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "59 row(s) valid: 0 would be added, 0 would be updated, 59 unchanged" in dry.stdout
    assert runner.invoke(cli, ["catalog", "import", str(out), "--reason", "round trip"]).exit_code == 0
    again = runner.invoke(cli, ["catalog", "export"])
    assert again.stdout_bytes == out.read_bytes()


def test_cli_import_with_a_bad_row_prints_row_column_reason_and_exits_1(
    env: str, client: TestClient, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(edit(csv_of(client), "nvidia-t4-16gb", "throughput_1_precision", "fp12"), newline="")
    result = runner.invoke(cli, ["catalog", "import", str(bad), "--reason", "a bad row"])
    assert result.exit_code == 1
    assert "(nvidia-t4-16gb), column throughput_1_precision: Input should be" in result.stdout
    assert result.stdout.strip().endswith("nothing was written")


def test_an_imported_entry_survives_reseeding_the_shipped_file(env: str, client: TestClient) -> None:
    text = edit(csv_of(client), "nvidia-a40-48gb", "memory_gb", "96")
    assert import_file(client, text).json()["updated"] == ["nvidia-a40-48gb"]
    seeded = runner.invoke(cli, ["seed"])
    assert seeded.exit_code == 0, seeded.output
    assert '"nvidia-a40-48gb"' in seeded.stdout  # reported as kept
    client.app.state.store.refresh(force=True)
    assert client.get("/v1/accelerators/nvidia-a40-48gb").json()["memory_gb"] == "96"


def test_a_file_that_is_not_utf8_is_one_problem_naming_the_byte(client: TestClient) -> None:
    r = client.post(
        "/v1/accelerators/import",
        params={"reason": "test"},
        content=b"id,vendor\r\n\xff\r\n",
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 422
    assert "not UTF-8 (byte 11)" in r.json()["errors"][0]["detail"]
