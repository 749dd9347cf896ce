"""Why a request failed: the domain refused it (`DomainError`), or the database could not do it
(`StorageError`). The HTTP layer maps each class to a status once."""

from __future__ import annotations


class StorageError(Exception):
    """The database could not do what was asked, for a reason of its own and not of the
    request: a lock not granted in time, a server out of reach, a full disk. The HTTP layer
    answers each with its own problem (never a 500); the CLI says what happened."""


class Busy(StorageError):
    """The database's write lock, or a connection to it, was not granted in time (another
    writer held it: a rebuild, say). Nothing was stored by the request that met it; trying
    again later is safe (503)."""


class Unavailable(StorageError):
    """The database could not be reached or used: down, restarting, a connection broke, or (on
    SQLite) its files could not be opened, read or written (503). A
    write that met it may have been stored if the connection broke while it committed: sent
    again with the same `event_id`, it is stored once (a replay answers the first receipt)."""


class ReadOnly(Unavailable):
    """The database may not be written: on SQLite a file or folder this process may only read,
    on PostgreSQL a role without the privilege (503 to a request, as any database that cannot
    be used). Nothing was stored; it lasts until
    the permissions change, so the CLI does not ask to run the command again."""


class Uninitialised(Unavailable):
    """The database lacks the timeline's tables: emptied, or dropped and made again under a
    running server. It lasts until an operator runs `timeline init` (503 without Retry-After)."""


class Refused(Unavailable):
    """The database server refuses this server's connections for a reason no retry changes:
    the database or role no longer exists, or the password is refused. It lasts until an
    operator acts (503 without Retry-After)."""


class StorageFull(StorageError):
    """The database had no room for what it was asked to store: its disk (or, on SQLite, its
    size limit) is full (507). The transaction was rolled back, so nothing was stored; it can
    be sent again once space is freed."""


class DomainError(Exception):
    """Base of every refusal; `path` is the JSONPath of the field at fault, when there is one."""

    title = "Refused"

    def __init__(self, detail: str, path: str = "$") -> None:
        super().__init__(detail)
        self.detail = detail
        self.path = path
        self.index: int | None = None  # the event's place in a batch, set by the application


class NotFound(DomainError):
    """Something the event refers to does not exist (404)."""

    title = "Not found"


class UnknownDevelopment(NotFound):
    """No development with this id has been recorded."""

    title = "Unknown development"


class UnknownReport(NotFound):
    """The development has no report with this number."""

    title = "Unknown report"


class Conflict(DomainError):
    """The request clashes with what is already recorded (409)."""

    title = "Conflict"


class VersionConflict(Conflict):
    """The development moved on since the client last saw it."""

    title = "Version conflict"


class DevelopmentExists(Conflict):
    """A development with this id was already reported."""

    title = "Development exists"


class IdempotencyMismatch(Conflict):
    """The event_id was used before with a different body."""

    title = "Idempotency key reused"


class Unprocessable(DomainError):
    """Well-formed, but the domain refuses it (422)."""

    title = "Refused by the domain"


class NothingToChange(Unprocessable):
    """A correction that would leave every field as it is."""

    title = "Nothing to change"


class PluralUnit(Unprocessable):
    """A new event's figure counts in the plural of a unit (`missiles`): units are singular
    nouns, and the plural would start a delivery series of its own."""

    title = "Unit in the plural"


class AlreadyRetracted(Unprocessable):
    """The report was retracted before."""

    title = "Already retracted"


class RetractionBeforeReport(Unprocessable):
    """A report cannot be withdrawn before the date it was made."""

    title = "Retraction before report"
