"""Interactive docs and metrics access: Swagger UI served from the service itself, and a switch for
``/docs`` (with ``/openapi.json``) and ``/metrics``: ``public``, ``key`` (any valid API key for the
docs, an ``admin`` or ``audit`` key for metrics) or ``off`` (404).

Swagger UI's script and stylesheet come from the packaged copy in ``fastapi-offline`` (Swagger UI 5,
which renders OpenAPI 3.1), so the docs work on a network with no route to a CDN; the online
validator badge is off for the same reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Literal

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from app.errors import DomainError

Access = Literal["public", "key", "off"]
ASSETS = "/docs/assets"
ASSETS_DIR = str(files("fastapi_offline") / "static")


async def _bearer(request: Request) -> str:
    scheme, _, raw = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise DomainError(
            "unauthorized", "Send an API key: Authorization: Bearer <key>", headers={"WWW-Authenticate": "Bearer"}
        )
    return raw.strip()


def guard(access: Access, scopes: frozenset[str] = frozenset()) -> Callable[[Request], Awaitable[None]]:
    """A check for an operational route: 404 when off, 401/403 without a suitable key."""

    async def check(request: Request) -> None:
        if access == "off":
            raise DomainError("not_found", f"{request.url.path} is switched off on this service")
        if access == "public":
            return
        principal = await request.app.state.keys.principal(await _bearer(request))
        if principal is None:
            raise DomainError("unauthorized", "Unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if scopes and not principal.scopes & scopes:
            raise DomainError("forbidden", f"This needs the scope {' or '.join(sorted(scopes))}")

    return check


def install(app: FastAPI, access: Access) -> None:
    """Serve /docs, its assets and /openapi.json as ``access`` says (build the app with
    ``docs_url=None, redoc_url=None, openapi_url=None``)."""
    check = guard(access)
    if access != "off":
        app.mount(ASSETS, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(request: Request) -> Response:
        await check(request)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        await check(request)
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - API docs",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        await check(request)
        return get_swagger_ui_oauth2_redirect_html()
