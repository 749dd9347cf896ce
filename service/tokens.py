"""API tokens: random secrets shown once, stored only as SHA-256 hashes, each with a role.

Roles are ordered: a reader reads, an editor also appends events, an admin also runs
maintenance (rebuild, verify, checkpoints).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import unicodedata
from datetime import datetime
from typing import Any, Literal

import msgspec

from service.store.log import RECORDS, LogRecorder
from service.store.records import from_micros, now_micros

Role = Literal["reader", "editor", "admin"]
ROLES: tuple[Role, ...] = ("reader", "editor", "admin")
PREFIX = "tl_"
# What events are recorded by when no token posted them: the command line's loads, and a write
# without a token. A token of that name would make `recorded_by` ambiguous.
RESERVED = ("seed", "import", "anonymous")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS api_tokens ("
    "name TEXT PRIMARY KEY, "
    "role TEXT NOT NULL, "
    "token_hash TEXT NOT NULL UNIQUE, "
    "created_at BIGINT NOT NULL, "
    "revoked_at BIGINT)"
)


class TokenError(ValueError):
    """A token request that cannot be carried out, with a message for the operator."""


class Token(msgspec.Struct, frozen=True, kw_only=True):
    """A named token as stored: never the secret, only its role and life."""

    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


def allows(role: Role, needed: Role) -> bool:
    """Whether `role` may do what `needed` may."""
    return ROLES.index(role) >= ROLES.index(needed)


def check_principal(name: str) -> str:
    """`name`, if it may be recorded as `recorded_by`: 1 to 100 printable characters, with no
    space at either end (`seed ` would read as `seed` on a page)."""
    if not name or len(name) > 100 or not name.isprintable():
        raise TokenError(
            "a name is 1 to 100 printable characters, none of them a control character"
        )
    if name != name.strip():
        raise TokenError(f"{name!r}: a name has no space at its start or end")
    return name


def _reserved(name: str) -> str | None:
    """The reserved name `name` reads as, in any case or compatibility form (`Seed`, full-width)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return folded if folded in RESERVED else None


def refusal(name: str) -> str | None:
    """Why a new token could not take `name` now (None: it could); a token an earlier version
    made may hold one (`Seed`, `me `)."""
    try:
        check_principal(name)
    except TokenError as error:
        return str(error)
    said = _reserved(name)
    if said is None:
        return None
    return f"{name!r} is reserved{'' if said == name else f' (it reads as {said!r})'}: {_WHY}"


_WHY = (
    "events stored by `timeline seed` and `timeline import` are recorded as 'seed' and "
    "'import', and 'anonymous' names a caller without a token, who may only read"
)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    """The token table, in the same database as the log."""

    def __init__(self, store: LogRecorder, *, cache_seconds: float = 1.0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        # A live token is looked up at most once a second per process, not on every request;
        # a revocation elsewhere therefore takes effect here within `cache_seconds`.
        self._cache: dict[str, tuple[float, Token]] = {}
        store.create_beside(_SCHEMA)

    def create(self, name: str, role: Role) -> str:
        """Make a token; returns the secret, which is not stored and cannot be shown again."""
        why = refusal(name)
        if why is not None:
            raise TokenError(why)
        if role not in ROLES:
            raise TokenError(f"role must be one of {', '.join(ROLES)}")
        secret = PREFIX + secrets.token_urlsafe(32)
        with self.store.transaction() as cursor:
            cursor.execute(
                self.store.sql("SELECT revoked_at FROM api_tokens WHERE name = %s"), (name,)
            )
            row = cursor.fetchone()
            if row is not None and row["revoked_at"] is not None:
                # Events keep the name as `recorded_by`: a new token of that name would make
                # the audit trail ambiguous about who posted them.
                raise TokenError(
                    f"a token named {name!r} was revoked; names are never reused, "
                    "choose another name"
                )
            if row is not None:
                raise TokenError(f"a token named {name!r} exists; names are never reused, "
                                 "choose another name")  # fmt: skip
            cursor.execute(
                self.store.sql(f"SELECT 1 FROM {RECORDS} WHERE recorded_by = %s LIMIT 1"),
                (name,),
            )
            if cursor.fetchone() is not None:
                raise TokenError(
                    f"events were imported as recorded by {name!r}; a token of that name would "
                    "make the audit trail ambiguous, choose another name"
                )
            cursor.execute(
                self.store.sql(
                    "INSERT INTO api_tokens (name, role, token_hash, created_at) "
                    "VALUES (%s, %s, %s, %s)"
                ),
                (name, role, _hash(secret), now_micros()),
            )
        return secret

    def withdraw(self, name: str, secret: str) -> None:
        """Remove the token just made with `secret`, which could not be shown to anyone (so it
        recorded nothing): its name is free again, as if it had never been made."""
        with self.store.transaction() as cursor:
            cursor.execute(
                self.store.sql("DELETE FROM api_tokens WHERE name = %s AND token_hash = %s"),
                (name, _hash(secret)),
            )

    def check_importer(self, name: str) -> None:
        """Refuse `name` as the `recorded_by` of an import: a reserved name (`import` itself
        excepted) or a token's, live or revoked, would put events in another principal's name."""
        check_principal(name)
        if _reserved(name) is not None and name != "import":
            raise TokenError(f"{name!r} is reserved for events not imported by a person")
        with self.store.read_transaction() as cursor:
            cursor.execute(self.store.sql("SELECT 1 FROM api_tokens WHERE name = %s"), (name,))
            if cursor.fetchone() is not None:
                raise TokenError(
                    f"{name!r} is a token's name: events imported as recorded by it would read "
                    "as posted with that token; choose another name"
                )

    def cached(self, secret: str) -> Token | None:
        """The token with this secret if it was found live within the last `cache_seconds`."""
        hit = self._cache.get(_hash(secret))
        if hit is not None and time.monotonic() - hit[0] < self.cache_seconds:
            return hit[1]
        return None

    def authenticate(self, secret: str) -> Token | None:
        """The live token with this secret, or None."""
        token = self._lookup(secret)
        if token is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[_hash(secret)] = (time.monotonic(), token)
        return token

    def _lookup(self, secret: str) -> Token | None:
        with self.store.read_transaction() as cursor:
            cursor.execute(
                self.store.sql(
                    "SELECT name, role, created_at, revoked_at FROM api_tokens "
                    "WHERE token_hash = %s AND revoked_at IS NULL"
                ),
                (_hash(secret),),
            )
            row = cursor.fetchone()
        return _token(row) if row else None

    def list(self) -> list[Token]:
        """Every token, revoked ones included, by name."""
        with self.store.read_transaction() as cursor:
            cursor.execute(
                "SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name"
            )
            return [_token(row) for row in cursor.fetchall()]

    def revoke(self, name: str) -> None:
        """Revoke a token by name; it stops working at once here, within a second elsewhere."""
        self._cache.clear()
        with self.store.transaction() as cursor:
            cursor.execute(
                self.store.sql(
                    "UPDATE api_tokens SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL"
                ),
                (now_micros(), name),
            )
            cursor.execute(
                self.store.sql("SELECT revoked_at FROM api_tokens WHERE name = %s"), (name,)
            )
            if cursor.fetchone() is None:
                raise TokenError(f"no token named {name!r}")


def _token(row: Any) -> Token:
    revoked = row["revoked_at"]
    created = row["created_at"]
    assert isinstance(created, int)
    return Token(
        name=str(row["name"]),
        role=msgspec.convert(row["role"], Role),
        created_at=from_micros(created),
        revoked_at=from_micros(revoked) if isinstance(revoked, int) else None,
    )
