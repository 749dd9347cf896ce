"""Tokens: shown once, stored as hashes, with ordered roles, revocable."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest

from service.application import Timeline
from service.tokens import Token, TokenError, Tokens, allows


@pytest.fixture
def tokens(database_url: str) -> Iterator[Tokens]:
    app = Timeline(database_url)
    yield Tokens(app.store)
    app.close()


def test_a_created_token_authenticates_with_its_name_and_role(tokens: Tokens) -> None:
    secret = tokens.create("newsroom", "editor")
    token = tokens.authenticate(secret)
    assert token is not None and (token.name, token.role) == ("newsroom", "editor")
    assert tokens.authenticate(secret + "x") is None


def test_the_secret_itself_is_never_stored(tokens: Tokens) -> None:
    secret = tokens.create("desk", "reader")
    with tokens.store.read_transaction() as cursor:
        cursor.execute("SELECT * FROM api_tokens")
        stored = [str(value) for row in cursor.fetchall() for value in tuple(row)]
    assert not any(secret in value or secret[3:] in value for value in stored)


def test_a_revoked_token_stops_working_and_stays_listed(tokens: Tokens) -> None:
    secret = tokens.create("intern", "editor")
    tokens.revoke("intern")
    assert tokens.authenticate(secret) is None
    [listed] = tokens.list()
    assert listed.name == "intern" and listed.revoked_at is not None
    with pytest.raises(TokenError):
        tokens.revoke("nobody")


def test_a_name_is_used_once(tokens: Tokens) -> None:
    tokens.create("desk", "reader")
    with pytest.raises(TokenError, match="exists"):
        tokens.create("desk", "admin")


def test_roles_are_ordered_reader_editor_admin() -> None:
    assert allows("admin", "editor") and allows("editor", "editor")
    assert allows("editor", "reader") and not allows("reader", "editor")
    assert not allows("editor", "admin")


def test_processes_starting_at_once_each_find_the_token_table(database_url: str) -> None:
    # Several API processes start together on a fresh database; PostgreSQL's CREATE TABLE IF NOT
    # EXISTS alone lets two of them collide on the catalogue, so none may fail to start.
    apps = [Timeline(database_url) for _ in range(6)]
    barrier = Barrier(len(apps))

    def start(app: Timeline) -> list[Token]:
        barrier.wait()
        return Tokens(app.store).list()

    try:
        with ThreadPoolExecutor(len(apps)) as pool:
            assert list(pool.map(start, apps)) == [[]] * len(apps)
    finally:
        for app in apps:
            app.close()


@pytest.mark.parametrize("name", ["seed", "import", "anonymous", "Seed", "ANONYMOUS", "\uff53eed"])
def test_a_name_the_service_records_by_itself_is_refused(tokens: Tokens, name: str) -> None:
    # `seed` and `import` record the command line's loads, `anonymous` names a caller without a
    # token (who may only read: a write without one is a 401, never recorded as anonymous)
    with pytest.raises(TokenError, match="is reserved") as refused:
        tokens.create(name, "editor")
    assert "caller without a token, who may only read" in str(refused.value)
    assert tokens.list() == []


@pytest.mark.parametrize("name", ["seed ", " alice", "bob  "])
def test_a_name_with_a_space_at_either_end_is_refused(tokens: Tokens, name: str) -> None:
    # on a page `seed ` reads as `seed`: one name would show as two principals
    with pytest.raises(TokenError, match="no space at its start or end"):
        tokens.create(name, "editor")
    assert tokens.list() == []


def test_a_revoked_name_is_never_reused_and_says_so(tokens: Tokens) -> None:
    # given a token revoked, whose name events keep as recorded_by
    tokens.create("me", "editor")
    tokens.revoke("me")
    # when the name is asked for again, it is refused, saying why
    with pytest.raises(TokenError, match="'me' was revoked; names are never reused"):
        tokens.create("me", "editor")
    [listed] = tokens.list()
    assert listed.revoked_at is not None


def test_a_token_is_made_once_a_writer_holding_the_sqlite_lock_lets_go(tmp_path: Path) -> None:
    # Given another connection holding the database's write lock for half a second
    timeline = Timeline(f"sqlite:///{tmp_path}/busy.db")
    tokens = Tokens(timeline.store)
    try:
        held, releasing = threading.Event(), threading.Event()

        def hold() -> None:
            other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(0.5)
            releasing.set()  # before the lock goes: nothing can write until then
            other.execute("COMMIT")
            other.close()

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(5)
        # When a token is made meanwhile (it reads the names taken, then writes)
        secret = tokens.create("analyst", "reader")
        # Then it waited for the lock, as every write does, rather than failing at once: it
        # is made only once the other writer began to let go
        assert releasing.is_set() and tokens.authenticate(secret) is not None
        holder.join(10)
        assert not holder.is_alive()
    finally:
        timeline.close()
