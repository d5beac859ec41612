"""The published contract: generated from the app, committed as openapi/openapi.json."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from app.errors import Problem


def document(app: FastAPI) -> None:
    """Finish the generated spec so that generated clients read it well:

    - ``Problem`` (and ``FieldProblem``) in the components, where every documented error response
      points (``app.errors.responses()`` refers to ``#/components/schemas/Problem``);
    - a distinct ``title`` for each ``-Input``/``-Output`` pair of a model (pydantic gives both the
      model's name, and client generators name classes by title).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        for name, schema in schemas.items():
            if name.endswith(("-Input", "-Output")):
                schema["title"] = name.replace("-", "")
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def render(app: FastAPI) -> str:
    """The app's OpenAPI document as stable JSON (sorted keys, two-space indent, final newline)."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
