"""The PostgreSQL test harness itself: scratch databases are real, empty, and dropped afterwards."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.pgserver import database_exists, scratch_database


@pytest.mark.postgres
def test_postgres_url_is_an_empty_database_that_round_trips_rows(postgres_url: str) -> None:
    # Given a scratch database from the fixture
    dbname = urlsplit(postgres_url).path.lstrip("/")
    assert dbname.startswith("tl_")

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # Then it is the database named in the URL and holds no tables of ours
        assert conn.execute("SELECT current_database()").fetchone() == (dbname,)
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
        assert tables == (0,)

        # When a table is created and written
        conn.execute("CREATE TABLE reports (id integer PRIMARY KEY, title text NOT NULL)")
        conn.execute(
            "INSERT INTO reports (id, title) VALUES (%s, %s), (%s, %s)",
            (1, "Export licence granted", 2, "Delivery denied"),
        )

        # Then the rows read back as written
        rows = conn.execute("SELECT id, title FROM reports ORDER BY id").fetchall()
        assert rows == [(1, "Export licence granted"), (2, "Delivery denied")]


@pytest.mark.postgres
def test_scratch_database_is_dropped_on_exit_even_while_connected(postgres_admin_url: str) -> None:
    # Given a scratch database with a client still connected when the block ends
    with scratch_database(postgres_admin_url) as url:
        dbname = urlsplit(url).path.lstrip("/")
        assert database_exists(postgres_admin_url, dbname)
        lingering = psycopg.connect(url, autocommit=True)
        lingering.execute("CREATE TABLE leftover (id integer)")

    # Then the database is gone and the lingering session was terminated
    try:
        assert not database_exists(postgres_admin_url, dbname)
        with pytest.raises(psycopg.OperationalError):
            lingering.execute("SELECT 1")
    finally:
        lingering.close()


def test_database_url_names_a_fresh_database_on_each_backend(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite:///"):
        # Given the SQLite variant: a file path inside this test's tmp_path, not created yet
        path = Path(database_url.removeprefix("sqlite:///"))
        assert path == tmp_path / "timeline.db"
        assert not path.exists()
        # Then SQLite can create and use it
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert path.is_file()
    else:
        # Given the PostgreSQL variant: a scratch database
        assert urlsplit(database_url).path.startswith("/tl_")
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (
                urlsplit(database_url).path.lstrip("/"),
            )
