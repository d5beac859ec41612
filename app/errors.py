"""RFC 9457 problem details: one catalogue of errors, each with a stable ``code``, and the one path
from a ``DomainError`` raised by a service to the problem+json a client reads.

Services raise ``DomainError``; ``install()`` registers the handlers that render it (and FastAPI's
own validation and HTTP errors, and database outages) with ``problem()``. No router catches and
re-wraps an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from app.failures import failures

log = logging.getLogger("chipclass.errors")

PROBLEM_TYPE = "https://chipclass.dev/problems/"
MEDIA_TYPE = "application/problem+json"

# code -> (status, title)
CATALOGUE: dict[str, tuple[int, str]] = {
    "bad_request": (400, "Bad request"),
    "unauthorized": (401, "Missing or unknown API key"),
    "forbidden": (403, "The API key lacks the scope this operation needs"),
    "not_found": (404, "Not found"),
    "unknown_accelerator": (404, "Unknown accelerator"),
    "unknown_country": (404, "Unknown country"),
    "unknown_ruleset": (404, "Unknown ruleset"),
    "unknown_screening": (404, "Unknown screening"),
    "unknown_webhook": (404, "Unknown webhook subscription"),
    "unknown_event": (404, "Unknown event"),
    "method_not_allowed": (405, "Method not allowed"),
    "not_acceptable": (406, "Not acceptable"),
    "conflict": (409, "Conflict with existing data"),
    "payload_too_large": (413, "Request body too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "validation_error": (422, "Request is not valid"),
    "undetermined": (422, "The spec lacks a figure that decides the answer"),
    "idempotency_key_reused": (422, "Idempotency-Key reused with a different request"),
    "invalid_ruleset": (422, "Ruleset is not valid"),
    "retroactive_change": (422, "The change takes effect before today; confirm with retroactive: true and a reason"),
    "unknown_change": (404, "Unknown change"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal error"),
    "database_unavailable": (503, "Database unavailable; retry later"),
    "not_ready": (503, "Service not ready"),
}


class FieldProblem(BaseModel):
    pointer: str = Field(description="Where the problem is, e.g. /lines/0/quantity")
    detail: str


class Problem(BaseModel):
    """application/problem+json (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str = Field(description="Stable machine-readable error code")
    request_id: str | None = None
    errors: list[FieldProblem] = []


class DomainError(Exception):
    """A use case refused: the one error type services raise.

    ``code`` is a key of ``CATALOGUE`` (it fixes status and title), ``detail`` says what went wrong
    in words, and ``pointer`` (a JSON pointer such as ``/lines/0/quantity``, or ``query:cursor``)
    says where; a pointer becomes the single entry of ``errors[]`` unless ``errors`` lists them.
    ``headers`` carries what a client needs to retry (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        code: str,
        detail: str,
        pointer: str | None = None,
        *,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.status, self.title = CATALOGUE[code]
        self.detail = detail
        self.pointer = pointer
        if errors is None:
            errors = [FieldProblem(pointer=pointer, detail=detail)] if pointer is not None else []
        self.errors = errors
        self.headers = headers or {}


def field_error(pointer: str, detail: str) -> DomainError:
    """A 422 for one input field: ``detail`` prefixed with the pointer, and one ``errors[]`` entry."""
    return DomainError(
        "validation_error", f"{pointer}: {detail}", errors=[FieldProblem(pointer=pointer, detail=detail)]
    )


def problem(
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    errors: list[FieldProblem] | None = None,
    status: int | None = None,
) -> Problem:
    """The problem body: built here and nowhere else (the handlers and the edge middleware use it)."""
    default_status, title = CATALOGUE[code]
    return Problem(
        type=PROBLEM_TYPE + code,
        title=title,
        status=status or default_status,
        detail=detail,
        instance=instance,
        code=code,
        request_id=request_id,
        errors=errors or [],
    )


def problem_response(
    request: Request | None,
    code: str,
    detail: str,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    status: int | None = None,
) -> JSONResponse:
    request_id = None
    instance = None
    if request is not None:
        request_id = request.scope.get("state", {}).get("request_id")
        instance = request.url.path
    body = problem(code, detail, instance=instance, request_id=request_id, errors=errors, status=status)
    return JSONResponse(body.model_dump(mode="json"), status_code=body.status, headers=headers, media_type=MEDIA_TYPE)


def _pointer(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    if loc and loc[0] in ("query", "path", "header") and len(loc) > 1:
        return f"{loc[0]}:{'/'.join(str(p) for p in loc[1:])}"
    return "/" + "/".join(parts)


STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "not_ready",
}


def _leaf_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """Routes with methods, through included routers (FastAPI wraps each in an ``original_router``)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(request, exc.code, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            msg = str(err.get("msg", "invalid"))
            if err.get("type") == "json_invalid":
                msg = "body is not valid JSON"
            errors.append(FieldProblem(pointer=_pointer(loc), detail=msg))
        detail = "; ".join(f"{e.pointer}: {e.detail}" for e in errors[:5])
        if len(errors) > 5:
            detail += f"; and {len(errors) - 5} more"
        return problem_response(request, "validation_error", detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8): the same 422 as malformed JSON
            detail = "body is not valid JSON"
            return problem_response(
                request, "validation_error", f"/: {detail}", [FieldProblem(pointer="/", detail=detail)]
            )
        code = STATUS_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # every method the path supports, not only those of the first route matching the path; a
            # literal path (/v1/accelerators/import) is its own resource, not an id of a templated one
            literal: set[str] = set()
            templated: set[str] = set()
            for route in _leaf_routes(request.app.router.routes):
                match, _ = route.matches(request.scope)
                if match != Match.NONE:
                    target = templated if "{" in str(getattr(route, "path", "{")) else literal
                    target |= getattr(route, "methods", None) or set()
            methods = literal or templated
            if methods:
                headers["Allow"] = ", ".join(sorted(methods))
        return problem_response(request, code, str(exc.detail), headers=headers, status=exc.status_code)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(InterfaceError)
    async def _db(request: Request, exc: Exception) -> JSONResponse:
        # the database is down, locked or out of connections: a retry can succeed
        failures.report(log, "database error", exc)
        return problem_response(
            request,
            "database_unavailable",
            "The database did not answer; nothing was recorded.",
            headers={"Retry-After": "2"},
        )

    # any other database error (bad data, a constraint) is not cured by retrying: it is not
    # handled here, so the edge middleware answers it as a 500 and logs it (never its parameters)


def responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for an operation: each status with the problem schema."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        status, title = CATALOGUE[code]
        entry = out.setdefault(
            status,
            {"description": title, "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        )
        if title not in entry["description"]:
            entry["description"] += f"; {title}"
    return out
