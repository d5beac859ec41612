"""Prepared answers: classifications are pure functions of (item, date, rulebook version), so each
is serialised once per snapshot and served as the same bytes with a strong ETag (304 on a match).

The router computes and stores an answer (``prepare``, through ``Snapshot.remember``); the edge
(``PreparedAnswers``, called by ``EdgeMiddleware`` before FastAPI) serves a repeat of the same GET,
the same path and the same query string on the same snapshot and day, straight from those bytes,
after the same key and scope checks the router's dependencies make. Anything else (no or unknown
key, a key not yet in the key cache, a rate-limited key, an answer not prepared yet) goes to FastAPI,
which answers exactly as before; so the fast path can only ever repeat an answer the router gave.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

from fastapi import Request, Response
from starlette.types import Scope, Send

from app import clock

if TYPE_CHECKING:
    from fastapi import FastAPI

GET_CLASSIFICATION = "/v1/accelerators/{accelerator_id}/classification"
READ_SCOPES = frozenset({"read", "admin"})


@dataclass(frozen=True, slots=True)
class Prepared:
    body: bytes
    etag: str  # strong: a hash of the bytes, so it changes exactly when the answer does
    headers: tuple[tuple[bytes, bytes], ...]
    not_modified_headers: tuple[tuple[bytes, bytes], ...]


def prepare(body: bytes) -> Prepared:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    common = ((b"etag", etag.encode()), (b"cache-control", b"no-cache"))
    return Prepared(
        body,
        etag,
        ((b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *common),
        common,
    )


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or any listed tag (weak comparison)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return etag in (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))


def respond(request: Request, prepared: Prepared) -> Response:
    if matches(request.headers.get("if-none-match"), prepared.etag):
        return Response(status_code=304, headers={"ETag": prepared.etag, "Cache-Control": "no-cache"})
    return Response(
        prepared.body,
        media_type="application/json",
        headers={"ETag": prepared.etag, "Cache-Control": "no-cache"},
    )


def get_key(scope: Scope) -> tuple[str, str, bytes, str]:
    """Where a GET answer is remembered in the snapshot: path, raw query and the UTC day (an absent
    ``as_of`` means today)."""
    return ("GET", scope["path"], scope["query_string"], clock.today().isoformat())


class PreparedAnswers:
    """The edge's fast path for repeated GET classifications."""

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
        prepared = state.store.current.memo.get(get_key(scope))
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
