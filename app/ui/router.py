"""HTTP only: serve the page and its assets with a strict Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from app.errors import DomainError

STATIC = Path(__file__).with_name("static")

# Scripts and styles only from this origin: no inline script or style, no eval. Plot's own <style>
# elements are removed before a chart enters the document (its rules are in app.css instead).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # revalidate every time (ETag/Last-Modified answer 304): an upgraded service never serves stale assets
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)
_assets = StaticFiles(directory=STATIC)


@router.api_route("/ui", methods=["GET", "HEAD"])
async def page() -> Response:
    return FileResponse(STATIC / "index.html", headers=HEADERS)


@router.get("/ui/")
async def page_slash() -> Response:
    return RedirectResponse("/ui", status_code=308)


@router.api_route("/ui/static/{path:path}", methods=["GET", "HEAD"])
async def asset(path: str, request: Request) -> Response:
    try:
        response = await _assets.get_response(path, request.scope)
    except HTTPException as exc:
        raise DomainError("not_found", f"No asset {path!r}") from exc
    response.headers.update(HEADERS)
    return response
