"""Direct calls: the hot POST routes answered without FastAPI's per-request machinery.

A POST /v1/classifications or /v1/screenings spent about half of its time in FastAPI before and
after the endpoint ran: the dependency solver (four nested dependants per route), routing, the
exception and exit-stack middleware, and parsing the body a second time. The edge
(``app.observability.EdgeMiddleware``) has already read the body, parsed it (looking for repeated
keys) and verified the key, so for these routes it solves the endpoint's parameters itself and calls
the same endpoint function:

- the parameters are solved only when each one is certain to be what FastAPI would pass: the rules
  are loaded, the key was verified and holds one of the route's scopes, the body validates as the
  route's model (validated the way FastAPI does, from the parsed JSON), a header parameter appears at
  most once and is valid, and the key's rate limit admits the request (checked last, so a request
  handed on is never counted twice);
- anything else (no or an unknown key, a missing scope, an invalid body or header, rules not
  loaded, a rate-limited key) is handed to FastAPI untouched, which answers exactly as it always did:
  the direct call only ever gives the answers the route gives for a request that passes every check;
- an exception from the endpoint is answered by the application's own exception handlers, as
  FastAPI's exception middleware would; one without a handler goes on to the edge (a 500).

The OpenAPI document is unchanged: the routes, their parameters and dependencies are declared as
before, and FastAPI still serves them for every request the direct call hands on.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope

from app.keys.service import Principal
from app.regulations.snapshot import Snapshot

if TYPE_CHECKING:
    from fastapi import FastAPI

M = TypeVar("M", bound=BaseModel)
UNPARSED: Any = object()  # the body was not JSON the edge could parse


@dataclass(slots=True)
class Call:
    """One request on its way to a direct endpoint: what the edge already knows about it."""

    scope: Scope
    receive: Receive
    headers: list[tuple[bytes, bytes]]
    parsed: Any  # the JSON body as json.loads gives it (UNPARSED if it was not JSON)
    principal: Principal | None  # verified by the edge (None: no valid key)

    def snapshot(self) -> Snapshot | None:
        store = self.scope["app"].state.store
        return store.current if store.loaded else None

    def holder(self, *scopes: str) -> Principal | None:
        """The principal if its key holds one of ``scopes`` (``admin`` holds every scope)."""
        p = self.principal
        if p is None or not (p.scopes.intersection(scopes) or "admin" in p.scopes):
            return None
        return p

    def body(self, model: type[M]) -> M | None:
        """The body as ``model``, validated as FastAPI validates a body parameter (the parsed JSON,
        python mode), or None when it does not validate (FastAPI then says why)."""
        if self.parsed is UNPARSED:
            return None
        try:
            return model.model_validate(self.parsed)
        except ValidationError:
            return None

    def header(self, name: bytes, pattern: re.Pattern[str], max_length: int) -> tuple[bool, str | None]:
        """(usable, value) of an optional header parameter: unusable when it is sent more than once or
        does not satisfy its declared constraints (FastAPI then answers); (True, None) when absent."""
        found = [v for k, v in self.headers if k == name]
        if not found:
            return True, None
        if len(found) > 1:
            return False, None
        value = found[0].decode("latin-1")
        if not (0 < len(value) <= max_length) or not pattern.fullmatch(value):
            return False, None
        return True, value

    def admit(self, principal: Principal) -> bool:
        """The rate limit, last of all checks: True when the request may go on (a token is taken)."""
        limiter = self.scope["app"].state.rate_limiter
        if limiter.rate > 0 and limiter.allow(principal.key_id):
            return False
        self.scope.setdefault("state", {})["api_key_id"] = principal.key_id
        return True

    def request(self) -> Request:
        return Request(self.scope, self.receive)


Direct = Callable[[Call], Awaitable[Response | None]]
"""Solves a route's parameters and calls its endpoint (a Response), or hands the request on (None)."""


class DirectRoutes:
    """The direct calls by (method, path), and how an endpoint's exception is answered."""

    def __init__(self, app: FastAPI, routes: Mapping[tuple[str, str], Direct]) -> None:
        self.app = app
        self.routes = routes
        # the route object, for metrics and logs (scope["route"] as FastAPI's router sets it)
        self.route_of: dict[tuple[str, str], object] = {}
        for route in _leaves(app.routes):
            for method in getattr(route, "methods", None) or ():
                key = (method, getattr(route, "path", ""))
                if key in routes:
                    self.route_of[key] = route
        missing = set(routes) - set(self.route_of)
        if missing:
            raise ValueError(f"direct calls for routes the application does not have: {sorted(missing)}")

    def get(self, method: str, path: str) -> Direct | None:
        return self.routes.get((method, path))

    async def answer(self, direct: Direct, call: Call) -> Response | None:
        key = (call.scope["method"], call.scope["path"])
        try:
            response = await direct(call)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            answered = handler(call.request(), exc)
            response = await answered if inspect.isawaitable(answered) else answered
        if response is not None:
            call.scope["route"] = self.route_of.get(key)
        return response

    def _handler(self, exc: Exception) -> Callable[[Request, Any], Any] | None:
        """The application's handler for ``exc``, looked up as Starlette's exception middleware does."""
        handlers = self.app.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                handler: Callable[[Request, Any], Any] = handlers[cls]
                return handler
        return None


def _leaves(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """Routes with methods, through included routers (FastAPI wraps each in an ``original_router``)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaves(inner.routes)
        else:
            yield route
