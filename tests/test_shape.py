"""The shape of the tree: every domain package has the same rooms, packages reach each other only
through their services and schemas, the engine imports nothing impure, and the package import
graph has no cycles.

Print the graph (what ``docs/design-notes.md`` shows) with:

    .venv/bin/python -m tests.test_shape
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"
DOMAINS = ("catalog", "changes", "decisions", "events", "impact", "keys", "regulations", "screening", "webhooks")
# the rooms of a domain package; `models` where it owns tables
ROOMS = ("router", "service", "schemas")
OWNS_TABLES = ("catalog", "changes", "decisions", "events", "keys", "regulations", "screening", "webhooks")
# what one domain package may import from another (never a router, repository, model or loader)
PUBLIC_ROOMS = {"service", "schemas", "snapshot"}
# known exceptions, each with why it is left (keep this short; an entry is a debt, not a rule)
ALLOWED_REACH_INS: set[tuple[str, str]] = set()
# the composition root and the HTTP shell may import any room
SHELL = {"app.main", "app.cli", "app.models", "app.deps", "app.operations"}
HTTP_MODULES = ("fastapi", "starlette")
# the HTTP layer: besides the routers, the only modules that may import FastAPI or Starlette (the
# edge middleware, dependencies, error rendering, response helpers and the fast path, the app and
# its documents); everything else (services, the engine, app/answers.py, ...) is framework-free
HTTP_LAYER = {
    "app.deps",
    "app.direct",
    "app.docs",
    "app.errors",
    "app.http",
    "app.main",
    "app.observability",
    "app.openapi",
    "app.operations",
    "app.testhooks",
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. app.screening.service
    target: str  # the imported app module, e.g. app.catalog.service
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(APP.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The app module an import names (``from app.x import y`` may name module ``app.x.y``)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(known: dict[str, Path] | None = None) -> Iterator[Import]:
    """Every import of an app module by an app module, at any depth (function-level ones too)."""
    known = known or modules()
    for source, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if not name.startswith("app"):
                    continue
                target = _resolve(name, known)
                if target and target != source and target != "app":
                    yield Import(source, target, node.lineno)


def external_imports(path: Path) -> set[str]:
    """Top-level names of the non-app packages a module imports."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out - {"app"}


