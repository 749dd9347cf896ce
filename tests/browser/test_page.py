"""The page in Chromium over a real server with the seed corpus: slider, corrections, live feed."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.artifacts import PHONE, screenshot
from tests.browser.serving import cli, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.browser.conftest import Site

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CONTAINERS = "0fa92882-e151-5fc7-80b1-b54bbe48b61f"
CONTAINERS_SINCE = "6257630a-be9f-522b-bf9a-cd39f4c3f943"  # their total since September 2023


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertions (imported late: the package may be absent)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def open_live(page: Page, url: str) -> None:
    """Open `url` and wait until the page follows the log (its script is running)."""
    page.goto(url)
    expect(page.locator("#liveness")).to_have_attribute("data-state", "live")


def move_slider_to(tab: Page, day: date) -> None:
    """Click the as-of track near `day`, then step to it with the arrow keys, as a reader would."""
    slider = tab.locator("#as-of-slider")
    first = date.fromisoformat(slider.get_attribute("data-first-day") or "")
    target, last = (day - first).days, int(slider.get_attribute("max") or 0)
    box = slider.bounding_box()
    assert box is not None
    tab.mouse.click(box["x"] + box["width"] * target / last, box["y"] + box["height"] / 2)
    current = int(slider.input_value())
    for _ in range(abs(target - current)):
        slider.press("ArrowRight" if target > current else "ArrowLeft")
    assert slider.input_value() == str(target)


def test_moving_the_as_of_slider_updates_the_allegations_board_and_the_chart(
    page: Page, site: Site
) -> None:
    page.goto(f"{site.base}/?as_of=2024-03-01")
    counts, legend = page.locator("#allegations .counts"), page.locator("#panel-container .legend")
    expect(counts).to_have_text(re.compile(r"18 open:\s*alleged 15,\s*corroborated 3"))
    expect(legend).to_contain_text(
        "US Government: more than 10,000 containers (last reported 2024-02-23"
    )
    rounds = page.locator("#panel-round .legend")
    expect(rounds).to_contain_text("South Korea NIS: more than 1,000,000 rounds")
    screenshot(page, "overview-2024-03-01-laptop")

    move_slider_to(page, date(2023, 10, 20))

    expect(page).to_have_url(re.compile(r"\?as_of=2023-10-20$"))
    expect(page.locator("#as-of-said")).to_have_text("20 October 2023")
    expect(counts).to_have_text(re.compile(r"10 open:\s*alleged 9,\s*corroborated 1"))
    expect(legend).to_contain_text(
        "US Government: more than 1,000 containers (last reported 2023-10-13"
    )
    expect(page.locator("#panel-round")).to_have_count(0)  # no rounds counted before November
    screenshot(page, "overview-2023-10-20-laptop")


def test_a_development_page_highlights_each_correction(page: Page, site: Site) -> None:
    page.goto(f"{site.base}/?as_of=2024-03-01")
    page.locator(f'#timeline [data-development="{CONTAINERS_SINCE}"] h3 a').click()

    expect(page).to_have_url(re.compile(rf"/developments/{CONTAINERS_SINCE}\?as_of=2024-03-01$"))
    history = page.locator("#history")
    # each said as removed or added to a screen reader, not run together
    expect(history.locator("del", has_text=re.compile(r"^removed: disclosure$"))).to_be_visible()
    expect(history.locator("ins", has_text=re.compile(r"^added: fact_sheet$"))).to_be_visible()
    expect(page.locator("#report-1")).to_contain_text("B2: usually reliable source")
    screenshot(page, "development-containers-laptop")


def post(site: Site, body: dict[str, Any], path: str = "/api/events") -> dict[str, Any]:
    """POST `body` to the served API with the site's editor token; the receipt."""
    request = urllib.request.Request(f"{site.base}{path}", data=json.dumps(body).encode(),
                                     method="POST")  # fmt: skip
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {site.token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        receipt: dict[str, Any] = json.loads(response.read())
        return receipt


def test_an_event_posted_through_the_api_appears_without_reloading(page: Page, site: Site) -> None:
    open_live(page, f"{site.base}/")
    page.evaluate("window.notReloaded = true")
    title = f"Live test: a shipment seen at Rajin on {datetime.now(UTC):%H:%M:%S}"

    receipt = post(site, {
        "type": "development_reported", "kind": "transfer", "title": title, "stage": "shipped",
        "actors": {"supplier": "PRK", "recipient": "RUS"}, "occurred": "2024-06~",
        "report": {"source": {"originator": "Browser test", "channel": "imagery"},
                   "asserted_on": "2024-06-15"},
    })  # fmt: skip

    expect(page.locator("#live")).to_contain_text(f"New event {receipt['position']}")
    entry = page.locator(f'#timeline [data-development="{receipt["development_id"]}"]')
    expect(entry).to_contain_text(title)
    expect(entry).to_contain_text("2024-06~ (month precision, approximate)")
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "live-event-laptop")


