"""The reference-data version every answer reports (``data_version``) is derived from the content of
app/data: it changes when any data file changes, and an identical copy has the same version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from app.regulations.loader import DATA_DIR, VERSION_DIGITS, read_reference_files

MANIFEST = yaml.safe_load((DATA_DIR / "manifest.yaml").read_text(encoding="utf-8"))


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def test_the_version_is_the_manifest_label_and_a_digest_of_the_content() -> None:
    files = read_reference_files()
    assert files.version == f"{MANIFEST['version']}-{files.digest[:VERSION_DIGITS]}"


def test_every_data_file_is_in_the_digest() -> None:
    """A file the manifest does not list would change answers without changing the version."""
    on_disk = {p.name for p in DATA_DIR.glob("*.yaml")} - {"manifest.yaml"}
    assert on_disk == set(MANIFEST["files"])


def test_an_identical_copy_of_the_data_has_the_same_version(tmp_path: Path) -> None:
    assert read_reference_files(_copy(tmp_path)).version == read_reference_files().version


@pytest.mark.parametrize("name", sorted(MANIFEST["files"]))
def test_changing_any_data_file_changes_the_version_without_a_manual_bump(tmp_path: Path, name: str) -> None:
    data = _copy(tmp_path)
    with (data / name).open("a", encoding="utf-8") as fh:
        fh.write("\n# an edit that changes the file but not its meaning\n")
    changed = read_reference_files(data).version
    assert changed != read_reference_files().version
    assert changed.startswith(f"{MANIFEST['version']}-")
