"""Headers every answer carries for browsers: no guessing of media types, no framing by another
site, no `Referer` taking a page's address (its times and filters) to another site; and, but
for the interactive OpenAPI page (whose Swagger UI runs inline scripts), a Content-Security-
Policy that lets a page load only this server's own scripts, styles, images and streams."""

from __future__ import annotations

from service.http.head import App, Message, Receive, Scope, Send
from service.http.openapi import DOCUMENTS

ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
POLICY = (
    b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    b"form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """ASGI app: `app`, each answer with the headers above added."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = list(ALWAYS)
        if not scope["path"].startswith(DOCUMENTS):
            added.append((b"content-security-policy", POLICY))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        await self.app(scope, receive, with_headers)
