"""Headers every answer carries for browsers: no guessing of media types, no framing by another
site, no `Referer` taking a page's address (its times and filters) to another site; and, but
for the interactive OpenAPI page (whose Swagger UI runs inline scripts), a Content-Security-
Policy that lets a page load only this server's own scripts, styles, images and streams; and
`Cache-Control: no-store` on an answer to a request that carried a token."""

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
        # what a token was shown is kept by no cache (shared ones keep none by default, but a
        # browser's would), unless the answer says otherwise
        private = any(name == b"authorization" for name, _ in scope["headers"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *added]
                if private and not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
