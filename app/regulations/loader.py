"""Reference data: read the shipped files, and build the in-memory RuleBook from documents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pycountry
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from app import stored
from app.catalog.schemas import AcceleratorCreate
from app.catalog.service import parse_shipped
from app.decimals import ThresholdDecimal
from app.regulations.schemas import CitationDoc, CountrySetDoc, GroupChangeDoc, ItemScopeDoc, RulesetDoc
from app.rules import book
from app.rules.metrics import METRICS
from app.vocabulary import CountryCode, GroupCode

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
VERSION_DIGITS = 12
"""Hex digits of the content digest in the data version (48 bits: a collision is not a concern)."""

COUNTRY_NAMES: MappingProxyType[str, str] = MappingProxyType(
    {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}
)


class DefinitionsDoc(BaseModel):
    citation: CitationDoc
    bit_lengths: dict[str, int]
    eccn_order: list[str]
    assembly_eccns: dict[str, str]
    review_policy_order: list[str]
    license_exceptions: dict[str, str]
    plausible_maximum: dict[str, ThresholdDecimal]


class AliasDoc(BaseModel):
    country: str
    treated_as: str
    effective_from: date
    citation: CitationDoc


class AdvisoryDoc(BaseModel):
    id: str
    text: str
    countries: list[str] = []
    groups: list[str] = []
    accelerators: list[str] = []
    effective_from: date | None = None
    citation: CitationDoc


@dataclass(frozen=True)
class ReferenceFiles:
    """Everything shipped under app/data, parsed and validated."""

    version: str  # the manifest's label and the content digest: changes exactly when a file does
    digest: str  # SHA-256 over every file the manifest lists (name and bytes)
    definitions: DefinitionsDoc
    aliases: list[AliasDoc]
    advisories: list[AdvisoryDoc]
    rulesets: list[RulesetDoc]
    group_base: dict[str, list[str]]
    group_citation: CitationDoc
    group_changes: list[GroupChangeDoc]
    accelerators: list[AcceleratorCreate] = field(default_factory=list)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)  # noqa: S506 (a safe loader, C or Python)


@lru_cache(maxsize=4)
def read_reference_files(data_dir: Path = DATA_DIR) -> ReferenceFiles:
    """Parse and validate the shipped files (cached: they do not change while a process runs)."""
    manifest = _yaml(data_dir / "manifest.yaml")
    digest = hashlib.sha256()
    for name in sorted(manifest["files"]):
        digest.update(name.encode() + b"\0" + (data_dir / name).read_bytes())
    rules = _yaml(data_dir / "rulesets.yaml")
    groups = _yaml(data_dir / "country_groups.yaml")
    return ReferenceFiles(
        version=f"{manifest['version']}-{digest.hexdigest()[:VERSION_DIGITS]}",
        digest=digest.hexdigest(),
        definitions=DefinitionsDoc.model_validate(rules["definitions"]),
        aliases=TypeAdapter(list[AliasDoc]).validate_python(rules["country_aliases"]),
        advisories=TypeAdapter(list[AdvisoryDoc]).validate_python(_yaml(data_dir / "advisories.yaml")["advisories"]),
        rulesets=TypeAdapter(list[RulesetDoc]).validate_python(rules["rulesets"]),
        group_base=TypeAdapter(dict[GroupCode, list[CountryCode]]).validate_python(groups["base"]),
        group_citation=CitationDoc.model_validate(groups["citation"]),
        group_changes=TypeAdapter(list[GroupChangeDoc]).validate_python(groups["changes"]),
        accelerators=parse_shipped(_yaml(data_dir / "accelerators.yaml")),
    )


# --- documents -> engine objects (pure conversion) ---------------------------------------------


def citation(doc: CitationDoc) -> book.Citation:
    return book.Citation(doc.source, doc.source_kind, doc.url, doc.document, doc.note)


def condition(raw: tuple[Any, ...]) -> book.Condition:
    metric, op, value = raw
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: the metrics are {', '.join(METRICS)}")
    if isinstance(value, bool):
        return book.Condition(metric, op, value, str(value).lower())
    if isinstance(value, Decimal):
        return book.Condition(metric, op, Fraction(value), f"{value:f}")
    return book.Condition(metric, op, tuple(value), ", ".join(value))


def _scope(doc: ItemScopeDoc) -> book.ItemScope:
    return book.ItemScope(
        eccns=tuple(doc.eccns),
        any_of=tuple(tuple(condition(c) for c in conds) for conds in doc.any_of),
        all_items=doc.all_items,
    )


def _countries(doc: CountrySetDoc | None) -> book.CountrySet | None:
    if doc is None:
        return None
    return book.CountrySet(
        all_countries=doc.all_countries,
        groups=tuple(doc.groups),
        countries=tuple(doc.countries),
        except_groups=tuple(doc.except_groups),
        except_countries=tuple(doc.except_countries),
    )


def effective_ranges(docs: list[RulesetDoc]) -> dict[str, tuple[date, date | None, str | None]]:
    """(from, to, superseded_by) per ruleset: a ``supersedes`` link ends the older one.

    Rows stay immutable: the end date of a superseded ruleset is derived, never written.
    """
    by_id = {d.id: d for d in docs}
    ranges: dict[str, tuple[date, date | None, str | None]] = {
        d.id: (d.effective_from, d.effective_to, None) for d in docs
    }
    for d in docs:
        if d.supersedes is None:
            continue
        old = by_id.get(d.supersedes)
        if old is None:
            raise ValueError(f"{d.id} supersedes unknown ruleset {d.supersedes}")
        if old.family != d.family:
            raise ValueError(f"{d.id} supersedes {old.id} of another family ({old.family})")
        if d.effective_from <= old.effective_from:
            raise ValueError(f"{d.id} must take effect after {old.id} ({old.effective_from})")
        start, end, by = ranges[old.id]
        if by is not None:
            raise ValueError(f"{old.id} is already superseded by {by}")
        ranges[old.id] = (start, d.effective_from if end is None else min(end, d.effective_from), d.id)
    return ranges


def ruleset(doc: RulesetDoc, effective_to: date | None) -> book.Ruleset:
    cls = doc.classification
    return book.Ruleset(
        id=doc.id,
        family=doc.family,
        title=doc.title,
        summary=doc.summary,
        effective_from=doc.effective_from,
        effective_to=effective_to,
        enforced=doc.enforced,
        source_kind=doc.source_kind,
        citations=tuple(citation(c) for c in doc.citations),
        clauses=tuple(book.Clause(c.id, c.eccn, c.text, tuple(condition(x) for x in c.all)) for c in cls.clauses)
        if cls
        else (),
        notes=tuple(book.Note(n.id, n.text, tuple(condition(x) for x in n.all)) for n in cls.notes) if cls else (),
        destination_rules=tuple(
            book.DestinationRule(
                id=r.id,
                label=r.label,
                citation=r.citation,
                items=_scope(r.items),
                destinations=_countries(r.destinations),
                headquarters=_countries(r.headquarters),
                review_policy=r.review_policy,
                exceptions=tuple(
                    book.LicenseException(
                        e.code,
                        e.name,
                        e.citation,
                        e.notification_required,
                        _scope(e.eligible),
                        e.note,
                        tuple(e.transaction_types),
                        _countries(e.headquarters),
                    )
                    for e in r.exceptions
                ),
                section=r.section,
                headquarters_located=_countries(r.headquarters_located),
                destination_basis=r.destination_basis,
                compliance_from=r.compliance_from,
            )
            for r in doc.destination_rules
        ),
        review_policies=tuple(
            book.ReviewPolicyRule(
                id=p.id,
                label=p.label,
                citation=p.citation,
                destinations=_countries(p.destinations) or book.CountrySet(),
                bases=tuple(p.bases),
                transaction_types=tuple(p.transaction_types),
                items=_scope(p.items),
                review_policy=p.review_policy,
                conditions_text=p.conditions_text,
                sections=tuple(p.sections),
                us_available_on=p.us_available_on,
                conditions=tuple(book.ReviewCondition(c.text, c.source, c.source_kind) for c in p.conditions),
            )
            for p in doc.review_policies
        ),
    )


def memberships(
    base: dict[str, list[str]], base_citation: CitationDoc, changes: list[GroupChangeDoc]
) -> tuple[book.Membership, ...]:
    """Turn a base list and dated add/remove events into membership intervals."""
    open_rows: dict[tuple[str, str], tuple[date | None, book.Citation]] = {}
    closed: list[book.Membership] = []
    for group, countries in base.items():
        for country in countries:
            open_rows[(group, country)] = (None, citation(base_citation))
    for change in sorted(changes, key=lambda c: c.effective):
        key = (change.group, change.country)
        if change.action == "add":
            if key in open_rows:
                raise ValueError(f"{change.country} is already in {change.group} on {change.effective}")
            open_rows[key] = (change.effective, citation(change.citation))
        else:
            if key not in open_rows:
                raise ValueError(f"{change.country} is not in {change.group} on {change.effective}")
            since, cite = open_rows.pop(key)
            closed.append(book.Membership(change.group, change.country, since, change.effective, cite))
    rows = closed + [book.Membership(g, c, since, None, cite) for (g, c), (since, cite) in open_rows.items()]
    return tuple(sorted(rows, key=lambda m: (m.group, m.country, m.effective_from or date.min)))


def definitions(doc: DefinitionsDoc) -> book.Definitions:
    return book.Definitions(
        bit_lengths=MappingProxyType(dict(doc.bit_lengths)),
        eccn_order=tuple(doc.eccn_order),
        assembly_eccns=MappingProxyType(dict(doc.assembly_eccns)),
        review_policy_order=tuple(doc.review_policy_order),
        citation=citation(doc.citation),
        license_exceptions=MappingProxyType(dict(doc.license_exceptions)),
        plausible_maximum=MappingProxyType({k: Fraction(v) for k, v in doc.plausible_maximum.items()}),
    )


def build_book(
    files: ReferenceFiles,
    rulesets: list[RulesetDoc],
    group_changes: list[GroupChangeDoc],
    data_version: str,
) -> book.RuleBook:
    ranges = effective_ranges(rulesets)
    return book.RuleBook(
        definitions=definitions(files.definitions),
        rulesets=tuple(ruleset(d, ranges[d.id][1]) for d in sorted(rulesets, key=lambda d: (d.effective_from, d.id))),
        memberships=memberships(files.group_base, files.group_citation, group_changes),
        aliases=tuple(
            book.CountryAlias(a.country, a.treated_as, a.effective_from, citation(a.citation)) for a in files.aliases
        ),
        advisories=tuple(
            book.Advisory(
                a.id,
                a.text,
                tuple(a.countries),
                tuple(a.groups),
                a.effective_from,
                citation(a.citation),
                tuple(a.accelerators),
            )
            for a in files.advisories
        ),
        country_names=COUNTRY_NAMES,
        data_version=data_version,
    )


def check_overlaps(docs: list[RulesetDoc]) -> None:
    """Rulesets of one family must not overlap in time (enforced and not-enforced apart)."""
    ranges = effective_ranges(docs)
    by_family: dict[tuple[str, bool], list[RulesetDoc]] = {}
    for d in docs:
        by_family.setdefault((d.family, d.enforced), []).append(d)
    for (family, _), items in by_family.items():
        items.sort(key=lambda d: d.effective_from)
        for prev, nxt in pairwise(items):
            end = ranges[prev.id][1]
            if end is None or end > nxt.effective_from:
                raise OverlapError(
                    nxt.id,
                    f"ruleset {nxt.id} (from {nxt.effective_from}) overlaps {prev.id} "
                    f"({prev.effective_from} to {end or 'open'}) in family {family}; "
                    "set effective_to, or `supersedes` to end the older one",
                )


class OverlapError(ValueError):
    def __init__(self, ruleset_id: str, message: str) -> None:
        super().__init__(message)
        self.ruleset_id = ruleset_id


def check_references(docs: list[RulesetDoc], defs: DefinitionsDoc) -> None:
    """ECCNs in clauses must be ones the engine orders; groups must be known groups."""
    for d in docs:
        if d.classification:
            for c in d.classification.clauses:
                if c.eccn not in defs.eccn_order:
                    raise ValueError(f"{d.id}: clause {c.id} uses ECCN {c.eccn} not in eccn_order")


def country_exists(code: str) -> bool:
    return code in COUNTRY_NAMES


# --- stored documents: the one check a write and the snapshot share (see app.stored) ------------


def load_ruleset(document: dict[str, Any]) -> RulesetDoc:
    try:
        return RulesetDoc.model_validate(document)
    except ValidationError as exc:
        raise stored.problem(exc) from exc


def ruleset_document(doc: RulesetDoc) -> dict[str, Any]:
    document = stored.as_stored(doc)
    load_ruleset(document)
    return document


def load_group_change(fields: dict[str, Any]) -> GroupChangeDoc:
    try:
        return GroupChangeDoc.model_validate(fields)
    except ValidationError as exc:
        raise stored.problem(exc) from exc
