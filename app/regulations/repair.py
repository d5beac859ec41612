"""What an admin needs when stored reference data does not load: see which records the rules leave
out and why (``check``), and retire one (``retire``: the row is deleted, its document returned for the
record, and every replica reloads). The same checks as the service's snapshot (``stored.load_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import revision
from app.catalog import service as catalog
from app.decisions.service import ruleset_used
from app.regulations import loader, snapshot
from app.regulations.models import CountryGroupChange, StoredRuleset
from app.stored import Rejected


@dataclass(frozen=True)
class Check:
    rejected: tuple[Rejected, ...]
    error: str | None  # the rules do not build at all, even leaving single records out
    data_version: str | None


def check(engine: Engine, files: loader.ReferenceFiles) -> Check:
    with Session(engine) as session:
        try:
            snap = snapshot.build(files, session)
        except ValueError as exc:
            return Check((), str(exc), None)
    return Check(snap.rejected, None, snap.data_version)


class RetireError(ValueError):
    pass


def retire(engine: Engine, kind: str, key: str) -> dict[str, Any]:
    """Delete one stored record and bump the reference revision; returns what was stored."""
    with Session(engine) as session:
        revision.bump(session)  # serialise with reference writers; replicas reload on the new revision
        document: dict[str, Any] | None
        if kind == "accelerator":
            document = catalog.retire_accelerator(session, key)
        elif kind == "ruleset":
            row = session.get(StoredRuleset, key)
            if row is not None and ruleset_used(session, key):
                raise RetireError(
                    f"ruleset {key} was used by recorded decisions and stays in the log's history; "
                    "publish a corrected ruleset that supersedes it instead"
                )
            document = _delete(session, row)
        elif kind == "country_group_change":
            document = _delete(session, session.get(CountryGroupChange, int(key)) if key.isdigit() else None)
        else:
            raise RetireError(f"kind must be accelerator, ruleset or country_group_change, not {kind!r}")
        if document is None:
            raise RetireError(f"no stored {kind} {key!r}")
        session.commit()
    return document


def _delete(session: Session, row: StoredRuleset | CountryGroupChange | None) -> dict[str, Any] | None:
    if row is None:
        return None
    document = row.model_dump(mode="json")
    session.delete(row)
    return document
