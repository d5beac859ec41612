"""The /ui page as HTTP: served by the service with a strict CSP, its assets present, vendored
libraries the versions package-lock.json pins, every static file inside the wheel's package data,
and the key-introspection route the page uses to offer only what a key may do."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import new_key

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "app" / "ui"


def test_the_page_needs_no_key_and_carries_a_csp_without_inline_script_style_or_eval(anon: TestClient) -> None:
    resp = anon.get("/ui")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe" not in csp and "frame-ancestors 'none'" in csp and "form-action 'none'" in csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert anon.head("/ui").status_code == 200


def test_the_page_has_no_inline_script_or_style(anon: TestClient) -> None:
    html = anon.get("/ui").text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html and " on" + "click=" not in html


@pytest.mark.parametrize("path", ["app.css", "js/app.js", "vendor/plot.umd.min.js", "vendor/d3.min.js", "favicon.svg"])
def test_assets_are_served_with_types_and_validators(anon: TestClient, path: str) -> None:
    resp = anon.get(f"/ui/static/{path}")
    assert resp.status_code == 200
    assert resp.headers["x-content-type-options"] == "nosniff"
    etag = resp.headers["etag"]
    assert anon.get(f"/ui/static/{path}", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("path", ["nope.js", "../router.py", "..%2frouter.py", "js/../../router.py", ""])
def test_unknown_or_escaping_asset_paths_are_404_problems(anon: TestClient, path: str) -> None:
    resp = anon.get(f"/ui/static/{path}")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_modules_are_served_as_javascript(anon: TestClient) -> None:
    assert "javascript" in anon.get("/ui/static/js/app.js").headers["content-type"]


def test_vendored_libraries_are_the_versions_the_lockfile_pins() -> None:
    lock = json.loads((UI / "package-lock.json").read_text())["packages"]
    pinned = json.loads((UI / "package.json").read_text())["dependencies"]
    heads = {
        "d3": (UI / "static/vendor/d3.min.js").read_text()[:200],
        "@observablehq/plot": (UI / "static/vendor/plot.umd.min.js").read_text()[:200],
    }
    for name, head in heads.items():
        version = lock[f"node_modules/{name}"]["version"]
        assert version == pinned[name]
        assert f" v{version} " in head, (name, version, head[:80])


def test_every_static_file_is_in_the_package_data_globs() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["app"]
    files = [p.relative_to(ROOT / "app").as_posix() for p in (UI / "static").rglob("*") if p.is_file()]
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)]
    assert files and missing == []


def test_the_current_key_route_names_the_callers_scopes_and_needs_a_key(client: TestClient, anon: TestClient) -> None:
    key = new_key(client, "read", "audit")
    resp = anon.get("/v1/keys/current", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["scopes"] == ["audit", "read"] and body["name"] == "test" and body["revoked_at"] is None
    assert key not in resp.text
    assert anon.get("/v1/keys/current").status_code == 401
