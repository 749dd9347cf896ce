"""What a client can send again, answered as such: another writer holding the database's lock
past the lock timeout (a rebuild of a large log on SQLite, say) is 503 `database-busy`, a
database that cannot be reached is 503 `database-unavailable`, both with `Retry-After`, never a
500; the CLI says so; nothing is stored twice; once the cause is gone, requests succeed again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest

from projections import ProjectionRunner
from projections.dialect import Dialect
from projections.schema import TRACKING, complete
from service.application import Timeline
from service.audit import ledger, periodic_checkpoints
from service.audit.keys import Signer, load_or_create_key
from service.cli import main
from service.config import LIBPQ_OPTIONS, ConfigError, persistence_env
from service.errors import Busy, Unavailable
from service.store.postgres import KEEPALIVES, TimelinePostgresRecorder
from service.store.records import to_micros
from service.tokens import Tokens
from tests import bodies
from tests.api import Client, log_state, post_batch, post_event, problem, serve
from tests.pgserver import (
    ThrowawayPostgres,
    drop_database,
    find_bindir,
    free_port,
    scratch_database,
    waits_for_a_lock_on,
)
from tests.procs import TcpProxy, wait_until
from tests.structs import a_development
from tests.test_audit_support import record_log
from tests.test_cli import events_in
from tests.test_views_support import Store, figure, said

FAST = "?lock_timeout=1"  # seconds a write waits for the lock


@contextmanager
def lock_held(url: str, *, by: str = "append") -> Iterator[None]:
    """Another process holding what an append needs (`by="append"`) or what a rebuild holds
    (`by="rebuild"`): on SQLite both are the file's write lock; on PostgreSQL the lock on the
    events table, or the read models' tracking rows."""
    if url.startswith("sqlite"):
        other = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    timeline = Timeline(url)
    table = timeline.store.events_table_name
    timeline.close()
    statement = (
        f"LOCK TABLE {table} IN EXCLUSIVE MODE"
        if by == "append"
        else f"SELECT name FROM {TRACKING} FOR UPDATE"
    )
    with psycopg.connect(url) as holder:  # one transaction, rolled back when the block ends
        holder.execute(statement)
        yield
        holder.rollback()


def test_appends_meeting_a_held_lock_get_503_and_store_nothing(database_url: str) -> None:
    with serve(database_url + FAST) as client:
        assert post_event(client, bodies.development_reported()).status_code == 201
        # when another writer holds the lock past the timeout, for one event and for a batch
        with lock_held(database_url):
            one = post_event(client, bodies.development_reported())
            batch = post_batch(client, bodies.development_reported())
        # then each is a 503 problem saying so, to be sent again later
        for answer in (one, batch):
            busy = problem(answer, 503)
            assert busy["type"] == "urn:timeline:problem:database-busy"
            assert "send it again later" in busy["detail"]
            assert answer.headers["retry-after"] == "5"
        # and nothing of them was stored; sent again, they are
        assert log_state(client).events == 1
        assert post_event(client, bodies.development_reported()).status_code == 201
        assert log_state(client).events == 2


@contextmanager
def one_development(url: str) -> Iterator[tuple[Store, int]]:
    """A store with one delivery reported and not folded yet, and a `known_at` after it."""
    store = Store(url + FAST)
    try:
        store.develop(said("US Government", date(2024, 1, 1), figure(value=3)))
        yield store, time.time_ns() // 1000
    finally:
        store.close()


def test_a_view_that_must_fold_new_events_meets_a_held_rebuild_lock_as_busy(
    database_url: str,
) -> None:
    with one_development(database_url) as (store, now):
        with lock_held(database_url, by="rebuild"), pytest.raises(Busy):  # it folds first
            store.read.deliveries(as_of=date(2024, 2, 1), known_at_us=now)
        assert len(store.read.deliveries(as_of=date(2024, 2, 1), known_at_us=now).series) == 1


