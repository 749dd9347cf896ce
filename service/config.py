"""Settings from the command line and environment, and the database URL as library settings."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

DEFAULT_DATABASE = "sqlite:///timeline.db"
# libpq's TLS options that a PostgreSQL URL may carry, handed to every connection under this
# setting (`service.store.postgres.TimelinePostgresFactory`)
TLS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
LIBPQ_OPTIONS = "TIMELINE_POSTGRES_LIBPQ"
TIMEOUT_SECONDS = "30"
# The longest timeout: PostgreSQL's `lock_timeout` takes at most 2^31 - 1 milliseconds (a longer
# one failed every write), and a longer `connect_timeout` overflowed the client's clock
MOST_SECONDS = (2**31 - 1) // 1000


class ConfigError(ValueError):
    """A setting that cannot be used, with a message for the person who set it."""


def database_url(explicit: str | None = None) -> str:
    """`--database`, else `TIMELINE_DATABASE`, else `./timeline.db`; a URL that cannot be read
    as one (a port that is not a number from 0 to 65535, an unclosed `[` of an IPv6 host) is a
    `ConfigError`, which does not repeat it (it may hold a password)."""
    if explicit is not None and not explicit.strip():
        raise ConfigError("--database is empty: give a database URL, or leave the option out")
    url = explicit or os.environ.get("TIMELINE_DATABASE") or DEFAULT_DATABASE
    try:
        _ = urlsplit(url).port
    except ValueError as error:
        raise ConfigError(f"the database URL cannot be read: {error}") from None
    return url


def redacted(url: str) -> str:
    """The URL with any password replaced by ***, to be printed or logged: the one before the
    host, and a `password=` of the query (libpq takes one there too); else the URL as given."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    in_query = any(name == "password" for name, _ in query)
    if parts.password is None and not in_query:
        return url  # as given: urlunsplit would write sqlite:///x.db as sqlite:/x.db
    if parts.password is not None:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    if in_query:
        hidden = [(name, "***" if name == "password" else value) for name, value in query]
        parts = parts._replace(query=urlencode(hidden, safe="*", quote_via=quote))
    return urlunsplit(parts)


# What `eventsourcing` reads as yes or no in CREATE_TABLE (its `strtobool`, in any case)
_LIBRARY_YES_NO = ("y", "yes", "t", "true", "on", "1", "n", "no", "f", "false", "off", "0")


def creates_tables() -> bool:
    """Whether processes create the tables they lack: the library's CREATE_TABLE, yes unless
    set to no."""
    return os.environ.get("CREATE_TABLE", "yes").lower() in _LIBRARY_YES_NO[:6]