def test_an_actor_typed_in_the_filter_narrows_every_view_and_the_address(
    page: Page, site: Site
) -> None:
    # Given the overview as of 1 March 2024, with Korean and Iranian deliveries
    open_live(page, f"{site.base}/?as_of=2024-03-01")
    expect(page.locator("#panel-round")).to_have_count(1)

    # When the reader types Iran's id into the actor filter and presses Enter
    page.locator("#actor").fill("IRN")
    page.locator("#actor").press("Enter")

    # Then the views are Iran's alone, and the address keeps the filter for a reload
    expect(page).to_have_url(re.compile(r"\?as_of=2024-03-01&actor=IRN$"))
    expect(page.locator("#lede")).to_contain_text("with IRN as an actor")
    expect(page.locator("#panel-round")).to_have_count(0)  # the Korean shells are gone
    expect(page.locator("#panel-uav")).to_have_count(1)
    page.reload()
    expect(page.locator("#actor")).to_have_value("IRN")
    expect(page.locator("#panel-round")).to_have_count(0)


def test_the_overview_reads_on_a_phone(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport=PHONE, locale="en-GB", timezone_id="UTC")
    try:
        tab = context.new_page()
        tab.goto(f"{site.base}/?as_of=2024-03-01")
        expect(tab.locator("#panel-container")).to_be_visible()
        overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the phone"
        screenshot(tab, "overview-2024-03-01-phone")
        tab.goto(f"{site.base}/developments/{CONTAINERS}?as_of=2024-03-01")
        assert tab.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        screenshot(tab, "development-containers-phone")
    finally:
        context.close()


def test_the_time_axes_work_from_the_keyboard(page: Page, site: Site) -> None:
    page.goto(f"{site.base}/?as_of=2024-03-01")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.locator(".skip")).to_be_focused()
    page.locator("#as-of-slider").focus()
    page.keyboard.press("ArrowLeft")

    expect(page).to_have_url(re.compile(r"\?as_of=2024-02-29$"))
    expect(page.locator("#lede")).to_contain_text("As of 29 February 2024")


def _development_with_two_reports(site: Site) -> tuple[str, str]:
    """A new development and a second report of it; its id and when v2 was recorded."""
    audit = {"originator": "Browser test", "channel": "imagery"}
    first = post(site, {
        "type": "development_reported", "kind": "transfer", "title": "Shells seen at Tumangang",
        "actors": {"supplier": "PRK", "recipient": "RUS"},
        "report": {"source": audit, "asserted_on": "2024-06-15"},
    })  # fmt: skip
    second = post(site, {
        "type": "report_added", "development_id": first["development_id"],
        "report": {"source": audit, "asserted_on": "2024-06-20",
                   "figure": {"unit": "round", "value": 500}},
    })  # fmt: skip
    return first["development_id"], second["recorded_at"]