@pytest.mark.postgres
def test_on_postgresql_a_commit_that_waited_for_the_lock_is_stamped_after_the_wait(
    postgres_url: str,
) -> None:
    # Given another process holding the log's lock while an append begins
    timeline = Timeline(postgres_url)
    try:
        with ThreadPoolExecutor(1) as pool, lock_held(postgres_url, by="append"):
            began = time.time_ns() // 1000
            waiting = pool.submit(timeline.append, [a_development()], "t")
            # When the append is seen waiting for the lock (not merely submitted: begun late,
            # it would not wait at all), and the lock is released only then
            log = timeline.store.events_table_name
            waits = wait_until(lambda: waits_for_a_lock_on(postgres_url, log), timeout=10)
            assert waits, "the append never waited for the log's lock"
            released = time.time_ns() // 1000
        [outcome] = waiting.result(timeout=30)
        # Then its recorded_at is when it took the lock, not when it began to wait: a known_at
        # answered meanwhile (before the release) does not change once it lands
        recorded = to_micros(outcome.receipt.recorded_at)
        assert recorded >= released > began
    finally:
        timeline.close()


@pytest.mark.postgres
def test_on_postgresql_a_view_folds_while_an_append_holds_the_log_lock(
    postgres_url: str,
) -> None:
    with one_development(postgres_url) as (store, now):
        with lock_held(postgres_url, by="append"):
            found = store.read.deliveries(as_of=date(2024, 2, 1), known_at_us=now)
        assert len(found.series) == 1


