"""Response helpers shared by routers: JSON with ETag/304, no-store records, prepared answers; and
the edge's fast path that repeats a prepared answer (``PreparedAnswers``)."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import TYPE_CHECKING

from fastapi import Request, Response
from pydantic import BaseModel
from starlette.types import Scope, Send

from app.answers import GET_CLASSIFICATION, READ_SCOPES, Prepared, get_key, matches

if TYPE_CHECKING:
    from fastapi import FastAPI


def _etag(request: Request, data_version: str, variant: str = "") -> tuple[str, bool]:
    """A strong ETag per data version, URL and representation, and whether If-None-Match matches it."""
    key = f"{data_version}|{request.url.path}?{request.url.query}|{variant}".removesuffix("|")
    etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:24] + '"'
    match = request.headers.get("if-none-match") or ""
    hit = bool(match) and (match.strip() == "*" or etag in [m.strip().removeprefix("W/") for m in match.split(",")])
    return etag, hit


def cached_json(request: Request, data_version: str, model: BaseModel) -> Response:
    """Reference data: strong ETag per data version and URL; 304 on If-None-Match."""
    etag, hit = _etag(request, data_version)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if hit:
        return Response(status_code=304, headers=headers)
    return Response(model.model_dump_json(), media_type="application/json", headers=headers)


CSV = "text/csv"


def prefers(request: Request, media_type: str, default: str = "application/json") -> bool:
    """Whether the Accept header asks for ``media_type`` over ``default`` (q-values; ties: the first listed)."""
    accept = request.headers.get("accept")
    if not accept:
        return False
    ranked: dict[str, tuple[float, int]] = {}
    for order, part in enumerate(accept.split(",")):
        media, *params = (p.strip().lower() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media not in ranked or ranked[media][0] < q:
            ranked[media] = (q, order)
    wanted = ranked.get(media_type)
    if wanted is None or wanted[0] <= 0:
        return False
    kind = default.split("/")[0]
    other = max((ranked.get(m, (0.0, 1 << 30)) for m in (default, f"{kind}/*", "*/*")), key=lambda r: (r[0], -r[1]))
    return wanted[0] > other[0] or (wanted[0] == other[0] and wanted[1] < other[1])


def cached_csv(request: Request, data_version: str, body: str, filename: str) -> Response:
    """A CSV representation of reference data: its own ETag (Vary: Accept), offered as a download."""
    etag, hit = _etag(request, data_version, CSV)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept"}
    if hit:
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(body.encode("utf-8"), media_type=f"{CSV}; charset=utf-8", headers=headers)


def record_json(body: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A stored record (a decision, a new key), byte for byte as first returned; never cached."""
    return Response(
        body,
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def prepared_json(request: Request, prepared: Prepared) -> Response:
    """A prepared answer (``app/answers.py``): its bytes and strong ETag; 304 on If-None-Match."""
    if matches(request.headers.get("if-none-match"), prepared.etag):
        return Response(status_code=304, headers={"ETag": prepared.etag, "Cache-Control": "no-cache"})
    return Response(
        prepared.body,
        media_type="application/json",
        headers={"ETag": prepared.etag, "Cache-Control": "no-cache"},
    )


def remember_key(scope: Scope) -> tuple[str, str, bytes, str]:
    """Where the answer to this GET is remembered in the snapshot (``app.answers.get_key``)."""
    return get_key(scope["path"], scope["query_string"])


class PreparedAnswers:
    """The edge's fast path for repeated GET classifications (``app/answers.py`` says why it is safe)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.route = SimpleNamespace(path=GET_CLASSIFICATION)  # for metrics and logs

    async def __call__(self, scope: Scope, headers: dict[bytes, bytes], send: Send) -> bool:
        """True when it answered; False: FastAPI must handle the request."""
        path: str = scope["path"]
        if scope["method"] != "GET" or not path.endswith("/classification"):
            return False
        state = self.app.state
        if not state.store.loaded:
            return False
        prepared = state.store.current.memo.get(remember_key(scope))
        if not isinstance(prepared, Prepared):
            return False
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() != b"bearer ":
            return False
        found, principal = state.keys.peek(auth[7:].decode("latin-1").strip())
        if not found or principal is None or not (principal.scopes & READ_SCOPES):
            return False
        if state.rate_limiter.rate > 0 and state.rate_limiter.allow(principal.key_id):
            return False
        scope.setdefault("state", {})["api_key_id"] = principal.key_id
        scope["route"] = self.route
        inm = headers.get(b"if-none-match")
        if inm is not None and matches(inm.decode("latin-1"), prepared.etag):
            await send({"type": "http.response.start", "status": 304, "headers": list(prepared.not_modified_headers)})
            await send({"type": "http.response.body", "body": b""})
            return True
        await send({"type": "http.response.start", "status": 200, "headers": list(prepared.headers)})
        await send({"type": "http.response.body", "body": prepared.body})
        return True