def test_moving_a_control_keeps_the_known_at_to_the_microsecond(page: Page, site: Site) -> None:
    # Given a page asked as known at the very moment its second version was recorded
    development, recorded_at = _development_with_two_reports(site)
    assert not recorded_at.endswith(".000000Z")
    page.goto(f"{site.base}/developments/{development}?as_of=2024-07-01&known_at={recorded_at}")
    expect(page.locator("#v2")).to_contain_text("500 rounds")

    # When the reader moves the as-of date
    page.locator("#as-of").fill("2024-07-02")

    # Then the known-at sent and kept in the address is the one given, and v2 is still there
    exact = re.escape(recorded_at.replace(":", "%3A"))
    expect(page).to_have_url(re.compile(rf"\?as_of=2024-07-02&known_at={exact}$"))
    expect(page.locator("#reports ol.reports li").first).to_contain_text("as of 2024-07-02")
    expect(page.locator("#v2")).to_have_count(1)


def test_a_known_at_typed_to_the_second_takes_in_what_was_recorded_during_it(
    page: Page, site: Site
) -> None:
    # Given a development whose second report was recorded at some microsecond of a second
    development, recorded_at = _development_with_two_reports(site)
    open_live(page, f"{site.base}/developments/{development}?as_of=2024-07-01")
    time.sleep(max(0.0, 1.05 - (time.time() % 1)))  # that second is past: else it is to come

    # When the reader types that second, as the history shows it, into the known-at field
    page.locator("#known-at").fill(recorded_at[:19])

    # Then the page is known at the end of that second, with the second report in it
    expect(page).to_have_url(re.compile(r"known_at=.*\.999999Z$"))
    expect(page.locator("#v2")).to_contain_text("500 rounds")


def test_a_known_at_typed_at_second_00_is_that_second_not_the_minute(
    page: Page, site: Site
) -> None:
    # Given the overview, live
    open_live(page, f"{site.base}/?as_of=2024-07-01")

    # When the reader types a moment at second 00 (the field's value then leaves out ":00")
    page.locator("#known-at").fill("2024-01-02T03:04:00")

    # Then the page is known at the end of that second, not of the minute
    expect(page).to_have_url(re.compile(r"known_at=2024-01-02T03%3A04%3A00\.999999Z$"))


def test_a_known_at_before_the_development_keeps_the_views_and_says_why(
    page: Page, site: Site
) -> None:
    # Given the containers page as of 1 March 2024
    open_live(page, f"{site.base}/developments/{CONTAINERS}?as_of=2024-03-01")

    # When the reader sets a known-at before anything of it was recorded
    page.locator("#known-at").fill("2000-01-01T00:00:00")

    # Then the page says nothing was recorded by then, and keeps its views and its address
    refused = page.locator("#refused")
    expect(refused).to_contain_text(f"Nothing of development {CONTAINERS} was recorded by")
    expect(refused).to_contain_text("Choose Now")
    expect(page).to_have_url(re.compile(rf"/developments/{CONTAINERS}\?as_of=2024-03-01$"))
    expect(page.locator("#report-2")).to_contain_text("South Korea NIS")
    page.locator("#known-at-now").click()
    expect(refused).to_be_hidden()

    # And the page asked at that known-at offers the same page as recorded now
    page.goto(f"{site.base}/developments/{CONTAINERS}?as_of=2024-03-01&known_at=2000-01-01")
    expect(page.locator("main")).to_contain_text("it was recorded later")
    page.locator("#at-now").click()
    expect(page).to_have_url(re.compile(rf"/developments/{CONTAINERS}\?as_of=2024-03-01$"))
    expect(page.locator("#report-2")).to_contain_text("South Korea NIS")


def test_a_focused_link_scrolls_clear_of_the_time_axes(page: Page, site: Site) -> None:
    # Given a development page, in a window short enough to scroll, scrolled so that a link
    # sits under the sticky time axes
    page.set_viewport_size({"width": 1280, "height": 360})
    page.goto(f"{site.base}/developments/{CONTAINERS_SINCE}?as_of=2024-03-01")
    link = page.locator('#reports a[href="#history"]').first
    bar, box = page.locator("#controls").bounding_box(), link.bounding_box()
    assert bar is not None and box is not None
    page.evaluate(f"window.scrollBy(0, {box['y'] - bar['height'] / 2})")  # sticky: the bar is at 0
    box = link.bounding_box()
    assert box is not None and box["y"] < bar["height"], "the link should start under the bar"

    # When it takes the focus
    link.focus()

    # Then it is scrolled below the bar
    box = link.bounding_box()
    assert box is not None and box["y"] >= bar["height"], (box, bar)


