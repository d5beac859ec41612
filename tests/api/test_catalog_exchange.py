"""Catalog CSV/YAML exchange: canonical export, per-row validation naming row, column and reason."""

from __future__ import annotations

import csv
import io

import pytest

from app.catalog import exchange
from app.catalog.schemas import AcceleratorCreate
from app.regulations import loader


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