def test_the_cli_says_the_database_is_busy_and_exits_75(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLite, where a rebuild holds the write lock throughout (PostgreSQL's appends do not wait
    # for one, and the library creates its tables there without a lock timeout)
    database = f"sqlite:///{tmp_path}/timeline.db"
    events_in(database)  # the log's tables exist before the lock is taken
    with lock_held(database):
        code = main(["seed", "--database", database + FAST])
    assert code == 75
    assert "error: the database is busy" in capsys.readouterr().err
    assert events_in(database) == 0


def test_a_postgresql_schema_option_is_refused_rather_than_half_followed() -> None:
    # the library would have put the log there and every other table in the default schema
    with pytest.raises(ConfigError, match=r"\?schema= is not supported"):
        persistence_env("postgresql://u@h/db?schema=news")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///timeline.db?lock_timout=5",  # misspelt: the default would be in force
        "sqlite:///timeline.db?pool_size=2",  # PostgreSQL's
        "postgresql://u@h/db?target_session_attrs=read-write",  # libpq's, not passed on
    ],
)
def test_an_option_the_database_url_does_not_take_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="unknown option") as refused:
        persistence_env(url)
    assert url.rsplit("?", 1)[1].split("=")[0] in str(refused.value)


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("pool_size=", "option pool_size has no value"),  # the default of 5 held
        ("sslmode=", "option sslmode has no value"),  # libpq's `prefer` held
        ("lock_timeout=%20", "option lock_timeout has no value"),
        ("pool_size=2&pool_size=9", "option pool_size is given more than once"),
        ("sslmode=disable&sslmode=verify-full", "option sslmode is given more than once"),
    ],
)
def test_a_database_option_without_a_value_or_given_twice_is_refused(query: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        persistence_env(f"postgresql://u@h/db?{query}")
    if not query.startswith(("pool_size", "sslmode")):
        with pytest.raises(ConfigError, match=said):
            persistence_env(f"sqlite:///timeline.db?{query}")


@pytest.mark.postgres
def test_the_cli_never_prints_the_password_of_a_database_url(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the server trusts this machine: any password connects, as a real one would
    parts = urlsplit(postgres_url)
    secret = urlunsplit(parts._replace(netloc=parts.netloc.replace("@", ":s3cret-pw@", 1)))
    assert main(["init", "--database", secret]) == 0
    said = capsys.readouterr().err
    assert "schema ready in postgresql://postgres:***@" in said and "s3cret-pw" not in said
    (tmp_path / "events.ndjson").write_text("")
    bad = f"{secret}?pool_size=0"
    assert main(["import", str(tmp_path / "events.ndjson"), "--database", bad]) == 2
    said = capsys.readouterr().err
    assert "postgresql://postgres:***@" in said and "pool_size must be" in said
    assert "s3cret-pw" not in said


@pytest.mark.parametrize("value", ["0", "soon", "-3", "1.5", "2147484", "99999999999", "9" * 5000])
def test_a_timeout_that_is_not_whole_seconds_is_a_config_error(value: str) -> None:
    for url in ("sqlite:///timeline.db", "postgresql://u@h/db"):
        with pytest.raises(ConfigError, match="lock_timeout must be a whole number of seconds"):
            persistence_env(f"{url}?lock_timeout={value}")
    with pytest.raises(ConfigError, match="connect_timeout must be a whole number of seconds"):
        persistence_env(f"postgresql://u@h/db?connect_timeout={value}")
    assert persistence_env("sqlite:///t.db?lock_timeout=9")["SQLITE_LOCK_TIMEOUT"] == "9"
    longest = persistence_env("postgresql://u@h/db?lock_timeout=2147483&connect_timeout=2147483")
    assert longest["POSTGRES_LOCK_TIMEOUT"] == longest["POSTGRES_CONNECT_TIMEOUT"] == "2147483"
    postgres = persistence_env("postgresql://u@h/db?connect_timeout=4")
    assert (postgres["POSTGRES_CONNECT_TIMEOUT"], postgres["POSTGRES_LOCK_TIMEOUT"]) == ("4", "30")


@pytest.mark.postgres
def test_the_cli_says_when_postgresql_cannot_be_reached_and_exits_75(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # nothing listens on this port: no server to connect to, within the connect timeout
    database = f"postgresql://postgres@127.0.0.1:{free_port()}/timeline?connect_timeout=1"
    assert main(["seed", "--database", database]) == 75
    said = capsys.readouterr().err
    assert said.startswith("error: the database could not be reached or used")
    assert "Connection refused" in said  # why, from a direct connection
    assert "Traceback" not in said


def test_a_postgresql_url_hands_its_tls_options_to_libpq_and_refuses_an_unknown_mode() -> None:
    url = "postgresql://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem&pool_size=2"
    options = parse_qs(persistence_env(url)[LIBPQ_OPTIONS])
    assert options == {"sslmode": ["verify-full"], "sslrootcert": ["/etc/ca.pem"]}
    assert persistence_env("postgresql://u@h/db")[LIBPQ_OPTIONS] == ""  # libpq's defaults
    with pytest.raises(ConfigError, match="sslmode must be one of disable, allow, prefer"):
        persistence_env("postgresql://u@h/db?sslmode=verify_full")


@pytest.mark.postgres
def test_every_postgresql_connection_carries_keepalives_and_the_urls_tls_mode(
    postgres_url: str,
) -> None:
    # A server gone silent (switched off, a dropped route) broke a connection waiting for its
    # answer only when TCP gave up, after hours; keepalives break it after about a minute
    timeline = Timeline(postgres_url + "?sslmode=disable&pool_size=2")
    try:
        store = timeline.store
        assert isinstance(store, TimelinePostgresRecorder)
        with store.datastore.get_connection() as connection:
            used = {o.keyword.decode(): o.val for o in connection.pgconn.info if o.val}
    finally:
        timeline.close()
    assert used["sslmode"] == b"disable"
    wanted = {name: value.encode() for name, value in KEEPALIVES.items()}
    assert {name: used[name] for name in KEEPALIVES} == wanted


@contextmanager
def agreeing_to_tls_then_hanging_up() -> Iterator[int]:
    """A port whose server says yes to TLS and closes the connection: libpq then checks the
    URL's certificate files, or meets a handshake cut short."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                with client:
                    client.recv(8)  # the SSLRequest
                    client.sendall(b"S")

    threading.Thread(target=answer, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()


def test_a_missing_certificate_file_is_named_and_a_cut_handshake_is_not_a_setting(
    tmp_path: Path,
) -> None:
    with agreeing_to_tls_then_hanging_up() as port:
        url = f"postgresql://u@127.0.0.1:{port}/db?connect_timeout=1"
        # the file's path is in the error: only libpq's hint was, on the message's last line
        with pytest.raises(ConfigError, match="failed its TLS") as refused:
            Timeline(f"{url}&sslmode=verify-full&sslrootcert={tmp_path}/ca.pem")
        assert f"{tmp_path}/ca.pem" in str(refused.value)
        assert "does not exist" in str(refused.value)
        # a handshake cut short may pass on a retry: the server out of reach, not a setting
        with pytest.raises(Unavailable):
            Timeline(f"{url}&sslmode=require")


@pytest.mark.postgres
def test_the_cli_says_at_once_when_postgresql_cannot_meet_the_urls_tls_options(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a server without TLS, or one whose certificate cannot be checked without the missing
    # file: either way no retry helps, where the pool would retry for 30 s
    # (the server reached through a relay that counts the connections made to it)
    parts = urlsplit(postgres_url)
    relay = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    relay.start()
    through = parts._replace(netloc=f"{parts.username}@127.0.0.1:{relay.port}")
    query = f"sslmode=verify-full&sslrootcert={tmp_path}/missing-ca.pem"
    try:
        assert main(["export", "--database", urlunsplit(through._replace(query=query))]) == 2
    finally:
        relay.stop()
    err = capsys.readouterr().err
    assert err.startswith("error: the connection to PostgreSQL failed its TLS: ")
    assert "SSL" in err or "certificate" in err
    assert "Traceback" not in err
    assert relay.connections == 1  # one attempt, not the pool's retries


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("missing", "said"),
    [("database", 'database "tl_no_such_database" does not exist'),
     ("role", 'role "no_such_role" does not exist')],
)  # fmt: skip
def test_the_cli_names_a_postgresql_database_or_role_that_does_not_exist(
    postgres_url: str, missing: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The pool retries a refused connection until its connect timeout: without a direct
    # attempt first this waited 30 s and said the server "could not be reached" (exit 75)
    parts = urlsplit(postgres_url)
    if missing == "database":
        parts = parts._replace(path="/tl_no_such_database")
    else:
        parts = parts._replace(netloc="no_such_role@" + parts.netloc.split("@")[-1])
    assert main(["export", "--database", urlunsplit(parts)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: the PostgreSQL server refused the connection: {said}\n"


@pytest.mark.parametrize("where", ["a directory", "a missing folder"])
def test_the_cli_says_a_sqlite_path_that_cannot_be_a_database_and_makes_nothing(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "timeline.db"
    if where == "a directory":
        path.mkdir()
    else:
        path = tmp_path / "missing" / "timeline.db"
    assert main(["seed", "--database", f"sqlite:///{path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the SQLite database {path} ") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == (["timeline.db"] if path.is_dir() else [])


def test_a_background_runner_meeting_a_held_lock_logs_a_warning_and_catches_up_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = f"sqlite:///{tmp_path}/timeline.db"
    store = Store(database + FAST)
    runner = ProjectionRunner(store.timeline.store, poll_seconds=0.05)
    try:
        store.develop(said("US Government", date(2024, 1, 1), figure(value=3)))
        with caplog.at_level(logging.WARNING, logger="projections.runner"):
            with lock_held(database):
                runner.start()
                warned = wait_until(lambda: bool(_logged(caplog, "projections.runner")), timeout=10)
                assert warned, "the runner did not say it waits for the lock"
            runner.catch_up()
        [record, *_] = _logged(caplog, "projections.runner")  # again if the lock is slow to go
        assert record.getMessage().startswith("projection runner: the database's write lock")
        assert record.exc_info is None  # a wait, not a failure: no traceback
        assert runner.position == store.timeline.store.last_position()
    finally:
        runner.stop()
        store.close()


@pytest.mark.postgres
def test_a_runner_whose_connections_postgresql_ended_folds_again_after_one_retry(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a runner whose pool holds four connections to PostgreSQL, folding what is there
    store = Store(postgres_url)
    reader = Timeline(f"{postgres_url}?pool_size=4&max_overflow=0")
    runner = ProjectionRunner(reader.store, poll_seconds=0.05)
    try:
        store.develop(said("US Government", date(2024, 1, 1), figure(value=3)))
        runner.catch_up()
        pool = reader.store.datastore.pool  # type: ignore[attr-defined]
        assert wait_until(lambda: pool.get_stats()["pool_available"] == 4, timeout=10)
        with caplog.at_level(logging.WARNING, logger="projections.runner"):
            runner.start()
            # When PostgreSQL ends every connection to the database, then an event comes
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            writer = Store(postgres_url)  # connections of its own, made after
            writer.develop(said("US Government", date(2024, 1, 2), figure(value=4)))
            head = writer.timeline.store.last_position()
            writer.close()
            assert wait_until(lambda: runner.position == head, timeout=20)
        # Then the runner met one broken connection, not each of the four in turn, and its
        # retry found working ones
        [warned] = _logged(caplog, "projections.runner")
        assert "terminating connection" in warned.getMessage()
    finally:
        runner.stop()
        reader.close()
        with contextlib.suppress(Exception):
            store.close()


def _logged(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


@pytest.mark.postgres
def test_a_postgresql_outage_answers_503_and_the_service_recovers_when_it_is_back() -> None:
    bindir = find_bindir()
    if bindir is None:
        pytest.fail("no PostgreSQL server binaries to start one that can be stopped")
    with (
        ThrowawayPostgres(bindir) as server,
        scratch_database(server.admin_url) as url,
        serve(f"{url}?pool_size=1&max_overflow=0&connect_timeout=1") as client,
    ):
        assert post_event(client, bodies.development_reported()).status_code == 201
        again = bodies.development_reported(event_id=str(uuid4()))
        # when the server is down, writes, views and the health check say so: the one whose
        # pooled connection broke, and the ones after, which the pool has no connection for
        with server.down():
            answers = [
                post_event(client, again),
                post_event(client, again),
                client.get("/api/views/deliveries"),
                client.get("/api/health"),
            ]
        for answer in answers:
            assert problem(answer, 503)["type"] == "urn:timeline:problem:database-unavailable"
            assert answer.headers["retry-after"] == "1"
        # then once it is back, the same write sent again is stored, once; broken pooled
        # connections may answer 503 a few times more before they are replaced
        statuses = [post_event(client, again).status_code for _ in range(20)]
        stored = statuses.index(201)
        assert set(statuses[:stored]) <= {503} and set(statuses[stored + 1 :]) == {200}
        assert log_state(client).events == 2


def test_background_checkpoints_meeting_a_held_lock_log_a_warning_and_sign_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = f"sqlite:///{tmp_path}/timeline.db"
    timeline = Timeline(database + FAST)
    signer = Signer(load_or_create_key(tmp_path / "timeline.key"))
    record_log(timeline, 3)
    ledger.latest(timeline.store)  # the ledger's table exists before the lock is taken

    async def serve_for_a_while() -> None:
        async with periodic_checkpoints(timeline, every=3, interval=0.02, signer=signer):
            with lock_held(database):
                while not _logged(caplog, "service.audit.periodic"):
                    await asyncio.sleep(0.05)
            while ledger.latest(timeline.store) is None:
                await asyncio.sleep(0.02)

    try:
        with caplog.at_level(logging.WARNING, logger="service.audit.periodic"):
            asyncio.run(asyncio.wait_for(serve_for_a_while(), timeout=60))
        [record, *_] = _logged(caplog, "service.audit.periodic")
        assert record.getMessage().startswith("could not make a checkpoint now: ")
        assert record.exc_info is None  # a wait, not a failure: no traceback
        assert ledger.latest(timeline.store) is not None
    finally:
        timeline.close()


def test_a_database_without_the_log_s_tables_asks_for_timeline_init(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given processes told not to create tables (as after `timeline init`), on a database where
    # init never ran
    monkeypatch.setenv("CREATE_TABLE", "no")
    missing = "no database at" if database_url.startswith("sqlite") else "no timeline tables in"
    with pytest.raises(ConfigError, match=rf"{missing} .*CREATE_TABLE=no.*run `timeline init`"):
        Timeline(database_url)
    assert main(["tokens", "list", "--database", database_url]) == 2
    # (a SQLite file is not made by either: the command says there is none)
    assert missing in capsys.readouterr().err
    # When init runs, they open it, and find every table made: none has DDL left to run
    assert main(["init", "--database", database_url]) == 0
    opened = Timeline(database_url)
    try:
        assert complete(Dialect(opened.store))
        audit = ["api_tokens", ledger.TABLE, ledger.CHUNKS]
        assert opened.store.existing(audit) == set(audit)
    finally:
        opened.close()


def test_on_sqlite_a_read_finding_no_free_connection_answers_503_busy(tmp_path: Path) -> None:
    # Given a server whose every pooled SQLite connection is taken, for longer than it waits
    with serve(f"sqlite:///{tmp_path / 'pool.db'}") as client:
        assert client.get("/api/views/deliveries").status_code == 200
        timeline = client.app.state.timeline
        pool = timeline.store.datastore.pool
        pool.pool_timeout = 0.2
        taken = [pool.get_connection() for _ in range(pool.pool_size + pool.max_overflow)]
        try:
            # When a view and the log are read
            answers = [client.get("/api/views/deliveries"), client.get("/api/events")]
        finally:
            for connection in taken:
                pool.put_connection(connection)
        # Then each is a 503 to send again, not a 500; afterwards reads succeed
        for answer in answers:
            assert problem(answer, 503)["type"] == "urn:timeline:problem:database-busy"
            assert answer.headers["Retry-After"]
        assert client.get("/api/views/deliveries").status_code == 200


def assert_writes_refused(client: Client, saying: str) -> None:
    """An event and a batch posted each get a 503 saying the database may not be used."""
    for answer in (
        post_event(client, bodies.development_reported()),
        post_batch(client, bodies.development_reported()),
    ):
        document = problem(answer, 503)
        assert document["type"] == "urn:timeline:problem:database-unavailable"
        assert saying in document["detail"]
        assert "Retry-After" not in answer.headers


def test_on_sqlite_a_database_that_may_only_be_read_answers_503_and_stores_nothing(
    tmp_path: Path,
) -> None:
    # Given a server whose SQLite connections may only read (as a file this user may not write)
    with serve(f"sqlite:///{tmp_path / 'ro.db'}") as client:
        assert post_event(client, bodies.development_reported()).status_code == 201
        before = log_state(client)
        pool = client.app.state.timeline.store.datastore.pool
        taken = [pool.get_connection() for _ in range(pool.pool_size)]
        for connection in taken:
            connection._sqlite_conn.execute("PRAGMA query_only = ON")
        for connection in taken:
            pool.put_connection(connection)
        # When an event and a batch are posted, then each is a 503 saying the database cannot be
        # used, never a 500, and nothing is stored
        assert_writes_refused(client, "may not be written")
        assert log_state(client) == before


def test_the_cli_says_a_sqlite_database_may_only_be_read_and_exits_74(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a database this process may only read (its connections told so, as a file's
    # permissions would: the tests run as root, whom they do not stop)
    database = f"sqlite:///{tmp_path}/ro.db"
    events_in(database)
    connect = sqlite3.connect

    def read_only(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = connect(*args, **kwargs)
        connection.execute("PRAGMA query_only = ON")
        return connection

    monkeypatch.setattr(sqlite3, "connect", read_only)
    source = tmp_path / "events.ndjson"
    source.write_text(json.dumps(bodies.development_reported()) + "\n")
    # When events are imported into it
    code = main(["import", str(source), "--database", database])
    monkeypatch.undo()
    # Then the command says the database may not be written, exits 74, and stored nothing
    assert code == 74
    error = capsys.readouterr().err
    assert "the database may not be written" in error and "Traceback" not in error
    assert events_in(database) == 0


@contextmanager
def a_role_that_may_only_read(url: str, how: str) -> Iterator[str]:
    """The URL of `url`'s database as a new role, dropped afterwards, that may only read: granted
    only SELECT on its tables (`how="select"`, a reporting account, say), or granted everything
    but its transactions read-only (`how="read-only"`, as on a standby)."""
    role = f"tl_reader_{uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        if how == "select":
            admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        else:
            admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
            admin.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
    parts = urlsplit(url)
    try:
        yield urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.split('@')[-1]}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["select", "read-only"])
def test_on_postgresql_a_role_that_may_only_read_answers_503_and_the_cli_exits_74(
    postgres_url: str, how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Given a database made by its owner, and a server connecting as a role that may only read
    with serve(postgres_url) as client:
        assert post_event(client, bodies.development_reported()).status_code == 201
        token = client.headers["Authorization"]
        before = log_state(client)
    monkeypatch.setenv("CREATE_TABLE", "no")  # as processes started after `timeline init`
    with a_role_that_may_only_read(postgres_url, how) as reader:
        with serve(reader, role=None) as client:
            client.headers["Authorization"] = token
            # When an event and a batch are posted, then each is a 503 saying the database may
            # not be written, never a 500
            assert_writes_refused(client, "PostgreSQL role")
            # and so are the views, which fold what the log holds into their tables first
            assert "PostgreSQL role" in problem(client.get("/api/developments"), 503)["detail"]
        # And an import says the database may not be written and exits 74, not 1
        source = tmp_path / "events.ndjson"
        source.write_text(json.dumps(bodies.development_reported()) + "\n")
        assert main(["import", str(source), "--database", reader]) == 74
        error = capsys.readouterr().err
        assert "the database may not be written" in error and "Traceback" not in error
    with serve(postgres_url, role=None) as client:  # nothing was stored
        client.headers["Authorization"] = token
        assert log_state(client) == before


@contextmanager
def immutable(folder: Path) -> Iterator[None]:
    """`folder` and what it holds may not be changed, by root either (`chattr +i`)."""
    paths = [*folder.iterdir(), folder]
    made = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


def test_the_cli_says_a_sqlite_database_in_a_folder_it_may_not_write_may_not_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a database whose folder may not be written (its WAL's files cannot be made there)
    folder = tmp_path / "locked"
    folder.mkdir()
    database = f"sqlite:///{folder}/ro.db"
    events_in(database)
    source = tmp_path / "events.ndjson"
    source.write_text(json.dumps(bodies.development_reported()) + "\n")
    # When events are imported into it
    with immutable(folder):
        code = main(["import", str(source), "--database", database])
    # Then the command says it may not be written and exits 74, not "run it again" (75)
    assert code == 74
    assert "the database may not be written" in capsys.readouterr().err
    assert events_in(database) == 0


def test_a_process_starting_beside_a_rebuild_opens_without_waiting_for_its_locks(
    database_url: str,
) -> None:
    # Given a database whose tables are all made (the log's, the read models', tokens, ledger)
    assert main(["init", "--database", database_url]) == 0
    # When another process holds what a rebuild holds (the write lock on SQLite; the tracking
    # rows on PostgreSQL) and a server process starts, with a lock timeout of one second
    with lock_held(database_url, by="rebuild"):
        started = Timeline(database_url + FAST)
        try:
            # Then it opens what it needs without waiting for the rebuild (it was Busy)
            ProjectionRunner(started.store)
            Tokens(started.store)
            ledger.ensure_table(started.store)
        finally:
            started.close()


def test_a_database_emptied_under_the_server_is_a_503_that_asks_for_init(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        assert client.get("/api/health").status_code == 200
        # When its tables are dropped (the database made again, or emptied by hand)
        if database_url.startswith("sqlite"):
            with sqlite3.connect(database_url.removeprefix("sqlite:///")) as admin:
                names = admin.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite%' AND sql NOT LIKE '%VIRTUAL%'"
                )
                for (name,) in names.fetchall():
                    admin.execute(f"DROP TABLE IF EXISTS {name}")
        else:
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute("DROP SCHEMA public CASCADE")
                admin.execute("CREATE SCHEMA public")
        # Then every request is a 503 that says what the operator must do: it was a 500
        for response in (
            client.get("/api/health"),
            post_event(client, bodies.development_reported()),
        ):
            said = problem(response, 503)
            assert "run `timeline init`" in said["detail"]
            assert "Retry-After" not in response.headers  # it lasts until someone acts


@pytest.mark.postgres
def test_a_postgresql_database_dropped_under_the_server_is_a_503_that_says_so(
    postgres_admin_url: str,
) -> None:
    with scratch_database(postgres_admin_url) as url, serve(url + "?connect_timeout=1") as client:
        assert client.get("/api/health").status_code == 200
        drop_database(postgres_admin_url, urlsplit(url).path.strip("/"))
        # the pool's connections were ended ("a connection broke": a retry may help); once
        # they are gone, a new one is refused: that lasts until the operator acts (it said
        # "down or restarting", send again shortly)
        details = []
        for _ in range(10):
            response = client.get("/api/health")
            details.append(problem(response, 503)["detail"])
            if "refuses this server's connections" in details[-1]:
                break
        assert "refuses this server's connections" in details[-1], details
        assert "Retry-After" not in response.headers
