"""Shared fixtures: databases to run the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.application import Timeline
from tests.api import Client, serve
from tests.pgserver import (
    ENV_ADMIN_URL,
    PostgresUnavailable,
    ThrowawayPostgres,
    check_reachable,
    find_bindir,
    scratch_database,
)
from tests.test_views_support import Store


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """URL of a PostgreSQL server where the tests may CREATE DATABASE.

    TIMELINE_TEST_POSTGRES when set, else a throwaway server started from the installed binaries
    for this session. Without either, PostgreSQL tests are skipped (under CI they fail).
    """
    configured = os.environ.get(ENV_ADMIN_URL)
    if configured:
        try:
            check_reachable(configured)
        except PostgresUnavailable as exc:
            pytest.fail(f"{ENV_ADMIN_URL} is set but unusable: {exc}", pytrace=False)
        yield configured
        return
    bindir = find_bindir()
    if bindir is None:
        reason = (
            f"PostgreSQL tests need {ENV_ADMIN_URL} or the server binaries "
            "(initdb, pg_ctl under /usr/lib/postgresql/*/bin; apt-get install postgresql)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        server = ThrowawayPostgres(bindir)
        server.start()
    except PostgresUnavailable as exc:
        pytest.fail(f"could not start a throwaway PostgreSQL: {exc}", pytrace=False)
    try:
        yield server.admin_url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """URL of a new empty database tl_<hex>, dropped (WITH (FORCE)) after the test."""
    with scratch_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/timeline.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A fresh timeline and its read models on each database."""
    opened = Store(database_url)
    yield opened
    opened.close()


@pytest.fixture
def timeline(database_url: str) -> Iterator[Timeline]:
    """A `Timeline` on a fresh database, once on SQLite and once on PostgreSQL."""
    app = Timeline(database_url)
    yield app
    app.close()


@pytest.fixture
def client(database_url: str) -> Iterator[Client]:
    """A client of the app on a fresh database (SQLite, then PostgreSQL), with an editor token;
    modules that need another client define their own."""
    with serve(database_url) as client:
        yield client
