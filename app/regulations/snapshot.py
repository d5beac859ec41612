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

from app import revision, stored
from app.catalog.service import CatalogView, load_catalog
from app.errors import DomainError
from app.regulations import loader
from app.regulations.models import CountryGroupChange, StoredRuleset
from app.regulations.schemas import GroupChangeDoc, RulesetDoc
from app.rules.book import RuleBook
from app.stored import Rejected

log = logging.getLogger("chipclass.snapshot")
T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    book: RuleBook
    revision: int
    rulesets: Mapping[str, RulesetDoc]
    group_changes: tuple[GroupChangeDoc, ...]
    catalog: CatalogView
    rejected: tuple[Rejected, ...] = ()
    """Stored records left out because they do not load (see app.regulations.stored)."""
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
    """The rules as stored. A stored record that does not load (``stored.load_*``,
    ``catalog.service.load_accelerator``), or that alone keeps the rule book from building, is left
    out and listed in ``rejected``; anything worse raises."""
    rev = revision.current(session)
    rejected: list[Rejected] = []
    docs: list[RulesetDoc] = []
    for r in session.exec(select(StoredRuleset).order_by(col(StoredRuleset.created_at), col(StoredRuleset.id))):
        try:
            docs.append(loader.load_ruleset(r.document))
        except stored.StoredDocumentError as exc:
            rejected.append(Rejected("ruleset", r.id, str(exc)))
    changes: list[tuple[str, GroupChangeDoc]] = []
    for c in session.exec(select(CountryGroupChange).order_by(col(CountryGroupChange.id))):
        try:
            changes.append((str(c.id), loader.load_group_change(c.fields())))
        except stored.StoredDocumentError as exc:
            rejected.append(Rejected("country_group_change", str(c.id), str(exc)))
    book, docs, kept, dropped = _book(files, docs, changes, f"{files.version}+r{rev}")
    rejected += dropped
    catalog = load_catalog(session, rejected)
    return Snapshot(
        book=book,
        revision=rev,
        rulesets=MappingProxyType({d.id: d for d in sorted(docs, key=lambda d: (d.effective_from, d.id))}),
        group_changes=tuple(kept),
        catalog=catalog,
        rejected=tuple(rejected),
    )


def _book(
    files: loader.ReferenceFiles, docs: list[RulesetDoc], changes: list[tuple[str, GroupChangeDoc]], version: str
) -> tuple[RuleBook, list[RulesetDoc], list[GroupChangeDoc], list[Rejected]]:
    """The rule book; if the records together do not build, the newest ruleset (then Country Group
    change) whose removal alone lets it build is left out. Raises when no single record explains it."""
    all_changes = [c for _, c in changes]
    try:
        return loader.build_book(files, docs, all_changes, version), docs, all_changes, []
    except ValueError as exc:
        reason = f"the stored rules do not build with it: {exc}"
        failure: ValueError = exc
    for index in reversed(range(len(docs))):
        rest = docs[:index] + docs[index + 1 :]
        try:
            book = loader.build_book(files, rest, all_changes, version)
        except ValueError:
            continue
        return book, rest, all_changes, [Rejected("ruleset", docs[index].id, reason)]
    for index in reversed(range(len(changes))):
        rest_changes = [c for i, (_, c) in enumerate(changes) if i != index]
        try:
            book = loader.build_book(files, docs, rest_changes, version)
        except ValueError:
            continue
        return book, docs, rest_changes, [Rejected("country_group_change", changes[index][0], reason)]
    raise failure


class SnapshotStore:
    """Holds the current snapshot; ``refresh`` rebuilds it when the revision moved.

    Reference data that fails to load never takes the rules away: a rebuild that fails, or that would
    newly leave a ruleset or Country Group change out, keeps the last good snapshot (``failing`` says
    why, logged once); at start, records that do not load are left out, each logged once.
    """

    def __init__(self, engine: Engine, files: loader.ReferenceFiles) -> None:
        self.engine = engine
        self.files = files
        self._current: Snapshot | None = None
        self._lock = threading.Lock()
        self.failing: str | None = None
        self._reported: set[Rejected] = set()

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

    @property
    def rejected(self) -> tuple[Rejected, ...]:
        snap = self._current
        return snap.rejected if snap is not None else ()

    def _worse_rules(self, snap: Snapshot) -> str | None:
        """Why a running replica keeps its rules rather than swap this snapshot in: a ruleset or Country
        Group change it would newly leave out (answers would lose a rule). At start there are no rules
        to keep, so the service starts without the record; a bad catalog entry is only left out."""
        if self._current is None:
            return None
        before = set(self._current.rejected)
        lost = [r for r in snap.rejected if r.kind != "accelerator" and r not in before]
        if not lost:
            return None
        return "; ".join(f"{r.kind} {r.key} does not load ({r.reason})" for r in lost)

    def refresh(self, force: bool = False) -> bool:
        """Blocking. Returns True when a new snapshot was swapped in."""
        with self._lock:
            with Session(self.engine) as session:
                rev = revision.current(session)
                if not force and self._current is not None and self._current.revision == rev:
                    return False
                try:
                    snap = build(self.files, session)
                    problem = self._worse_rules(snap)
                except (ValueError, stored.StoredDocumentError) as exc:
                    if self._current is None:
                        raise
                    problem = str(exc)
                if problem is not None and self._current is not None:
                    problem = f"revision {rev}: {problem}; serving revision {self._current.revision}"
                    if problem != self.failing:
                        log.error("reload failed, keeping the last good rules: %s", problem)
                    self.failing = problem
                    return False
            self._current = snap
            self.failing = None
            for record in snap.rejected:
                if record not in self._reported:
                    log.error(
                        "stored %s %s left out of the rules: %s (see `chipclass reference check`)",
                        record.kind,
                        record.key,
                        record.reason,
                        extra={"kind": record.kind, "key": record.key},
                    )
            self._reported = set(snap.rejected)
            log.info("rules loaded", extra={"data_version": snap.data_version, "rulesets": len(snap.rulesets)})
            return True
