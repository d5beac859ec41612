"""Property-style: every coded field of every shipped ruleset and Country Group change, mutated the
way people get them wrong (typos, unknown codes, impossible numbers, swapped or absurd dates), is
rejected by the one validation path writes take; and the unmutated documents pass it.

Free text (titles, labels, citations, notes) is the only thing a typo may change; the walk below
fails if a field is neither mutated nor listed as free text, so a new field cannot slip past.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from app.regulations import loader, validation
from app.regulations.schemas import GroupChangeDoc, RulesetDoc

FILES = loader.read_reference_files()
VOCAB = validation.reference_vocabulary(FILES)
TODAY = date(2026, 12, 1)

FREE_TEXT = {"id", "family", "title", "summary", "text", "label", "citation", "source", "url", "document", "note",
             "name", "conditions_text", "section"}  # fmt: skip
FREE_FLAGS = {"enforced", "notification_required", "all_countries", "all_items"}  # either value is meaningful


def _typo(value: str) -> list[str]:
    """An extra letter, a dropped letter, two letters swapped (each differs from the original)."""
    out = [value + "x", value[1:]]
    for i in range(len(value) - 1):
        if value[i] != value[i + 1]:
            out.append(value[:i] + value[i + 1] + value[i] + value[i + 2 :])
            break
    return out


def _mutations(path: tuple[Any, ...], value: Any, doc: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    in_condition = any(p in ("all", "any_of") for p in path if isinstance(p, str))
    if in_condition:
        cond_index = _condition_position(path)
        if cond_index == 0:
            yield from (("metric typo", v) for v in _typo(value))
        elif cond_index == 1:
            yield from (("operator", v) for v in ("=>", "~", "in" if value != "in" else ">="))
        elif cond_index == 2:
            if isinstance(value, bool):
                yield "flag as text", "yes"
            else:
                yield from (("threshold", v) for v in ("-1", "0", "999999999999", "1e3", "12.5.1"))
        elif cond_index == 3:  # an element of a set condition's list
            yield from (("set value", v) for v in (*_typo(value), "3A090.z"))
        return
    if key in ("source_kind",):
        yield from (("source kind", v) for v in (*_typo(value), "press"))
    elif key == "review_policy":
        yield from (("review policy", v) for v in (*_typo(value), "presumption of denyal", "approval"))
    elif key == "code":
        yield from (("exception code", v) for v in ("NACX", "XYZ", "nac"))
    elif key in ("eccns", "eccn"):
        yield from (("ECCN", v) for v in ("3A090.z", "3A091.a", "3a090.a"))
    elif key in ("groups", "except_groups", "group"):
        yield from (("group", v) for v in ("D:9", "F:1", "d:5"))
    elif key in ("countries", "except_countries", "country"):
        yield from (("country", v) for v in ("XX", "ZZ", "UK", "cn", "CHN"))
    elif key in ("transaction_types",):
        yield from (("transaction type", v) for v in (*_typo(value), "import"))
    elif key in ("bases",):
        yield from (("basis", v) for v in (*_typo(value), "embassy"))
    elif key == "action":
        yield from (("action", v) for v in ("delete", "ad"))
    elif key == "sections":
        yield from (("section", v) for v in (*_typo(value), "742.7"))
    elif key == "destination_basis":
        yield from (("destination basis", v) for v in (*_typo(value), "headquarters"))
    elif key in ("compliance_from", "us_available_on"):
        yield "far future", "9999-12-31"
        yield "before the window", "1899-01-01"
    elif key in ("effective_from", "effective_to", "effective"):
        yield "far future", "9999-12-31"
        yield "before the window", "1899-01-01"
        yield "not a date", "2025-02-30"
        if key == "effective_from":
            end = doc.get("effective_to")
            if end:
                yield "swapped with effective_to", end
            else:
                yield "in the distant future", (TODAY + timedelta(days=365 * 11)).isoformat()
        if key == "effective_to":
            yield "swapped with effective_from", doc["effective_from"]
    elif key == "supersedes":
        yield from (("supersedes", v) for v in (*_typo(value), "ac-1999-01-01"))
    elif key in FREE_TEXT or key in FREE_FLAGS:
        return
    else:
        raise AssertionError(f"field {'/'.join(map(str, path))} is neither mutated nor listed as free text")


def _condition_position(path: tuple[Any, ...]) -> int:
    """0, 1, 2 for metric, operator, value of a condition; 3 for an element of a set value."""
    ints = []
    for p in reversed(path):
        if isinstance(p, str):
            break
        ints.append(p)
    ints.reverse()
    # all: [cond_i][pos] / [cond_i][2][j]; any_of: [set_i][cond_i][pos] / [set_i][cond_i][2][j]
    depth = len(ints) - (1 if path[len(path) - len(ints) - 1] == "any_of" else 0)
    if depth == 2:
        return int(ints[-1])
    return 3


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    elif node is not None:
        yield path, node


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return out


def _ruleset_rejected(raw: dict[str, Any], others: list[RulesetDoc]) -> bool:
    try:
        doc = RulesetDoc.model_validate(raw)
    except ValidationError:
        return True
    return bool(validation.check_ruleset(doc, VOCAB, others, TODAY))


def _ruleset_cases() -> Iterator[Any]:
    for original in FILES.rulesets:
        raw = original.model_dump(mode="json", exclude_none=True)
        for path, value in _leaves(raw):
            for what, mutated in _mutations(path, value, raw):
                yield pytest.param(original.id, path, mutated, id=f"{original.id}:{'/'.join(map(str, path))}:{what}")


def test_every_shipped_document_passes_validation() -> None:
    for doc in FILES.rulesets:
        assert validation.check_ruleset(doc, VOCAB, FILES.rulesets, TODAY) == [], doc.id
    for change in FILES.group_changes:
        others = [c for c in FILES.group_changes if c is not change]
        assert validation.check_group_change(change, VOCAB, FILES, others, TODAY) == []
    for item in FILES.accelerators:
        assert validation.check_accelerator(item, VOCAB) == [], item.id


@pytest.mark.parametrize(("ruleset_id", "path", "mutated"), list(_ruleset_cases()))
def test_each_mutation_of_a_shipped_ruleset_is_rejected(ruleset_id: str, path: tuple[Any, ...], mutated: Any) -> None:
    original = next(d for d in FILES.rulesets if d.id == ruleset_id)
    raw = _set(original.model_dump(mode="json", exclude_none=True), path, mutated)
    others = [d for d in FILES.rulesets if d.id != ruleset_id]
    assert _ruleset_rejected(raw, others), f"{'/'.join(map(str, path))} = {mutated!r} was accepted"


def _group_change_cases() -> Iterator[Any]:
    for n, change in enumerate(FILES.group_changes):
        raw = change.model_dump(mode="json", exclude_none=True)
        for path, value in _leaves(raw):
            for what, mutated in _mutations(path, value, raw):
                yield pytest.param(n, path, mutated, id=f"change{n}:{'/'.join(map(str, path))}:{what}")


@pytest.mark.parametrize(("index", "path", "mutated"), list(_group_change_cases()))
def test_each_mutation_of_a_shipped_group_change_is_rejected(index: int, path: tuple[Any, ...], mutated: Any) -> None:
    change = FILES.group_changes[index]
    raw = _set(change.model_dump(mode="json", exclude_none=True), path, mutated)
    others = [c for c in FILES.group_changes if c is not change]
    try:
        doc = GroupChangeDoc.model_validate(raw)
    except ValidationError:
        return
    assert validation.check_group_change(doc, VOCAB, FILES, others, TODAY), f"{path} = {mutated!r} was accepted"


def test_the_mutation_walk_reaches_every_kind_of_coded_field() -> None:
    ids = " ".join(p.id or "" for p in _ruleset_cases())
    for fragment in ("review_policy", "groups", "countries", "eccns", "code", "transaction_types", "bases",
                     "effective_from", "effective_to", "source_kind", "all/0/0", "any_of/0/1/2"):  # fmt: skip
        assert fragment in ids, fragment
