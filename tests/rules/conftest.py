"""The rule book built once from the shipped reference files, and the catalog's specs."""

from __future__ import annotations

import pytest

from app.catalog.service import spec_from_record
from app.regulations import loader
from app.rules.book import RuleBook, Spec


@pytest.fixture(scope="session")
def files() -> loader.ReferenceFiles:
    return loader.read_reference_files()


@pytest.fixture(scope="session")
def book(files: loader.ReferenceFiles) -> RuleBook:
    return loader.build_book(files, files.rulesets, files.group_changes, "test")


@pytest.fixture(scope="session")
def catalog(files: loader.ReferenceFiles) -> dict[str, Spec]:
    """Catalog id -> the spec the engine reads."""
    return {record.id: spec_from_record(record) for record in files.accelerators}
