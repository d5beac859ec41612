"""/docs works with no route to a CDN (Swagger UI served by the service), and /docs, /openapi.json
and /metrics can be switched off or put behind a key."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import ADMIN_KEY, make_settings, new_key, wait_ready


def test_docs_load_swagger_ui_from_the_service_itself(anon: TestClient) -> None:
    page = anon.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "https://" not in page.text.replace("https://chipclass", "")  # no CDN, no online validator
    script = anon.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "OpenAPI31" in script.text  # Swagger UI 5: renders the 3.1 document FastAPI writes
    assert anon.get("/docs/assets/swagger-ui.css").status_code == 200
    assert anon.get("/openapi.json").json()["info"]["title"] == "chipclass"


@pytest.fixture
def guarded(database_url: str) -> Iterator[TestClient]:
    app = create_app(make_settings(database_url, docs_access="off", metrics_access="key"))
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def test_docs_switched_off_are_404_problems(guarded: TestClient) -> None:
    for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui.css"):
        resp = guarded.get(path)
        assert resp.status_code == 404 and resp.headers["content-type"].startswith("application/problem+json")


def test_metrics_behind_a_key_need_an_admin_or_audit_key(guarded: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer cc_nobody_" + "x" * 30}).status_code == 401
    reader = new_key(TestClient(guarded.app, headers=admin), "read")
    assert guarded.get("/metrics", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    auditor = new_key(TestClient(guarded.app, headers=admin), "audit")
    resp = guarded.get("/metrics", headers={"Authorization": f"Bearer {auditor}"})
    assert resp.status_code == 200 and "chipclass_requests_total" in resp.text
    assert guarded.get("/healthz").status_code == 200 and guarded.get("/readyz").status_code == 200


def test_docs_behind_a_key_accept_any_valid_key(database_url: str) -> None:
    app = create_app(make_settings(database_url, docs_access="key"))
    with TestClient(app) as c:
        wait_ready(c)
        assert c.get("/docs").status_code == 401 and c.get("/openapi.json").status_code == 401
        reader = new_key(TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}), "read")
        assert c.get("/openapi.json", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