def test_a_live_update_keeps_the_focus_on_the_same_link(page: Page, site: Site) -> None:
    # Given a development page with its link back to the overview focused
    development, _ = _development_with_two_reports(site)
    open_live(page, f"{site.base}/developments/{development}?as_of=2024-07-01")
    page.locator(".crumbs a").focus()

    # When another report of it arrives and the views are redrawn
    post(site, {
        "type": "report_added", "development_id": development,
        "report": {"source": {"originator": "Second look", "channel": "imagery"},
                   "asserted_on": "2024-06-25"},
    })  # fmt: skip
    expect(page.locator("#report-3")).to_contain_text("Second look")

    # Then the focus is on the same link, in the new views
    expect(page.locator(".crumbs a")).to_be_focused()


def test_a_chart_table_opened_from_the_keyboard_stays_open_and_focused_when_views_redraw(
    page: Page, site: Site
) -> None:
    # Given the containers chart's table opened with Enter on its summary
    open_live(page, f"{site.base}/?as_of=2024-07-01")
    table = page.locator("#panel-container-steps")
    summary = page.locator("#panel-container-steps-summary")
    summary.focus()
    summary.press("Enter")
    expect(table).to_have_attribute("open", "")

    # When an event recorded elsewhere redraws the views
    development, _ = _development_with_two_reports(site)
    expect(page.locator(f"[data-development='{development}']").first).to_be_attached()

    # Then the table is still open and its summary still has the focus
    expect(table).to_have_attribute("open", "")
    expect(summary).to_be_focused()

    # and it stays open when the date moves, showing that date's rows
    page.locator("#as-of").fill("2023-10-20")
    page.locator("#as-of").dispatch_event("change")
    expect(page).to_have_url(re.compile(r"as_of=2023-10-20"))
    expect(table).to_have_attribute("open", "")
    expect(table.locator("tbody tr")).to_have_count(1)


def test_a_page_refused_a_stream_by_a_full_server_follows_the_log_once_one_is_free(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a server that keeps one event stream open, and a page holding it
    database = f"sqlite:///{tmp_path}/timeline.db"
    cli("seed", "--database", database)
    monkeypatch.setenv("TIMELINE_MAX_STREAMS", "1")
    with serving(database) as server:
        context = browser.new_context(locale="en-GB", timezone_id="UTC")
        first, second = context.new_page(), context.new_page()
        open_live(first, f"{server.base}/")
        # When a second page opens: its stream is refused (503), which a browser never retries
        second.goto(f"{server.base}/")
        liveness = second.locator("#liveness")
        expect(liveness).to_have_attribute("data-state", "reconnecting")
        # Then once the first page is closed, the second follows the log by itself
        first.close()
        expect(liveness).to_have_attribute("data-state", "live", timeout=30_000)
        context.close()


def test_a_live_correction_of_a_title_renames_the_page_and_its_tab(page: Page, site: Site) -> None:
    receipt = post(site, {
        "type": "development_reported", "kind": "transfer", "title": "Shipment at Rajin",
        "stage": "shipped", "actors": {"supplier": "PRK", "recipient": "RUS"},
        "report": {"source": {"originator": "Browser test", "channel": "imagery"},
                   "asserted_on": "2024-06-15"},
    })  # fmt: skip
    development = receipt["development_id"]
    open_live(page, f"{site.base}/developments/{development}")
    assert page.title() == "Shipment at Rajin · Timeline"

    corrected = post(site, {
        "type": "development_corrected", "development_id": development,
        "changes": {"title": "Shipment at Najin"}, "reason": "The imagery shows Najin",
    })  # fmt: skip

    # the announcement names the title as corrected, and so do the heading and the tab
    expect(page.locator("#live")).to_contain_text(
        f"New event {corrected['position']}: development corrected, “Shipment at Najin”"
    )
    expect(page.locator("#dev-title")).to_have_text("Shipment at Najin")
    expect(page).to_have_title("Shipment at Najin · Timeline")
