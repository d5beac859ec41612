"""Response helpers shared by routers: JSON with ETag/304, and no-store records."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from pydantic import BaseModel


def cached_json(request: Request, data_version: str, model: BaseModel) -> Response:
    """Reference data: strong ETag per data version and URL; 304 on If-None-Match."""
    key = f"{data_version}|{request.url.path}?{request.url.query}"
    etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:24] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    match = request.headers.get("if-none-match")
    if match and (match.strip() == "*" or etag in [m.strip().removeprefix("W/") for m in match.split(",")]):
        return Response(status_code=304, headers=headers)
    return Response(model.model_dump_json(), media_type="application/json", headers=headers)


def record_json(body: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A stored record (a decision, a new key), byte for byte as first returned; never cached."""
    return Response(
        body,
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
