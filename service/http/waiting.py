"""What a server worker answers while the database cannot be reached as it starts: 503 to
every request, where the connections the kernel queued on its socket waited unanswered until
the database came back (`service.serving`)."""

from __future__ import annotations

from litestar import HttpMethod, Litestar, route

from service.errors import StorageError, Unavailable
from service.http.problems import on_database_error

_METHODS = [HttpMethod.GET, HttpMethod.HEAD, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH,
            HttpMethod.DELETE]  # fmt: skip


def waiting_app(kind: type[Unavailable], reason: str) -> Litestar:
    """An app whose every answer is the problem of `kind` (`database-unavailable`, with
    Retry-After unless the server refuses for good); `reason` goes to the log."""

    @route(["/", "/{path:path}"], http_method=_METHODS, sync_to_thread=False)
    def unavailable() -> None:
        raise kind(reason)  # a new one each time: one raised again keeps every traceback

    return Litestar(
        [unavailable], exception_handlers={StorageError: on_database_error}, openapi_config=None
    )
