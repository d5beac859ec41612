"""The in-memory snapshot the hot path reads, and the store that swaps it atomically.

The database is the source of truth for rulesets, Country Group changes and the catalog;
the reference revision (``app.revision``) tells every replica when to rebuild.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app import revision
from app.catalog.service import CatalogView, load_catalog
from app.errors import DomainError
from app.regulations import loader
from app.regulations.models import CountryGroupChange, Ruleset
from app.regulations.schemas import GroupChangeDoc, RulesetDoc
from app.rules.book import RuleBook

log = logging.getLogger("chipclass.snapshot")
T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    book: RuleBook
    revision: int
    rulesets: Mapping[str, RulesetDoc]
    group_changes: tuple[GroupChangeDoc, ...]
    catalog: CatalogView
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)
    """Engine results for this snapshot's rules (keyed by item, rulesets, party and date)."""

    MEMO_LIMIT: ClassVar[int] = 20_000

    def remember(self, key: object, compute: Callable[[], T]) -> T:
        """The engine is pure, so a result for the same inputs on the same snapshot is reusable."""
        try:
            return self.memo[key]  # type: ignore[return-value]
        except KeyError:
            value = compute()
            if len(self.memo) >= self.MEMO_LIMIT:
                self.memo.clear()
            self.memo[key] = value
            return value

    @property
    def data_version(self) -> str:
        return self.book.data_version


def build(files: loader.ReferenceFiles, session: Session) -> Snapshot:
    rev = revision.current(session)
    docs = [RulesetDoc.model_validate(r.document) for r in session.exec(select(Ruleset))]
    changes = [
        GroupChangeDoc.model_validate(c.fields())
        for c in session.exec(select(CountryGroupChange).order_by(col(CountryGroupChange.id)))
    ]
    book = loader.build_book(files, docs, changes, f"{files.version}+r{rev}")
    return Snapshot(
        book=book,
        revision=rev,
        rulesets=MappingProxyType({d.id: d for d in sorted(docs, key=lambda d: (d.effective_from, d.id))}),
        group_changes=tuple(changes),
        catalog=load_catalog(session),
    )


class SnapshotStore:
    """Holds the current snapshot; ``refresh`` rebuilds it when the revision moved."""

    def __init__(self, engine: Engine, files: loader.ReferenceFiles) -> None:
        self.engine = engine
        self.files = files
        self._current: Snapshot | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> Snapshot:
        snap = self._current
        if snap is None:
            raise RuntimeError("rules not loaded")
        return snap

    @property
    def loaded(self) -> bool:
        return self._current is not None

    def ready(self) -> Snapshot:
        """The current snapshot, or ``not_ready`` (with Retry-After) before the first load."""
        snap = self._current
        if snap is None:
            raise DomainError("not_ready", "Rules are not loaded yet; retry shortly", headers={"Retry-After": "2"})
        return snap

    def refresh(self, force: bool = False) -> bool:
        """Blocking. Returns True when a new snapshot was swapped in."""
        with self._lock:
            with Session(self.engine) as session:
                rev = revision.current(session)
                if not force and self._current is not None and self._current.revision == rev:
                    return False
                snap = build(self.files, session)
            self._current = snap
            log.info("rules loaded", extra={"data_version": snap.data_version, "rulesets": len(snap.rulesets)})
            return True