def persistence_env(url: str) -> dict[str, str]:
    """The `eventsourcing` settings that select and configure the recorder for `url`; the
    library's own CREATE_TABLE, which it reads from the environment, is checked here."""
    create_table = os.environ.get("CREATE_TABLE", "")
    if create_table and create_table.lower() not in _LIBRARY_YES_NO:
        raise ConfigError(
            f"CREATE_TABLE={create_table!r}: expected yes or no (or true, false, 1, 0)"
        )
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        options = _options(url, ("lock_timeout",))
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": _sqlite_name(url),
            "SQLITE_LOCK_TIMEOUT": _seconds(url, options, "lock_timeout"),
            "APPLICATION_RECORDER_TOPIC": "service.store.sqlite:TimelineSQLiteRecorder",
        }
    if parts.scheme in ("postgresql", "postgres"):
        if not parts.path.strip("/"):
            raise ConfigError(f"{redacted(url)!r} names no database")
        # the read models, tokens and checkpoints are not qualified by a schema
        if "schema" in parse_qs(parts.query, keep_blank_values=True):
            raise ConfigError(
                f"{redacted(url)!r}: ?schema= is not supported: a timeline's tables live in the "
                "database's default schema; use a database per timeline"
            )
        options = _options(
            url, ("pool_size", "max_overflow", "lock_timeout", "connect_timeout", *TLS)
        )
        return {
            "PERSISTENCE_MODULE": "service.store.postgres:TimelinePostgresFactory",
            "POSTGRES_DBNAME": unquote(parts.path.strip("/")),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or os.environ.get("USER", "postgres")),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": _whole(url, options, "pool_size", "5", least=1),
            "POSTGRES_MAX_OVERFLOW": _whole(url, options, "max_overflow", "10", least=0),
            "POSTGRES_LOCK_TIMEOUT": _seconds(url, options, "lock_timeout"),
            "POSTGRES_CONNECT_TIMEOUT": _seconds(url, options, "connect_timeout"),
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
            LIBPQ_OPTIONS: _tls(url, options),
            "APPLICATION_RECORDER_TOPIC": "service.store.postgres:TimelinePostgresRecorder",
        }
    raise ConfigError(
        f"{redacted(url)!r}: the database must be sqlite:///path.db or postgresql://user@host:port/db"
    )


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for any other database, or one held in memory)."""
    if urlsplit(url).scheme != "sqlite":
        return None
    name = _sqlite_name(url)
    return None if name == ":memory:" or name.startswith("file:") else Path(name)


def _sqlite_name(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc:
        raise ConfigError(f"{redacted(url)!r}: use sqlite:///relative.db or sqlite:////absolute.db")
    path = unquote(parts.path)
    path = path[1:] if path.startswith("/") else path
    if not path:
        raise ConfigError(f"{redacted(url)!r} names no database file")
    return path


def _options(url: str, known: tuple[str, ...]) -> dict[str, str]:
    """The URL's options, each of `known`, given once, with a value. Refused: an option this
    service does not read (ignored, a misspelt `lock_timout` or a libpq `sslmode=require`
    would leave the default in force without a word), one without a value (`?pool_size=`
    kept the default) and one given twice (one would be used and the other ignored)."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    unknown = sorted({name for name, _ in pairs} - set(known))
    if unknown:
        raise ConfigError(
            f"{redacted(url)!r}: unknown option {', '.join(unknown)}; "
            f"this database takes {', '.join(known)}"
        )
    options: dict[str, str] = {}
    for name, value in pairs:
        if name in options:
            raise ConfigError(f"{redacted(url)!r}: option {name} is given more than once")
        if not value.strip():
            raise ConfigError(f"{redacted(url)!r}: option {name} has no value")
        options[name] = value
    return options


def _tls(url: str, options: dict[str, str]) -> str:
    """The URL's TLS options for libpq, as a query string: `?sslmode=verify-full` with
    `sslrootcert=/path/ca.pem` checks the server's certificate and name; `sslcert` and `sslkey`
    present a client certificate. Without them libpq's defaults hold (`prefer`: TLS when the
    server offers it, unverified), and its PGSSLMODE and PGSSLROOTCERT variables too."""
    given = {name: options[name] for name in TLS if name in options}
    mode = given.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        raise ConfigError(f"{redacted(url)!r}: sslmode must be one of {', '.join(SSL_MODES)}")
    return urlencode(given)


def _whole(
    url: str,
    options: dict[str, str],
    name: str,
    default: str,
    *,
    least: int,
    most: int | None = None,
    unit: str = "",
) -> str:
    """`?pool_size=N` (at least 1, default 5): connections each process keeps to PostgreSQL;
    `?max_overflow=N` (at least 0, default 10): how many more it may open at busy times."""
    value = options.get(name, default)
    whole = value.isascii() and value.isdigit() and len(value) <= 18  # int() takes 4,300 digits
    if not whole or int(value) < least or (most is not None and int(value) > most):
        bounds = f"at least {least}" if most is None else f"from {least} to {most:,}"
        raise ConfigError(f"{redacted(url)!r}: {name} must be a whole number{unit}, {bounds}")
    return value


def _seconds(url: str, options: dict[str, str], name: str) -> str:
    """`?lock_timeout=SECONDS`: how long a write waits for the database's lock before it gives
    up (an HTTP request then gets 503 `database-busy`); `?connect_timeout=SECONDS`: how long
    PostgreSQL is waited for when no connection can be made (503 `database-unavailable`).
    Both 30 by default, and at most `MOST_SECONDS`."""
    return _whole(
        url, options, name, TIMEOUT_SECONDS, least=1, most=MOST_SECONDS, unit=" of seconds"
    )
