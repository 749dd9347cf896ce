"""Query parameters a route does not declare are refused: a misspelt filter (`?suplier=IRN`)
would otherwise be ignored, and the answer would be the unfiltered one, with no warning. So is
a parameter given twice (`?as_of=2024-01-01&as_of=2024-06-01`): one of them would be ignored.

What a route accepts is what Litestar parsed from its handler's signature (and its dependencies'):
the query names of the route's kwargs model, aliases such as `from` included.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send

from service.http.openapi import DOCUMENTS  # its documents are not ours to refuse
from service.http.params import InvalidParameter

API = "/api/"


class RefuseUnknownParameters:
    """Middleware of every route: under /api/ (but its documents), a query parameter the route's
    handler does not declare is an `InvalidParameter` naming it and listing those it takes, and
    one given more than once is an `InvalidParameter` naming it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._accepted: dict[int, frozenset[str]] = {}  # by id() of the route handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("query_string") and _is_api(scope):
            self._check(scope)
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> None:
        handler = scope["route_handler"]
        accepted = self._accepted.get(id(handler))
        if accepted is None:  # the first request of this route: what Litestar made of it
            self._accepted = accepted_parameters(scope["litestar_app"])
            accepted = self._accepted.setdefault(id(handler), frozenset())
        params = ASGIConnection[Any, Any, Any, Any](scope).query_params
        unknown = [name for name in params if name not in accepted]
        where = f"{scope.get('method')} {scope['path']}"
        if unknown:
            raise InvalidParameter(unknown[0], _refusal(where, unknown, accepted))
        for name in params:  # each takes one value: which of two was meant cannot be told
            if len(params.getall(name)) > 1:
                raise InvalidParameter(name, f"{where} takes one {name!r}; it was given more")


def _is_api(scope: Scope) -> bool:
    path: str = scope["path"]
    return (
        path.startswith(API)
        and path != DOCUMENTS
        and not path.startswith(DOCUMENTS + "/")
        and scope.get("method") != "OPTIONS"  # a CORS preflight: the request itself is checked
    )


def accepted_parameters(app: Litestar) -> dict[int, frozenset[str]]:
    """The query names each HTTP route handler of `app` takes, by id() of the handler."""
    accepted: dict[int, frozenset[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, kwargs_model in route.route_handler_map.values():
                names = frozenset(p.field_alias for p in kwargs_model.expected_query_params)
                accepted[id(handler)] = accepted.get(id(handler), frozenset()) | names
    return accepted


def _refusal(where: str, unknown: list[str], accepted: frozenset[str]) -> str:
    """Why `unknown[0]` is refused: what the route takes, and the likely one it meant."""
    message = f"{where} has no parameter {unknown[0]!r}"
    if len(unknown) > 1:
        message += " (nor " + ", ".join(repr(name) for name in unknown[1:]) + ")"
    if not accepted:
        return message + "; it takes no query parameters"
    message += "; it takes " + ", ".join(sorted(accepted))
    meant = get_close_matches(unknown[0], accepted, n=1)
    return message + (f" (did you mean {meant[0]!r}?)" if meant else "")
