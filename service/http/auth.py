"""Who is calling and what they may do: bearer tokens with roles, checked by one guard.

Writes need an editor token, admin endpoints (marked `opt={"role": "admin"}`) an admin token,
reads are open unless the app requires a reader token for them; one middleware checks. The
principal recorded as `recorded_by` is the token's name, or `anonymous`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Litestar, Request
from litestar.concurrency import sync_to_thread
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Method, Receive, Scope, Send

from service.http.openapi import BEARER
from service.http.problems import REFUSED_BY_ROLE
from service.tokens import Role, Tokens, allows

ANONYMOUS = "anonymous"
ROLE = "role"  # handler opt key naming the role a handler needs
OPEN = "open"  # handler opt key: open to anyone, even when reads need a token (liveness)
_SAFE: frozenset[Method | str] = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="timeline"'}


def needed_role(method: str, handler: BaseRouteHandler, *, require_read: bool) -> Role | None:
    """The role a request needs: the handler's own, editor to write, reader if reads are closed."""
    role: Role | None = handler.opt.get(ROLE)
    if role is not None:
        return role
    if handler.opt.get(OPEN):
        return None
    if method not in _SAFE:
        return "editor"
    return "reader" if require_read else None


def document_security(app: Litestar, *, require_read: bool) -> None:
    """Mark in the OpenAPI document the operations that need a token, as `needed_role` decides
    (the interactive page then offers to send one), with the refusals of a request without one
    or with a weaker one; before the document is first made."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            needed = {
                needed_role(m, handler, require_read=require_read) for m in handler.http_methods
            }
            strongest = next((r for r in ("admin", "editor", "reader") if r in needed), None)
            if strongest is not None:
                handler.security = [{BEARER: []}]
                handler.responses = {**REFUSED_BY_ROLE[strongest], **(handler.responses or {})}


class Authorize:
    """Middleware of every route: authenticate the bearer token, check its role, keep the principal.

    A middleware rather than a guard: it reads the raw scope, where a guard costs a copy of the
    route handler and a parse of every header on each request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"]["principal"] = await authorize(scope)
        await self.app(scope, receive, send)


def bearer_secret(scope: Mapping[str, Any]) -> str | None:
    """The secret of the request's bearer token: "" without an `Authorization` header, None
    when the header is not `Bearer <secret>` or comes more than once (which one counts would be
    a guess: the first counted, so a good token before a bad one passed and after it did not)."""
    found = [value for name, value in scope["headers"] if name == b"authorization"]
    if not found:
        return ""
    if len(found) > 1:
        return None
    scheme, _, secret = found[0].decode("latin-1").partition(" ")
    secret = secret.strip()
    return secret if scheme.lower() == "bearer" and secret else None


async def authorize(scope: Scope) -> str:
    """The principal of a request allowed to reach its handler; 401 or 403 otherwise."""
    state = scope["litestar_app"].state
    tokens: Tokens = state.tokens
    secret = bearer_secret(scope)
    if secret is None:
        raise NotAuthorizedException(
            "use one `Authorization: Bearer <token>` header", headers=_CHALLENGE
        )
    token = None
    if secret:
        token = tokens.cached(secret) or await sync_to_thread(tokens.authenticate, secret)
        if token is None:
            raise NotAuthorizedException("unknown or revoked token", headers=_CHALLENGE)
    method = str(scope.get("method", "GET"))
    needed = needed_role(method, scope["route_handler"], require_read=state.require_read_token)
    if needed is not None:
        if token is None:
            raise NotAuthorizedException(
                f"this needs {_article(needed)} {needed} token", headers=_CHALLENGE
            )
        if not allows(token.role, needed):
            raise PermissionDeniedException(
                f"token {token.name!r} is {_article(token.role)} {token.role}; "
                f"this needs {_article(needed)} {needed}"
            )
    return token.name if token else ANONYMOUS


def _article(role: str) -> str:
    return "an" if role[0] in "aeiou" else "a"


def provide_principal(request: Request[Any, Any, Any]) -> str:
    """The caller's principal, as the guard established it."""
    principal: str = request.scope["state"].get("principal", ANONYMOUS)
    return principal
