"""What a JSON body must be labelled: `Content-Type` JSON, `Content-Encoding` none.

Every route that reads a JSON body (`opt={JSON_BODY: True}`: `POST /api/events`,
`POST /api/events/batch`, `POST /api/verify`) refuses with 415 a body labelled as anything else:

- `Content-Type` must be `application/json` or a `+json` type (`application/merge-patch+json`),
  with any parameters; a `charset` must be UTF-8, the only encoding JSON has (RFC 8259). A body
  sent as `text/plain`, `application/xml` or `application/x-www-form-urlencoded` (what `curl -d`
  says unless told otherwise) was meant as something else, or was mislabelled by a client that
  will mislabel others: it is refused, not guessed at.
- A body without `Content-Type` is read as JSON. The label is missing, not wrong: RFC 9110
  §8.3 lets the recipient examine the data, and a JSON body is all these routes take, so there
  is nothing else to take it for; scripts that post bytes as they are (`httpx content=`,
  `requests data=`) keep working. The body is then decoded as strictly as any other. An empty
  `Content-Type` is a label, not a JSON one: refused.
- `Content-Encoding` other than `identity` is refused (with `Accept-Encoding: identity`, RFC 9110
  §15.5.16): the service does not decompress, and a gzip body read as JSON would only fail
  later with a misleading error, or, for an encoding that leaves JSON readable, be stored as
  something the client did not mean.

A route that reads no body (`POST /api/checkpoints`, `POST /api/projections/rebuild`: their
options are query parameters) refuses one with 415 naming `body`: `{"name": "deliveries"}`
posted to the rebuild was ignored, and every projection rebuilt.

The check runs before the body is read, after the token is checked (a caller without one gets
401 first), and nothing is stored. The fast path (`fastpath.FastAppend`) leaves a request it
refuses to the app, which answers it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send

JSON_BODY = "json_body"  # route handler `opt` key: the route reads a JSON body
CONTENT_TYPE = "header.content-type"
CONTENT_ENCODING = "header.content-encoding"
BODY = "body"
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})  # methods whose bodies mean nothing anyway
ACCEPTED = "application/json (or a +json type)"


class UnsupportedMediaType(Exception):
    """415: the body is labelled as something the route does not read; `path` names the header
    (`header.content-type`, `header.content-encoding`)."""

    def __init__(self, path: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.headers = headers or {}


def _values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key.lower() == name]


def _json_media_type(value: str) -> str | None:
    """Why `value` is not a JSON media type with a UTF-8 (or no) charset; None when it is."""
    media_type, *parameters = value.split(";")
    kind, slash, subtype = media_type.strip().lower().partition("/")
    json = (kind, subtype) == ("application", "json") or (
        bool(kind) and subtype.endswith("+json") and subtype != "+json"
    )
    if not (slash and json):
        return f"the body must be sent as {ACCEPTED}, not {media_type.strip() or 'empty'}"
    for parameter in parameters:
        name, _, charset = parameter.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return f"JSON is read as UTF-8, not charset={charset.strip()}"
    return None


_NO_BODY = "this route reads no body: give its options as query parameters"


def unread_body(headers: Iterable[tuple[bytes, bytes]]) -> UnsupportedMediaType | None:
    """Why a body sent with these headers to a route that reads none is refused: a
    `Content-Length` other than 0. None otherwise (a chunked body is looked at as it comes)."""
    lengths = _values(headers, b"content-length")
    if any(length.strip() not in ("", "0") for length in lengths):
        return UnsupportedMediaType(BODY, _NO_BODY)
    return None


async def _nothing_sent(receive: Receive) -> Receive:
    """Read a chunked body sent to a route that reads none: refused at its first byte; when it
    is empty (some clients send a POST without content so), what was read is handed on."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message.get("body"):
            raise UnsupportedMediaType(BODY, _NO_BODY)
        if message["type"] != "http.request" or not message.get("more_body"):
            break

    async def replay() -> Any:
        return messages.pop(0) if messages else await receive()

    return replay


def refusal(headers: Iterable[tuple[bytes, bytes]]) -> UnsupportedMediaType | None:
    """Why a JSON body with these raw (ASGI) headers is refused, or None when it is not."""
    headers = list(headers)
    for value in _values(headers, b"content-type"):
        why = _json_media_type(value)
        if why is not None:
            return UnsupportedMediaType(CONTENT_TYPE, why)
    for value in _values(headers, b"content-encoding"):
        codings = [coding.strip().lower() for coding in value.split(",")]
        unsupported = [coding for coding in codings if coding and coding != "identity"]
        if unsupported:
            return UnsupportedMediaType(
                CONTENT_ENCODING,
                f"the body must not be encoded ({', '.join(unsupported)}): send it as it is",
                {"Accept-Encoding": "identity"},
            )
    return None


class RefuseUnsupportedMedia:
    """Middleware of every route: on one that reads a JSON body, a body labelled otherwise is an
    `UnsupportedMediaType`, raised before it is read; so is any body sent to a route of another
    method than GET, HEAD or OPTIONS that reads none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        if handler is not None and handler.opt.get(JSON_BODY):
            refused = refusal(scope["headers"])
            if refused is not None:
                raise refused
        elif handler is not None and scope.get("method", "GET") not in _BODILESS:
            refused = unread_body(scope["headers"])
            if refused is not None:
                raise refused
            if _values(scope["headers"], b"transfer-encoding"):
                receive = await _nothing_sent(receive)
        await self.app(scope, receive, send)
