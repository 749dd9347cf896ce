"""`HEAD`: wherever `GET` answers, `HEAD` answers with the same status and headers and no body
(RFC 9110 §9.3.2), so link checkers, monitors and `curl -I` get what `GET` would give.

Litestar routes `HEAD` only to handlers that declare it, so this sits in front of the app: the
request goes in as a `GET`, and only the response's start and an empty end come out. A streamed
answer (no `Content-Length`, like the event stream) is ended there and its handler cancelled,
since it would otherwise run for as long as the client stays connected.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_END = {"type": "http.response.body", "body": b"", "more_body": False}


class AnswerHead:
    """ASGI app: a `HEAD` request answered as its `GET` would be, without the body."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False
        with anyio.CancelScope() as streaming:

            async def headers_only(message: Message) -> None:
                nonlocal ended
                if ended or message["type"] != "http.response.start":
                    return  # the body, and anything after it
                await send(message)
                await send(_END)
                ended = True
                headers = message.get("headers", ())
                if not any(name.lower() == b"content-length" for name, _ in headers):
                    streaming.cancel()

            await self.app({**scope, "method": "GET"}, receive, headers_only)
