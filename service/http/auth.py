"""Who is calling and what they may do: bearer tokens with roles, checked by one guard.

Writes need an editor token, admin endpoints (marked `opt={"role": "admin"}`) an admin token,
reads are open unless the app requires a reader token for them. The principal recorded as
`recorded_by` is the token's name, or `anonymous`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Method

from service.tokens import Role, Tokens, allows

ANONYMOUS = "anonymous"
ROLE = "role"  # handler opt key naming the role a handler needs
_SAFE: frozenset[Method | str] = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="timeline"'}


def needed_role(method: str, handler: BaseRouteHandler, *, require_read: bool) -> Role | None:
    """The role a request needs: the handler's own, editor to write, reader if reads are closed."""
    role: Role | None = handler.opt.get(ROLE)
    if role is not None:
        return role
    if method not in _SAFE:
        return "editor"
    return "reader" if require_read else None


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard of every route: authenticate the bearer token, check its role, keep the principal."""
    state = connection.app.state
    tokens: Tokens = state.tokens
    header = connection.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    token = None
    if header:
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotAuthorizedException("use `Authorization: Bearer <token>`", headers=_CHALLENGE)
        token = tokens.cached(secret.strip()) or await sync_to_thread(
            tokens.authenticate, secret.strip()
        )
        if token is None:
            raise NotAuthorizedException("unknown or revoked token", headers=_CHALLENGE)
    method = str(connection.scope.get("method", "GET"))
    needed = needed_role(method, handler, require_read=state.require_read_token)
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
    connection.state.principal = token.name if token else ANONYMOUS


def _article(role: str) -> str:
    return "an" if role[0] in "aeiou" else "a"


def provide_principal(request: Request[Any, Any, Any]) -> str:
    """The caller's principal, as the guard established it."""
    principal: str = request.state.get("principal", ANONYMOUS)
    return principal
