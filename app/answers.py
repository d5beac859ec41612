"""Prepared answers: classifications are pure functions of (item, date, rulebook version), so each
is serialised once per snapshot and served as the same bytes with a strong ETag (304 on a match).

The router computes and stores an answer (``prepare``, through ``Snapshot.remember``, under
``get_key``); the edge (``app.http.PreparedAnswers``, called by ``EdgeMiddleware`` before FastAPI)
serves a repeat of the same GET, the same path and the same query string on the same snapshot and
day, straight from those bytes, after the same key and scope checks the router's dependencies make.
Anything else goes to FastAPI, which answers exactly as before; so the fast path can only ever
repeat an answer the router gave.

Framework-free (plain bytes and strings): the HTTP side, the router's response and the edge's fast
path, is ``app/http.py`` (``tests/test_shape.py`` checks that only the HTTP layer imports FastAPI).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app import clock

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


def get_key(path: str, query_string: bytes) -> tuple[str, str, bytes, str]:
    """Where a GET answer is remembered in the snapshot: path, raw query and the UTC day (an absent
    ``as_of`` means today)."""
    return ("GET", path, query_string, clock.today().isoformat())
