"""The catalog as a spreadsheet: one CSV row per accelerator, and back; YAML in the shipped format.

Columns are flat so a compliance team can edit them in any spreadsheet: figures as
``<figure>``/``<figure>_min``/``<figure>_max``/``<figure>_source``/``<figure>_note``, throughput rows
and sources as numbered groups (``throughput_1_precision``..., ``source_1_key``...). Export is
canonical (rows by id, groups in document order, exact decimals as written), so exporting, importing
that file and exporting again gives the same bytes. Parsing validates every row and reports each
problem with its row (spreadsheet line, header = 1), column and reason; it never stores anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from app.catalog.schemas import AcceleratorCreate, AcceleratorRecord, Source

FIGURES = ("die_area_mm2", "memory_bandwidth_gbps", "interconnect_bandwidth_gbps")
THROUGHPUT_FIELDS = ("precision", "dense_tops", "min", "max", "source", "note")
SOURCE_FIELDS = ("key", "title", "url", "kind", "accessed", "note")
HEAD = (
    "id",
    "vendor",
    "model",
    "aliases",
    "released",
    "kind",
    "datacenter",
    "datacenter_evidence",
    "datacenter_evidence_source",
)
TAIL = ("memory_gb", "us_available", "us_available_as_of", "us_available_source", "us_available_note")
ALIAS_SEPARATOR = "; "
CSV_MEDIA_TYPE = "text/csv"
YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One reason a row cannot be imported: ``row`` is the spreadsheet line (header = 1) or a YAML path."""

    row: str
    column: str
    reason: str
    id: str | None = None

    def line(self) -> str:
        where = f"row {self.row}" + (f" ({self.id})" if self.id else "")
        return f"{where}, column {self.column}: {self.reason}"


@dataclass
class Parsed:
    """What a file holds: the valid items (in file order) and every problem found."""

    items: list[AcceleratorCreate] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    rows: dict[str, str] = field(default_factory=dict)  # accelerator id -> row label


def columns(throughput_groups: int, source_groups: int) -> list[str]:
    cols = list(HEAD)
    for n in range(1, throughput_groups + 1):
        cols += [f"throughput_{n}_{f}" for f in THROUGHPUT_FIELDS]
    for name in FIGURES:
        cols += [name, f"{name}_min", f"{name}_max", f"{name}_source", f"{name}_note"]
    cols += TAIL
    for n in range(1, source_groups + 1):
        cols += [f"source_{n}_{f}" for f in SOURCE_FIELDS]
    return cols


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def row_of(item: AcceleratorCreate) -> dict[str, str]:
    """The CSV cells of one item (JSON-mode values: exact decimals as strings)."""
    doc: dict[str, Any] = item.model_dump(mode="json")
    out: dict[str, str] = {
        "id": doc["id"],
        "vendor": doc["vendor"],
        "model": doc["model"],
        "aliases": ALIAS_SEPARATOR.join(doc["aliases"]),
        "released": _cell(doc["released"]),
        "kind": doc["kind"],
        "datacenter": _cell(doc["datacenter"]),
        "datacenter_evidence": _cell((doc["datacenter_evidence"] or {}).get("text")),
        "datacenter_evidence_source": _cell((doc["datacenter_evidence"] or {}).get("source")),
        "memory_gb": _cell(doc["memory_gb"]),
    }
    for n, row in enumerate(doc["throughput"], start=1):
        for f in THROUGHPUT_FIELDS:
            out[f"throughput_{n}_{f}"] = _cell(row.get(f))
    for name in FIGURES:
        fig = doc[name] or {}
        out[name] = _cell(fig.get("value"))
        for f in ("min", "max", "source", "note"):
            out[f"{name}_{f}"] = _cell(fig.get(f))
    us = doc.get("us_available") or {}
    out["us_available"] = _cell(us.get("value"))
    out["us_available_as_of"] = _cell(us.get("as_of"))
    out["us_available_source"] = _cell(us.get("source"))
    out["us_available_note"] = _cell(us.get("note"))
    for n, (key, src) in enumerate(doc["sources"].items(), start=1):
        out[f"source_{n}_key"] = key
        for f in SOURCE_FIELDS[1:]:
            out[f"source_{n}_{f}"] = _cell(src.get(f))
    return out


def to_csv(items: Iterable[AcceleratorCreate]) -> str:
    """The items as CSV (RFC 4180: CRLF line ends, quoted where needed), in the order given."""
    rows = [row_of(i) for i in items]
    groups_t = max((sum(1 for k in r if k.endswith("_precision")) for r in rows), default=1)
    groups_s = max((sum(1 for k in r if k.startswith("source_") and k.endswith("_key")) for r in rows), default=1)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(groups_t, groups_s), lineterminator="\r\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return buf.getvalue()


# --- parsing -----------------------------------------------------------------------------------


