"""Fixtures of the browser tests: a seeded `timeline serve`, Debian's Chromium, screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from tests.browser.artifacts import LAPTOP
from tests.browser.serving import cli, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync"]  # fmt: skip


class Site(NamedTuple):
    """The served page and an editor token for posting events."""

    base: str
    token: str


def _needs_chromium() -> None:
    reason = ""
    if not CHROMIUM.exists():
        reason = f"browser tests need {CHROMIUM} (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "browser tests need the playwright package (pip install -e '.[test]')"
    if reason and os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright; closed with its module.

    Closing matters: while it runs, this thread has a running event loop (asyncio.run fails).
    """
    _needs_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`timeline serve` over a SQLite database seeded with `timeline seed`."""
    _needs_chromium()
    database = f"sqlite:///{tmp_path_factory.mktemp('browser')}/timeline.db"
    cli("seed", "--database", database)
    token = cli("tokens", "create", "--name", "browser-test", "--role", "editor",
                "--database", database)  # fmt: skip
    with serving(database) as server:
        yield Site(server.base, token)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh laptop-sized tab; page errors fail the test."""
    context = browser.new_context(viewport=LAPTOP, locale="en-GB", timezone_id="UTC")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors
