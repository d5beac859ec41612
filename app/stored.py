"""Stored reference documents: one way to check a document, used before it is written and when it is
read back.

A write stores exactly the JSON ``as_stored`` returns, and only after reading that JSON back the way
every replica's snapshot will (``app.regulations.loader.load_ruleset`` and
``load_group_change``, ``app.catalog.service.load_accelerator``); so a write either commits a document that
loads, or is refused with nothing committed. The snapshot uses the same ``load_*`` functions, and a stored row
that fails them anyway (written by an older version, edited in the database, or refused by a newer,
stricter validation) is left out of the rules and reported (``Rejected``), never allowed to stop the
service. Extend the checks here, and both paths get them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


class StoredDocumentError(ValueError):
    """A document that would not load once stored: ``pointer`` says where (JSON pointer)."""

    def __init__(self, message: str, pointer: str = "/") -> None:
        super().__init__(message)
        self.pointer = pointer


@dataclass(frozen=True)
class Rejected:
    """A stored record left out of the rules, and why."""

    kind: str  # accelerator, ruleset, country_group_change
    key: str
    reason: str


def as_stored(model: BaseModel) -> dict[str, Any]:
    """The document exactly as the JSON column will hand it back."""
    loaded: dict[str, Any] = json.loads(json.dumps(model.model_dump(mode="json")))
    return loaded


def problem(exc: ValidationError) -> StoredDocumentError:
    first = exc.errors()[0]
    pointer = "/" + "/".join(str(p) for p in first.get("loc", ()))
    return StoredDocumentError(
        f"{pointer}: {first.get('msg', 'invalid')} (as it would be stored and read back)", pointer
    )
