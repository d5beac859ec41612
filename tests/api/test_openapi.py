"""The published contract: openapi/openapi.json is the app's spec, valid, and good enough for
generated clients (documented errors, examples, readable operationIds, bounded inputs)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from app.cli import openapi_text
from app.errors import MEDIA_TYPE
from app.observability import FILE_BODIES

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# FastAPI's default ids look like `create_screening_v1_screenings_post`
GENERATED_LOOKING = re.compile(r"_(v1|get|post|put|patch|delete)(_|$)")
OPEN_PATHS = {"/healthz", "/readyz"}
AUTH_ERRORS = ("401", "403", "422", "429")
BOUNDED_FORMATS = {"date", "date-time", "time", "uuid", "email", "uri", "ipv4", "ipv6"}


@pytest.fixture(scope="module")
def rendered() -> str:
    return openapi_text()


@pytest.fixture(scope="module")
def spec(rendered: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(rendered)
    return loaded


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def test_committed_spec_is_the_apps_spec(rendered: str) -> None:
    committed = SPEC_PATH.read_text(encoding="utf-8") if SPEC_PATH.exists() else ""
    assert committed == rendered, (
        "openapi/openapi.json differs from the app's spec: run `chipclass export-openapi` and commit the result"
    )


def test_spec_validates_with_openapi_spec_validator(spec: dict[str, Any]) -> None:
    validate(spec)


def test_every_error_response_is_problem_json(spec: dict[str, Any]) -> None:
    bad = []
    for path, method, op in operations(spec):
        for status, response in op["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            content = resolve(spec, response).get("content", {})
            schema = content.get(MEDIA_TYPE, {}).get("schema")
            if set(content) != {MEDIA_TYPE} or schema != {"$ref": "#/components/schemas/Problem"}:
                bad.append(f"{method.upper()} {path} {status}: {sorted(content)}")
    assert not bad, "error responses must be application/problem+json with the Problem schema:\n" + "\n".join(bad)
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])


def test_authenticated_operations_document_401_403_422_429(spec: dict[str, Any]) -> None:
    missing = []
    for path, method, op in operations(spec):
        if path in OPEN_PATHS:
            assert not op.get("security"), f"{path} must stay open"
            continue
        assert op.get("security") == [{"HTTPBearer": []}], f"{method.upper()} {path} is not authenticated"
        lacking = [s for s in AUTH_ERRORS if s not in op["responses"]]
        if lacking:
            missing.append(f"{method.upper()} {path}: {lacking}")
    assert not missing, "authenticated operations must document " + ", ".join(AUTH_ERRORS) + ":\n" + "\n".join(missing)


def test_operations_that_look_up_an_id_document_404(spec: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, op in operations(spec)
        if any(p["in"] == "path" for p in op.get("parameters", [])) and "404" not in op["responses"]
    ]
    assert not missing, "operations with a path id must document 404:\n" + "\n".join(missing)


def test_operations_with_a_body_document_413_and_415(spec: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, op in operations(spec)
        if "requestBody" in op and not {"413", "415"} <= set(op["responses"])
    ]
    assert not missing, "operations with a body must document 413 and 415:\n" + "\n".join(missing)


def test_every_request_body_has_an_example(spec: dict[str, Any]) -> None:
    missing = []
    for path, method, op in operations(spec):
        if "requestBody" not in op:
            continue
        media = op["requestBody"]["content"]
        # JSON everywhere, except the routes the edge lets take a file (the catalog import)
        allowed = {t.decode() for t in FILE_BODIES.get(path, ())} or {"application/json"}
        assert len(media) == 1 and set(media) <= allowed, f"{method.upper()} {path}: {sorted(media)}"
        body = next(iter(media.values()))
        schema = resolve(spec, body["schema"])
        if not (body.get("example") or body.get("examples") or schema.get("examples") or schema.get("example")):
            missing.append(f"{method.upper()} {path}")
    assert not missing, "request bodies without an example:\n" + "\n".join(missing)


def test_operation_ids_are_unique_readable_snake_case(spec: dict[str, Any]) -> None:
    ids = [op.get("operationId", "") for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids)), f"duplicate operationIds: {sorted(i for i in ids if ids.count(i) > 1)}"
    unreadable = [i for i in ids if not SNAKE.match(i) or GENERATED_LOOKING.search(i) or len(i) > 40]
    assert not unreadable, f"operationIds must be short readable snake_case names: {unreadable}"


def unbounded(spec: dict[str, Any], node: dict[str, Any], where: str, seen: set[str]) -> Iterator[str]:
    """Every string and list (and map) a client can send must carry a bound in the schema."""
    if "$ref" in node:
        if node["$ref"] in seen:
            return
        seen = seen | {node["$ref"]}
        yield from unbounded(spec, resolve(spec, node), f"{where}->{node['$ref'].rsplit('/', 1)[-1]}", seen)
        return
    for keyword in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(node.get(keyword, [])):
            yield from unbounded(spec, sub, f"{where}/{keyword}[{i}]", seen)
    kind = node.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind}
    fixed = "enum" in node or "const" in node
    if "string" in kinds and not (
        fixed or "maxLength" in node or "pattern" in node or node.get("format") in BOUNDED_FORMATS
    ):
        yield f"{where}: string without maxLength/enum/pattern"
    if "array" in kinds:
        if "maxItems" not in node:
            yield f"{where}: array without maxItems"
        for i, sub in enumerate(node.get("prefixItems", [])):
            yield from unbounded(spec, sub, f"{where}/{i}", seen)
        if isinstance(node.get("items"), dict):
            yield from unbounded(spec, node["items"], f"{where}/items", seen)
    if "object" in kinds or "properties" in node:
        for name, sub in node.get("properties", {}).items():
            yield from unbounded(spec, sub, f"{where}.{name}", seen)
        extra = node.get("additionalProperties")
        patterns = node.get("patternProperties", {})
        if (isinstance(extra, dict) or patterns) and "maxProperties" not in node:
            yield f"{where}: map without maxProperties"
        if isinstance(extra, dict):
            yield from unbounded(spec, extra, f"{where}.*", seen)
        for pattern, sub in patterns.items():
            yield from unbounded(spec, sub, f"{where}.{pattern}", seen)


def test_every_string_and_list_a_client_sends_is_bounded(spec: dict[str, Any]) -> None:
    problems: list[str] = []
    for path, method, op in operations(spec):
        name = f"{method.upper()} {path}"
        for param in op.get("parameters", []):
            problems += unbounded(spec, param["schema"], f"{name} {param['in']}:{param['name']}", set())
        if "requestBody" in op:
            for media in op["requestBody"]["content"].values():
                problems += unbounded(spec, media["schema"], f"{name} body", set())
    assert not problems, "unbounded inputs:\n" + "\n".join(sorted(set(problems)))