def node(module: str) -> str:
    """A module's place in the package graph: a domain package is one node, its router another
    (the HTTP layer sits above ``app.deps``, which sits above the packages); every other module is
    its own node."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in (*DOMAINS, "rules"):
        if len(parts) == 3 and parts[2] == "router":
            return module
        return ".".join(parts[:2])
    return module


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {node(m): set() for m in modules() if m != "app"}
    for imp in imports():
        a, b = node(imp.source), node(imp.target)
        if a != b:
            graph[a].add(b)
    return graph


def module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules() if m != "app"}
    for imp in imports():
        graph[imp.source].add(imp.target)
    return graph


def render(graph: dict[str, set[str]]) -> str:
    """One line per node, each with what it imports, by layer: a node's layer is one above the
    highest layer it imports (layer 0 imports nothing from app). Raises CycleError on a cycle."""
    layer: dict[str, int] = {}
    for n in TopologicalSorter(graph).static_order():
        layer[n] = 1 + max((layer[d] for d in graph[n]), default=-1)
    width = max(len(n) for n in graph)
    order = sorted(graph, key=lambda n: (layer[n], n))
    return "\n".join(f"{layer[n]}  {n:<{width}}  -> {', '.join(sorted(graph[n])) or '(nothing in app)'}" for n in order)


def test_the_package_import_graph_has_no_cycles_and_prints() -> None:
    graph = package_graph()
    try:
        text = render(graph)
    except CycleError as exc:  # pragma: no cover - the message names the cycle
        pytest.fail(f"package import cycle: {' -> '.join(exc.args[1])}")
    print("\npackage import graph (each line: a node and what it imports)\n" + text)
    # the engine is at the bottom: it imports nothing from the service around it
    assert graph["app.rules"] <= {"app.vocabulary"}


def test_the_module_import_graph_has_no_cycles_either() -> None:
    try:
        list(TopologicalSorter(module_graph()).static_order())
    except CycleError as exc:
        pytest.fail(f"module import cycle: {' -> '.join(exc.args[1])}")


def test_a_graph_with_a_cycle_is_reported() -> None:
    """The check above can fail: a cycle is found when there is one."""
    with pytest.raises(CycleError):
        render({"a": {"b"}, "b": {"a"}})


@pytest.mark.parametrize("package", DOMAINS)
def test_every_domain_package_has_the_same_rooms(package: str) -> None:
    rooms = {p.stem for p in (APP / package).glob("*.py")}
    missing = set(ROOMS) - rooms
    assert not missing, f"app/{package} lacks {sorted(missing)}"
    assert ("models" in rooms) == (package in OWNS_TABLES), f"app/{package}: models.py iff it owns tables"


@pytest.mark.parametrize("package", DOMAINS)
def test_routers_are_http_only_no_models_and_no_error_rewrapping(package: str) -> None:
    """Request/response models live in schemas.py; errors raised by services reach app/errors.py
    untouched (no try/except in a router)."""
    tree = ast.parse((APP / package / "router.py").read_text(encoding="utf-8"))
    classes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    assert not classes, f"app/{package}/router.py defines {classes}: move them to schemas.py"
    tries = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Try)]
    assert not tries, f"app/{package}/router.py catches errors at lines {tries}: let the service's DomainError through"


def framework_outside_the_http_layer(known: dict[str, Path]) -> list[str]:
    """The modules, neither a router nor in ``HTTP_LAYER``, that import FastAPI or Starlette (at any
    depth, ``if TYPE_CHECKING:`` included)."""
    return [
        name
        for name, path in known.items()
        if name.split(".")[-1] != "router" and name not in HTTP_LAYER and external_imports(path) & set(HTTP_MODULES)
    ]


def test_only_routers_and_the_http_layer_import_fastapi_or_starlette() -> None:
    offenders = framework_outside_the_http_layer(modules())
    assert not offenders, f"HTTP types outside the HTTP layer (routers, {sorted(HTTP_LAYER)}): {offenders}"
    # the prepared answers are plain bytes; their HTTP side is app/http.py (issue 9)
    assert "app.answers" not in HTTP_LAYER


@pytest.mark.parametrize(
    "source",
    [
        "from fastapi import Response\n",
        "import starlette.types\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fastapi import FastAPI\n",
        "def f():\n    from starlette.responses import Response\n",
    ],
)
def test_a_framework_import_outside_the_http_layer_is_reported(tmp_path: Path, source: str) -> None:
    """The check above can fail: a service or a shared module importing the framework, however it
    does, is named; the same import in a router or an HTTP-layer module is not."""
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    plain = tmp_path / "plain.py"
    plain.write_text("import hashlib\n", encoding="utf-8")
    known = {"app.answers": path, "app.screening.service": path, "app.clock": plain}
    assert framework_outside_the_http_layer(known) == ["app.answers", "app.screening.service"]
    assert framework_outside_the_http_layer({"app.http": path, "app.screening.router": path}) == []


def test_the_engine_imports_no_framework_database_io_or_clock() -> None:
    allowed = {"__future__", "collections", "dataclasses", "datetime", "decimal", "fractions", "types", "typing"}
    allowed |= {"itertools", "functools", "enum", "math", "re"}
    for name, path in modules().items():
        if name.startswith("app.rules"):
            extra = external_imports(path) - allowed
            assert not extra, f"{name} imports {sorted(extra)}"
            text = path.read_text(encoding="utf-8")
            assert ".now(" not in text and ".today(" not in text, f"{name} reads the clock"
    engine_imports = [i.target for i in imports() if i.source.startswith("app.rules")]
    assert all(t.startswith(("app.rules", "app.vocabulary")) for t in engine_imports), engine_imports


def test_no_package_reaches_into_another_packages_internals() -> None:
    offenders = []
    for imp in imports():
        if imp.source in SHELL or (imp.source, imp.target) in ALLOWED_REACH_INS:
            continue
        src, dst = imp.source.split("."), imp.target.split(".")
        if len(dst) == 3 and dst[1] in DOMAINS and (len(src) < 2 or src[1] != dst[1]) and dst[2] not in PUBLIC_ROOMS:
            offenders.append(f"{imp.source}:{imp.line} imports {imp.target}")
    assert not offenders, "\n".join(offenders)


def test_shared_vocabulary_is_defined_once() -> None:
    """CountryCode, GroupCode, SourceKind, TransactionType, AsOf: one definition, in app/vocabulary.py."""
    words = {"CountryCode", "CountryInput", "GroupCode", "SourceKind", "TransactionType", "AsOf", "Basis"}
    where: dict[str, list[str]] = {}
    for name, path in modules().items():
        for n in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = [t.id for t in getattr(n, "targets", []) if isinstance(t, ast.Name)]
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
                targets.append(n.target.id)
            for t in targets:
                if t in words:
                    where.setdefault(t, []).append(name)
    assert where == {w: ["app.vocabulary"] for w in words}


if __name__ == "__main__":
    print(render(package_graph()))
