"""RFC 9457 problem details: every error the API answers, mapped from its exception in one place."""

from __future__ import annotations

import logging
import re
from enum import Enum
from http import HTTPStatus
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
from litestar import Litestar, MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.types import ExceptionHandlersMap

from events import InvalidEvent
from events.codec import in_words
from projections.projection import Disagree, Outdated
from service.audit.keys import KeyFileError
from service.errors import (
    Busy,
    Conflict,
    DomainError,
    NotFound,
    ReadOnly,
    Refused,
    StorageError,
    StorageFull,
    Unavailable,
    Uninitialised,
    Unprocessable,
)
from service.http.media import UnsupportedMediaType
from service.http.openapi import answer_spec
from service.http.params import InvalidParameter, RefusedParameter
from service.http.tables import preferred
from service.web.render import render

PROBLEM_JSON = "application/problem+json"
BATCH = "batch"  # route handler `opt` key: the body is `{"events": [...]}`, paths get the index

logger = logging.getLogger(__name__)


class FieldProblem(msgspec.Struct, frozen=True):
    """One field at fault: a JSONPath into the body (`$.events[2].report`) or a parameter name."""

    path: str
    message: str


class ProblemDetails(msgspec.Struct, frozen=True, omit_defaults=True):
    """An error as `application/problem+json`; `errors` name the fields of a validation error."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


def problem_type(name: str) -> str:
    """The problem's stable URI: `VersionConflict` -> `urn:timeline:problem:version-conflict`."""
    return "urn:timeline:problem:" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem_response(
    problem: ProblemDetails, headers: dict[str, str] | None = None
) -> Response[ProblemDetails]:
    """The response carrying a problem, with its status and media type."""
    return Response(problem, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


def problem_spec(description: str) -> ResponseSpec:
    """OpenAPI documentation of a problem response."""
    return answer_spec(ProblemDetails, description, PROBLEM_JSON)


BAD_PARAMS = {400: problem_spec("A parameter is invalid; `errors` name it")}
VIEW_ERRORS = {  # every view of the read models
    **BAD_PARAMS,
    503: problem_spec(
        "The read models disagree with the log (an administrator must rebuild them), or the "
        "database was busy or could not be reached or used (`Retry-After`)"
    ),
    507: problem_spec("New events had to be folded first, and the database's disk is full"),
}
# What any operation under /api/ may answer, where it does not say so in its own words.
ANY_API_REFUSAL = {
    400: problem_spec("A parameter the operation does not take, or one given twice"),
    503: problem_spec(
        "No answer within the request deadline, or the database could not be reached or "
        "used: ask again (`Retry-After`)"
    ),
}
DATABASE_ERRORS = {
    503: problem_spec(
        "The database was busy (nothing was stored) or could not be reached or used: send it "
        "again (`Retry-After`; with the same event_id, a write is stored once)"
    ),
    507: problem_spec("The database's disk is full: nothing was stored"),
}
UNSUPPORTED_MEDIA = {
    415: problem_spec(
        "`Content-Type` is not application/json (or a +json type), or `Content-Encoding` is not "
        "identity; `errors` name the header (`header.content-type`). Without `Content-Type`, "
        "the body is read as JSON"
    )
}
NO_BODY = {
    415: problem_spec("A body was sent: this route reads none; its options are query parameters")
}
_UNAUTHENTICATED = problem_spec("No token, or an unknown or revoked one")
REFUSED_BY_ROLE = {  # what the document says an operation needing each role may answer
    "reader": {401: _UNAUTHENTICATED},
    "editor": {401: _UNAUTHENTICATED, 403: problem_spec("The token is a reader's")},
    "admin": {401: _UNAUTHENTICATED, 403: problem_spec("The token is not an admin's")},
}


def document_any_api_refusal(app: Litestar) -> None:
    """Say in the OpenAPI document that every operation under /api/ may answer
    `ANY_API_REFUSAL`, where it does not already; before the document is first made."""
    for route in app.routes:
        if route.path.startswith("/api/"):
            for handler in getattr(route, "route_handlers", ()):
                if isinstance(handler, HTTPRouteHandler):
                    handler.responses = {**ANY_API_REFUSAL, **(handler.responses or {})}


def _status_of(error: DomainError) -> int:
    if isinstance(error, NotFound):
        return HTTPStatus.NOT_FOUND
    if isinstance(error, Conflict):
        return HTTPStatus.CONFLICT
    if isinstance(error, Unprocessable):
        return HTTPStatus.UNPROCESSABLE_ENTITY
    return HTTPStatus.UNPROCESSABLE_ENTITY  # any other refusal is the domain's: well-formed


def _in_batch(request: Request[Any, Any, Any]) -> bool:
    return bool(request.scope.get("route_handler") and request.route_handler.opt.get(BATCH))


def on_domain_error(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    """404, 409 or 422 naming the field at fault; in a batch, the event's index too."""
    path, detail = error.path, error.detail
    if _in_batch(request) and error.index is not None:
        path = f"$.events[{error.index}]{path.removeprefix('$')}"
        detail = f"event {error.index} of the batch: {detail}"
    return problem_response(
        ProblemDetails(
            type=problem_type(type(error).__name__),
            title=error.title,
            status=_status_of(error),
            detail=detail,
            errors=[FieldProblem(path, error.detail)],
        )
    )


class InvalidBody(InvalidEvent):
    """400: a body that is not the JSON its route reads (`POST /api/verify`'s checkpoint)."""


def on_invalid_body(request: Request[Any, Any, Any], error: InvalidBody) -> Response[Any]:
    """400 as for an event's body, but for another kind of body: `invalid-body`."""
    if error.malformed:
        return on_invalid_event(request, error)
    return _body_problem([FieldProblem(p.path, p.message) for p in error.errors])


def on_invalid_event(request: Request[Any, Any, Any], error: InvalidEvent) -> Response[Any]:
    """400: the body is not JSON, or not a valid event; `errors` name the fields."""
    kind = "MalformedJson" if error.malformed else "InvalidEvent"
    title = "Malformed JSON" if error.malformed else "Invalid event"
    return problem_response(
        ProblemDetails(
            type=problem_type(kind),
            title=title,
            status=HTTPStatus.BAD_REQUEST,
            detail=str(error),
            errors=[FieldProblem(p.path, p.message) for p in error.errors],
        )
    )


def on_unsupported_media(
    request: Request[Any, Any, Any], error: UnsupportedMediaType
) -> Response[Any]:
    """415 naming the header that labels the body as something the route does not read."""
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    return problem_response(
        ProblemDetails(
            type=problem_type("UnsupportedMediaType"),
            title=status.phrase,
            status=status,
            detail=error.message,
            errors=[FieldProblem(error.path, error.message)],
        ),
        # the body was not read: the rest of it would be read as the next request
        headers={**error.headers, "Connection": "close"},
    )


def on_invalid_parameter(request: Request[Any, Any, Any], error: InvalidParameter) -> Response[Any]:
    """400 naming the query parameter our own parsers refused."""
    problems = [FieldProblem(error.name, error.message)]
    if isinstance(error, RefusedParameter):  # not a value's fault: its message says it all
        return _parameter_problem(request, problems, error.message)
    return _parameter_problem(request, problems)


def _parameter_problem(
    request: Request[Any, Any, Any], errors: list[FieldProblem], detail: str | None = None
) -> Response[Any]:
    """400 naming the parameters (a page, for a browser asking for one)."""
    names = ", ".join(dict.fromkeys(e.path for e in errors))
    return problem_or_page(
        request,
        ProblemDetails(
            type=problem_type("InvalidParameter"),
            title="Invalid parameter",
            status=HTTPStatus.BAD_REQUEST,
            detail=detail or f"invalid value for {names}: " + "; ".join(e.message for e in errors),
            errors=errors,
        ),
    )


def on_validation_error(
    request: Request[Any, Any, Any], error: ValidationException
) -> Response[Any]:
    """400 naming each parameter Litestar could not convert (e.g. `after=abc`), or each field of
    a body it decoded (POST /api/verify's) by its JSONPath, as the events' errors do."""
    extra = error.extra if isinstance(error.extra, list) else []
    items = [item for item in extra if isinstance(item, dict)]
    errors = [_field_problem(request, item, error.detail) for item in items]
    if not errors:  # a required parameter left out: Litestar names it in its detail alone
        missing = _MISSING.match(error.detail)
        errors = [FieldProblem(missing.group(1) if missing else "$", error.detail)]
    if items and all(item.get("source") == "body" for item in items):
        return _body_problem(errors)
    return _parameter_problem(request, errors)


_MISSING = re.compile(r"Missing required \w+ parameter '([^']+)'")
_FIELD_OF_OBJECT = re.compile(r"Object (?:missing required|contains unknown) field `([^`]+)`")
_INVALID_ENUM = re.compile(r"Invalid enum value (.+)")


def _field_problem(
    request: Request[Any, Any, Any], item: dict[str, Any], detail: str
) -> FieldProblem:
    """One error Litestar reported: a body's at its JSONPath, a parameter's under its name."""
    key, message = str(item.get("key") or ""), str(item.get("message") or detail)
    if item.get("source") == "body":
        # Litestar names the body's field without `$.` (`position`), and the body itself, or
        # the object missing a field (or having one too many), as `data`: the field is only in
        # the message
        path = "$" if key in ("", "data") else f"$.{key}"
        field = _FIELD_OF_OBJECT.fullmatch(message)
        return FieldProblem(f"{path}.{field.group(1)}" if field else path, message)
    message = in_words(message)
    invalid = _INVALID_ENUM.fullmatch(message)
    choices = _choices_of(request, key) if invalid else None
    if invalid and choices:
        message = f"{key} must be one of {', '.join(choices)}, not {invalid.group(1)}"
    return FieldProblem(key or "$", message)


def _choices_of(request: Request[Any, Any, Any], name: str) -> list[str] | None:
    """The values the handler's parameter `name` takes, when it is an enum or a Literal."""
    try:
        parameters = request.route_handler.parsed_fn_signature.parameters
    except (AttributeError, KeyError):
        return None
    for field_name, field in parameters.items():
        alias = getattr(field.kwarg_definition, "query", None)
        if name in (field_name, alias):
            return _choices(field.annotation) or None
    return None


def _choices(annotation: Any) -> list[str]:
    """The values of a Literal or an Enum, also inside Optional / Union / Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(member.value) for member in annotation]
    origin = get_origin(annotation)
    if origin is Literal:
        return [str(value) for value in get_args(annotation)]
    if origin is Annotated:
        return _choices(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [value for member in get_args(annotation) for value in _choices(member)]
    return []


def _body_problem(errors: list[FieldProblem]) -> Response[Any]:
    return problem_response(
        ProblemDetails(
            type=problem_type("InvalidBody"),
            title="Invalid body",
            status=HTTPStatus.BAD_REQUEST,
            detail="; ".join(f"{e.path}: {e.message}" for e in errors),
            errors=errors,
        )
    )


_KNOWN_STATUSES = frozenset(HTTPStatus)
_BODY_LEFT_UNREAD = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.REQUEST_ENTITY_TOO_LARGE})


def _too_large(request: Request[Any, Any, Any]) -> str:
    limit = getattr(request.app.state, "max_body_bytes", None)
    return f"the request body is larger than {limit:,} bytes" if limit else "the body is too large"


def problem_or_page(
    request: Request[Any, Any, Any], problem: ProblemDetails, headers: dict[str, str] | None = None
) -> Response[Any]:
    """The problem as a document, or as an HTML page for a browser asking for a page (a
    mistyped address, or a page the database or the read models cannot answer now): the
    page's script shows such a page's words when a refresh is refused."""
    if not _wants_a_page(request):
        return problem_response(problem, headers)
    page = error_page(problem.status, problem.title, problem.detail)
    page.headers.update(headers or {})
    return page


def _wants_a_page(request: Request[Any, Any, Any]) -> bool:
    """A browser asking for a page outside the API: its Accept weighs HTML above a problem
    document (`text/html;q=0` does not; nor does `*/*` alone, nor a header with a bad q)."""
    path = request.url.path
    if path.startswith(("/api/", "/static/")) or path == "/api":
        return False
    try:
        return preferred(request, _PROBLEM_OR_PAGE) == MediaType.HTML
    except InvalidParameter:
        return False


_PROBLEM_OR_PAGE = (PROBLEM_JSON, MediaType.HTML)


def error_page(status: int, title: str, detail: str, *, now: str | None = None) -> Response[str]:
    """An HTML error page; `now` is the address of the same page as recorded now, if it may
    differ."""
    return html_response(render("error.html", title=title, detail=detail, now=now, head=0), status)


def html_response(body: str, status: int = 200) -> Response[str]:
    """A web page, never kept by a cache: it answers for times that move."""
    return Response(
        body, media_type=MediaType.HTML, status_code=status, headers={"Cache-Control": "no-store"}
    )


def on_http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    """Litestar's own errors (unknown route, method not allowed, body too large) as problems."""
    status = error.status_code
    title = HTTPStatus(status).phrase if status in _KNOWN_STATUSES else "Error"
    detail = error.detail
    if detail == title:  # Litestar's default detail: say what was not found or allowed
        defaults: dict[int, str] = {
            HTTPStatus.NOT_FOUND: f"nothing at {request.url.path}",
            HTTPStatus.METHOD_NOT_ALLOWED: f"{request.method} is not allowed on {request.url.path}",
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE: _too_large(request),
        }
        detail = defaults.get(status, detail)
    headers = dict(error.headers) if error.headers else {}
    if status in _BODY_LEFT_UNREAD:  # the rest of the body would be read as the next request
        headers["Connection"] = "close"
    problem = ProblemDetails(type="about:blank", title=title, status=status, detail=detail)
    return problem_or_page(request, problem, headers or None)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def loggable(path: str) -> str:
    """A request's path for the server log: its control characters escaped (`\\x0a`), so a
    path cannot end a log line and forge the next one."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found[0]):02x}", path)


def on_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """500 as a problem document; the cause goes to the log, never to the client."""
    return problem_or_page(request, unexpected(request.method, request.url.path, error))


def unexpected(method: str, path: str, error: Exception) -> ProblemDetails:
    """The 500 problem of an error nobody expected, logged with its cause."""
    logger.exception("unexpected error on %s %s", method, loggable(path), exc_info=error)
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    return ProblemDetails(
        type="about:blank",
        title=status.phrase,
        status=status,
        detail="the server failed to answer this request",
    )


def on_disagreeing_read_models(request: Request[Any, Any, Any], error: Disagree) -> Response[Any]:
    """503: the read models must be rebuilt before they can answer; the cause goes to the log."""
    logger.error("%s %s: %s", request.method, loggable(request.url.path), error)
    detail = (
        "the read models disagree with the log; an administrator can rebuild them "
        "(POST /api/projections/rebuild, or `timeline projections rebuild`)"
    )
    return _unavailable(request, "ReadModelsNeedRebuild", "Read models need a rebuild", detail)


def on_outdated_read_models(request: Request[Any, Any, Any], error: Outdated) -> Response[Any]:
    """503 with `Retry-After`: the read models are rebuilt after an upgrade before they answer."""
    logger.warning("%s %s: %s", request.method, loggable(request.url.path), error)
    return _unavailable(
        request, "ReadModelsOutdated", "Read models being rebuilt", str(error), {"Retry-After": "5"}
    )


def on_unusable_key(request: Request[Any, Any, Any], error: KeyFileError) -> Response[Any]:
    """503: checkpoints cannot be signed with the key file as it is; the cause goes to the log
    (it names a file of the server)."""
    logger.error("%s %s: %s", request.method, loggable(request.url.path), error)
    detail = "the server's signing key cannot be used; its log says why (an operator must fix it)"
    return _unavailable(request, "SigningKeyUnusable", "Signing key unusable", detail)


def _unavailable(
    request: Request[Any, Any, Any],
    name: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    problem = ProblemDetails(
        type=problem_type(name), title=title, status=HTTPStatus.SERVICE_UNAVAILABLE, detail=detail
    )
    return problem_or_page(request, problem, headers)


def database_problem(error: StorageError) -> tuple[ProblemDetails, dict[str, str]]:
    """The problem for what the database could not do, with its headers: 503 with
    `Retry-After` for what the client can send again soon (a lock not granted within the lock
    timeout, a database that could not be reached or used), 503 without it for a database the
    server may only read (it lasts until an operator acts), 507 for a full disk."""
    kind = next((c for c in type(error).__mro__ if c in _DATABASE_DETAILS), Unavailable)
    name, title, status, retry = _DATABASE_PROBLEMS[kind]
    problem = ProblemDetails(
        type=problem_type(name), title=title, status=status, detail=_DATABASE_DETAILS[kind]
    )
    return problem, {"Retry-After": retry} if retry else {}


_UNAVAILABLE = ("DatabaseUnavailable", "Database unavailable", HTTPStatus.SERVICE_UNAVAILABLE)
# (problem type, title, status, Retry-After) and detail, by the class of the storage error
_DATABASE_PROBLEMS: dict[type[StorageError], tuple[str, str, HTTPStatus, str]] = {
    StorageFull: ("StorageFull", "Storage full", HTTPStatus.INSUFFICIENT_STORAGE, ""),
    Busy: ("DatabaseBusy", "Database busy", HTTPStatus.SERVICE_UNAVAILABLE, "5"),
    ReadOnly: (*_UNAVAILABLE, ""),
    Uninitialised: (*_UNAVAILABLE, ""),
    Refused: (*_UNAVAILABLE, ""),
    Unavailable: (*_UNAVAILABLE, "1"),
}
_DATABASE_DETAILS: dict[type[StorageError], str] = {
    StorageFull: "the database's disk is full. This request changed nothing; send it again "
    "once an operator has freed space",
    Busy: "the database's lock or a connection to it was not granted in time: another writer "
    "held the lock (a rebuild of the read models, say), or more requests came at once than the "
    "server keeps connections for. This request changed nothing; send it again later",
    ReadOnly: "the database may not be written by this server (its file or folder may only be "
    "read, or its PostgreSQL role lacks a privilege). Nothing was stored; the server's "
    "operator must let it write",
    Uninitialised: "the database lacks the timeline's tables (it was emptied, or dropped and "
    "made again). Nothing was stored; the server's operator must run `timeline init` on it",
    Refused: "the database server refuses this server's connections (its database or role no "
    "longer exists, or the password is refused). Nothing was stored; the server's operator "
    "must act",
    Unavailable: "the database could not be reached or used (down or restarting, a connection "
    "broke, or its files could not be read or written). Send the request again shortly; a "
    "write sent again with the same event_id is stored once",
}


def on_database_error(request: Request[Any, Any, Any], error: StorageError) -> Response[Any]:
    """The problem `database_problem` gives; the cause goes to the log."""
    logger.warning("%s %s: %s", request.method, loggable(request.url.path), error)
    problem, headers = database_problem(error)
    return problem_or_page(request, problem, headers)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    StorageError: on_database_error,
    Disagree: on_disagreeing_read_models,
    Outdated: on_outdated_read_models,
    KeyFileError: on_unusable_key,
    InvalidEvent: on_invalid_event,
    InvalidBody: on_invalid_body,
    DomainError: on_domain_error,
    InvalidParameter: on_invalid_parameter,
    UnsupportedMediaType: on_unsupported_media,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    Exception: on_unexpected,
}
