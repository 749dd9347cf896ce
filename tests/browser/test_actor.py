"""The overview's actor filter kept through a development page, in Chromium: the time axes
moved there rewrite its address, its crumb and its part with the filter, and the crumb leads
back to the filtered overview."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.browser.test_page import expect, open_live

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import Site

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_moving_the_time_axes_on_a_development_page_keeps_the_overviews_actor(
    page: Page, site: Site
) -> None:
    # Given the overview filtered by Iran, and the reader opens its first development
    open_live(page, f"{site.base}/?as_of=2024-03-01&actor=IRN")
    page.locator("#timeline .entry h3 a").first.click()
    expect(page).to_have_url(re.compile(r"/developments/[0-9a-f-]+\?as_of=2024-03-01&actor=IRN$"))
    expect(page.locator("#liveness")).to_have_attribute("data-state", "live")
    development = page.url.split("?")[0]
    crumb = page.locator(".crumbs a")

    # When the reader moves the as-of a day back with the keyboard
    page.locator("#as-of-slider").focus()
    page.keyboard.press("ArrowLeft")

    # Then the address and the crumb swapped in keep the filter with the new date
    expect(page).to_have_url(re.compile(r"\?as_of=2024-02-29&actor=IRN$"))
    expect(crumb).to_have_text("← Overview as of 2024-02-29")
    expect(crumb).to_have_attribute("href", "/?as_of=2024-02-29&actor=IRN")

    # and so do a known-at typed (a second past, after the seed: else it is to come, or the
    # development is not recorded yet), and Now chosen after it
    time.sleep(1.05 - time.time() % 1)
    second = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    page.locator("#known-at").fill(second.strftime("%Y-%m-%dT%H:%M:%S"))
    known_at = "known_at=" + second.strftime("%Y-%m-%dT%H%%3A%M%%3A%S.999999Z")
    expect(page).to_have_url(re.compile(rf"\?as_of=2024-02-29&{known_at}&actor=IRN$"))
    expect(crumb).to_have_attribute("href", f"/?as_of=2024-02-29&{known_at}&actor=IRN")
    page.locator("#known-at-now").click()
    expect(page).to_have_url(re.compile(r"\?as_of=2024-02-29&actor=IRN$"))
    assert page.url.startswith(development)

    # and the crumb leads back to the overview of Iran at that date
    crumb.click()
    expect(page).to_have_url(re.compile(r"/\?as_of=2024-02-29&actor=IRN$"))
    expect(page.locator("#actor")).to_have_value("IRN")
    expect(page.locator("#lede")).to_contain_text("with IRN as an actor")