def _blank(value: str | None) -> bool:
    return value is None or value.strip() == ""


def _bool(value: str) -> bool | str:
    low = value.strip().lower()
    return {"true": True, "false": False}.get(low, value)


def _groups(header: Sequence[str], prefix: str, fields: Sequence[str]) -> list[int]:
    found = set()
    for col in header:
        parts = col.split("_", 2)
        if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit() and parts[2] in fields:
            found.add(int(parts[1]))
    return sorted(found)


def _document(row: Mapping[str, str], tgroups: list[int], sgroups: list[int]) -> tuple[dict[str, Any], dict[str, str]]:
    """A document from a row's cells, and a map from document paths to the column each came from."""
    where: dict[str, str] = {}

    def get(col: str) -> str | None:
        value = row.get(col)
        return None if _blank(value) else (value or "").strip()

    doc: dict[str, Any] = {}
    for col in ("id", "vendor", "model", "released", "kind", "memory_gb"):
        value = get(col)
        if value is not None:
            doc[col] = value
        where[col] = col
    aliases = get("aliases")
    doc["aliases"] = [a.strip() for a in aliases.split(";") if a.strip()] if aliases else []
    where["aliases"] = "aliases"
    dc = get("datacenter")
    if dc is not None:
        doc["datacenter"] = _bool(dc)
    where["datacenter"] = "datacenter"
    text, src = get("datacenter_evidence"), get("datacenter_evidence_source")
    if text is not None or src is not None:
        doc["datacenter_evidence"] = {k: v for k, v in (("text", text), ("source", src)) if v is not None}
    where["datacenter_evidence"] = "datacenter_evidence"
    where["datacenter_evidence.text"] = "datacenter_evidence"
    where["datacenter_evidence.source"] = "datacenter_evidence_source"
    rows: list[dict[str, str]] = []
    for n in tgroups:
        cells = {f: get(f"throughput_{n}_{f}") for f in THROUGHPUT_FIELDS}
        if all(v is None for v in cells.values()):
            continue
        i = len(rows)
        rows.append({k: v for k, v in cells.items() if v is not None})
        where[f"throughput.{i}"] = f"throughput_{n}_dense_tops"
        for f in THROUGHPUT_FIELDS:
            where[f"throughput.{i}.{f}"] = f"throughput_{n}_{f}"
    doc["throughput"] = rows
    where["throughput"] = "throughput_1_precision"
    for name in FIGURES:
        cells = {f: get(name if f == "value" else f"{name}_{f}") for f in ("value", "min", "max", "source", "note")}
        if any(v is not None for v in cells.values()):
            doc[name] = {k: v for k, v in cells.items() if v is not None}
        where[name] = name
        for f in ("min", "max", "source", "note"):
            where[f"{name}.{f}"] = f"{name}_{f}"
        where[f"{name}.value"] = name
    us = {
        "value": get("us_available"),
        "as_of": get("us_available_as_of"),
        "source": get("us_available_source"),
        "note": get("us_available_note"),
    }
    if any(v is not None for v in us.values()):
        doc["us_available"] = {k: (_bool(v) if k == "value" else v) for k, v in us.items() if v is not None}
    where["us_available"] = "us_available"
    where["us_available.value"] = "us_available"
    for f in ("as_of", "source", "note"):
        where[f"us_available.{f}"] = f"us_available_{f}"
    sources: dict[str, Any] = {}
    for n in sgroups:
        cells = {f: get(f"source_{n}_{f}") for f in SOURCE_FIELDS}
        if all(v is None for v in cells.values()):
            continue
        key = cells.pop("key") or ""
        sources[key] = {k: v for k, v in cells.items() if v is not None}
        where[f"sources.{key}"] = f"source_{n}_key"
        for f in SOURCE_FIELDS[1:]:
            where[f"sources.{key}.{f}"] = f"source_{n}_{f}"
    doc["sources"] = sources
    where["sources"] = "source_1_key"
    return doc, where


def _column(loc: Sequence[int | str], where: Mapping[str, str]) -> str:
    """The column a validation error points at: the longest known prefix of its location."""
    parts = [str(p) for p in loc]
    while parts:
        key = ".".join(parts)
        if key in where:
            return where[key]
        parts.pop()
    return "(row)"


def check_citations(item: AcceleratorRecord, sources: Mapping[str, Source]) -> list[tuple[str, str]]:
    """(document path, reason) for each figure citing a source the item does not carry."""
    out = []
    paths: list[tuple[str, str]] = [(f"throughput.{i}.source", t.source) for i, t in enumerate(item.throughput)]
    paths += [(f"{name}.source", fig.source) for name in FIGURES if (fig := getattr(item, name)) is not None]
    if item.datacenter_evidence is not None:
        paths.append(("datacenter_evidence.source", item.datacenter_evidence.source))
    if item.us_available is not None:
        paths.append(("us_available.source", item.us_available.source))
    for path, key in paths:
        if key not in sources:
            out.append((path, f"cites source {key!r}, which is not among this row's sources"))
    return out


def _validate(doc: Mapping[str, Any], row: str, where: Mapping[str, str], parsed: Parsed) -> None:
    ident = doc.get("id") if isinstance(doc.get("id"), str) else None
    try:
        item = AcceleratorCreate.model_validate(doc)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            reason = err["msg"].removeprefix("Value error, ")
            parsed.problems.append(RowProblem(row, _column(err["loc"], where), reason, ident))
        return
    problems = check_citations(item, item.sources)
    for path, reason in problems:
        parsed.problems.append(RowProblem(row, _column(path.split("."), where), reason, item.id))
    if problems:
        return
    if item.id in parsed.rows:
        parsed.problems.append(RowProblem(row, "id", f"duplicate of row {parsed.rows[item.id]}", item.id))
        return
    parsed.rows[item.id] = row
    parsed.items.append(item)


def parse_csv(text: str) -> Parsed:
    """Every row validated; problems name the row (header = row 1), the column and the reason."""
    parsed = Parsed()
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = list(reader.fieldnames or [])
    if not header:
        parsed.problems.append(RowProblem("1", "(header)", "the file is empty: expected a header row"))
        return parsed
    tgroups = _groups(header, "throughput", THROUGHPUT_FIELDS)
    sgroups = _groups(header, "source", SOURCE_FIELDS)
    known = set(columns(max(tgroups, default=0), max(sgroups, default=0)))
    for col in header:
        if col not in known:
            parsed.problems.append(RowProblem("1", col, "unknown column"))
    for col in ("id", "vendor", "model", "datacenter"):
        if col not in header:
            parsed.problems.append(RowProblem("1", col, "required column missing"))
    if parsed.problems:
        return parsed
    for number, row in enumerate(reader, start=2):
        if None in row:  # more cells than header columns
            parsed.problems.append(RowProblem(str(number), "(row)", "more cells than the header has columns"))
            continue
        if all(_blank(v) for v in row.values()):
            continue
        doc, where = _document(row, tgroups, sgroups)
        _validate(doc, str(number), where, parsed)
    return parsed


def parse_yaml(text: str) -> Parsed:
    """The shipped format (``sources`` map + ``accelerators`` list citing it) or a list of documents."""
    parsed = Parsed()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = str(mark.line + 1) if mark is not None else "1"
        parsed.problems.append(RowProblem(row, "(yaml)", f"not valid YAML: {getattr(exc, 'problem', exc)}"))
        return parsed
    shared: dict[str, Any] = {}
    if isinstance(data, dict):
        shared = data.get("sources") or {}
        entries = data.get("accelerators")
    else:
        entries = data
    if not isinstance(entries, list):
        parsed.problems.append(RowProblem("(file)", "accelerators", "expected a list of accelerators"))
        return parsed
    for i, raw in enumerate(entries):
        row = f"accelerators[{i}]"
        if not isinstance(raw, dict):
            parsed.problems.append(RowProblem(row, "(row)", "expected a mapping"))
            continue
        doc = dict(raw)
        if "sources" not in doc:
            try:
                record = AcceleratorRecord.model_validate({k: v for k, v in doc.items() if k != "sources"})
            except ValidationError:
                record = None
            if record is not None:
                keys = _cited(record)
                doc["sources"] = {k: shared[k] for k in sorted(keys) if k in shared}
        where = {".".join(str(p) for p in path): ".".join(str(p) for p in path) for path in _paths(doc)}
        _validate(doc, row, where, parsed)
    return parsed


def _cited(record: AcceleratorRecord) -> set[str]:
    keys = {t.source for t in record.throughput}
    for name in FIGURES:
        fig = getattr(record, name)
        if fig is not None:
            keys.add(fig.source)
    for extra in (record.datacenter_evidence, record.us_available):
        if extra is not None:
            keys.add(extra.source)
    return keys


def _paths(doc: Any, prefix: tuple[str | int, ...] = ()) -> Iterable[tuple[str | int, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, str(k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def parse(text: str, filename: str | None = None, media_type: str | None = None) -> Parsed:
    """CSV or YAML, by media type, file name, or content (a YAML document starts with a mapping or list)."""
    name = (filename or "").lower()
    media = (media_type or "").split(";")[0].strip().lower()
    if media in YAML_MEDIA_TYPES or name.endswith((".yaml", ".yml")):
        return parse_yaml(text)
    if media == CSV_MEDIA_TYPE or name.endswith(".csv"):
        return parse_csv(text)
    first = text.lstrip("\ufeff").lstrip().split("\n", 1)[0]
    return (
        parse_yaml(text) if first.startswith(("sources:", "accelerators:", "version:", "- ", "#")) else parse_csv(text)
    )
