"""A path holding a NUL character names nothing this server has: the static routes (the page's
assets, the API documents') stat files by the path, and the file system refuses a NUL with a
`ValueError`, which was a 500. It is a 404 here, before any route reads it."""

from __future__ import annotations

from litestar.exceptions import NotFoundException
from litestar.types import ASGIApp, Receive, Scope, Send


class RefuseNulInPath:
    """Middleware of every route: a path with a NUL character is a 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "\x00" in scope["path"]:
            raise NotFoundException()  # its problem names the path, escaped as JSON
        await self.app(scope, receive, send)
