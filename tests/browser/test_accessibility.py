"""The page for readers with a keyboard, a screen reader, a zoomed or narrow window: WCAG 2.2 AA."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.test_page import CONTAINERS_SINCE, expect, open_live, post

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.browser.conftest import Site

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

OVERVIEW = "/?as_of=2024-03-01"
DEVELOPMENT = f"/developments/{CONTAINERS_SINCE}?as_of=2024-03-01"  # its history has unchanged rows

# The contrast ratio (WCAG 2.2) of each visible text, its colour blended by opacity over the
# first opaque background behind it; and of each text field's border on its background.
CONTRAST = """() => {
  const rgba = (c) => (c.match(/[\\d.]+/g) || []).map(Number).concat([1]).slice(0, 4);
  const over = (top, under) => top.slice(0, 3).map((v, i) => v * top[3] + under[i] * (1 - top[3]));
  const linear = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const lum = (c) => [0.2126, 0.7152, 0.0722].reduce((sum, k, i) => sum + k * linear(c[i]), 0);
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const behind = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.unshift(c);
      if (c[3] >= 1) break;
    }
    return layers.reduce((under, top) => over(top, under), [255, 255, 255]);
  };
  const opacity = (element) => {
    let o = 1;
    for (let e = element; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || element.closest(".visually-hidden, svg")) continue;
    const style = getComputedStyle(element), back = behind(element);
    if (!element.getClientRects().length || style.visibility !== "visible") continue;
    const ink = rgba(style.color);
    const seen = over([ink[0], ink[1], ink[2], ink[3] * opacity(element)], back);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const got = ratio(seen, back);
    const text = node.textContent.trim().slice(0, 30);
    if (got < need) low.push(`${got.toFixed(2)} < ${need}: "${text}"`);
  }
  for (const field of document.querySelectorAll("input:not([type=range]):not([type=hidden])")) {
    const got = ratio(rgba(getComputedStyle(field).borderTopColor), behind(field.parentElement));
    if (got < 3) low.push(`${got.toFixed(2)} < 3: the border of #${field.id}`);
  }
  return low;
}"""


def _live_regions(page: Page) -> set[str]:
    """The ids of the elements the browser tells assistive technology to follow politely."""
    cdp = page.context.new_cdp_session(page)
    ids = set()
    for node in cdp.send("Accessibility.getFullAXTree")["nodes"]:
        properties = {p["name"]: p["value"].get("value") for p in node.get("properties", [])}
        if properties.get("live") == "polite" and "backendDOMNodeId" in node:
            described = cdp.send("DOM.describeNode", {"backendNodeId": node["backendDOMNodeId"]})
            attributes = described["node"].get("attributes", [])
            ids.add(dict(zip(attributes[::2], attributes[1::2], strict=True)).get("id", "?"))
    cdp.detach()
    return ids


def test_the_live_regions_are_followed_before_anything_is_said_and_the_date_only_once(
    page: Page, site: Site
) -> None:
    # Given the overview, nothing announced yet
    open_live(page, f"{site.base}{OVERVIEW}")
    expect(page.locator("#live")).to_be_empty()

    # Then the events' region and the views' region are already in the accessibility tree (a
    # region that appears with its first message is not heard), and the slider's visible date
    # is not a second voice: the slider says its date itself
    assert _live_regions(page) == {"live", "views-said"}
    slider = page.get_by_role("slider", name=re.compile("^As of"))
    slider.press("ArrowLeft")
    expect(slider).to_have_attribute("aria-valuetext", "29 February 2024")
    # and the summary of the views that follows leaves the date to the slider
    expect(page.locator("#views-said")).to_have_text(re.compile(r"^\d+ developments? reported"))


def test_a_burst_of_events_is_announced_once_not_one_by_one(page: Page, site: Site) -> None:
    # Given the overview, live, counting what its live region says
    open_live(page, f"{site.base}/")
    _count_what_is_said(page)

    # When three events are recorded together
    moment = f"{datetime.now(UTC):%H:%M:%S}"
    events = [_delivery(f"Burst {n} at {moment}") for n in (1, 2, 3)]
    post(site, {"events": events}, "/api/events/batch")

    # Then one polite message says how many, naming the last, and the views have them all
    live = page.locator("#live")
    expect(live).to_contain_text(
        re.compile(rf"^3 new events, up to \d+; the last: .*Burst 3 at {moment}")
    )
    expect(page.locator("#timeline")).to_contain_text(f"Burst 1 at {moment}")
    assert page.evaluate("window.said.length") == 1, page.evaluate("window.said")


def _count_what_is_said(page: Page) -> None:
    """Keep every message of the page's live region in `window.said`."""
    page.evaluate("""() => {
      window.said = [];
      const live = document.getElementById("live");
      new MutationObserver(() => window.said.push(live.textContent))
        .observe(live, { childList: true, characterData: true, subtree: true });
    }""")


def _delivery(title: str, asserted_on: str = "2024-06-15") -> dict[str, Any]:
    """A new North Korean transfer to Russia, reported by the browser tests' own source."""
    return {
        "type": "development_reported", "kind": "transfer", "title": title,
        "actors": {"supplier": "PRK", "recipient": "RUS"},
        "report": {"source": {"originator": "Browser test", "channel": "imagery"},
                   "asserted_on": asserted_on},
    }  # fmt: skip


def _open_on_a_stopped_clock(page: Page, url: str) -> None:
    """Open `url` live, counting the events its stream delivers (`window.received`), then stop
    its clock: its timers run only as the test moves time on (`page.clock.run_for`)."""
    page.add_init_script("""
      window.received = 0;
      const Native = window.EventSource;
      window.EventSource = class extends Native {
        constructor(...args) {
          super(...args);
          this.addEventListener("development_reported", () => { window.received += 1; });
        }
      };""")
    page.clock.install()
    open_live(page, url)
    page.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))


def _until_delivered(page: Page, count: int, seconds: float = 10.0) -> None:
    """Wait in real time until the page's stream has delivered `count` events."""
    deadline = time.monotonic() + seconds
    while not page.evaluate("(count) => window.received >= count", count):
        assert time.monotonic() < deadline, f"the stream delivered fewer than {count} events"
        time.sleep(0.02)


def test_events_that_keep_coming_are_announced_once_they_pause(page: Page, site: Site) -> None:
    # Given the overview, live, on a clock the test moves, counting the events its stream
    # delivers and what its live region says
    _open_on_a_stopped_clock(page, f"{site.base}/")
    _count_what_is_said(page)

    # When three events come 200 ms apart, longer in all than the 300 ms a pause takes
    moment = f"{datetime.now(UTC):%H:%M:%S}"
    for n in (1, 2, 3):
        post(site, _delivery(f"Paced {n} at {moment}"))
        _until_delivered(page, n)
        page.clock.run_for(200)
    assert page.evaluate("window.said") == []  # still coming: nothing said yet

    # Then once they pause, one message tells of all three
    page.clock.run_for(150)
    expect(page.locator("#live")).to_contain_text(
        re.compile(rf"^3 new events, up to \d+; the last: .*Paced 3 at {moment}")
    )
    assert page.evaluate("window.said.length") == 1, page.evaluate("window.said")


def test_a_change_of_date_is_summarised_though_an_event_came_before_its_views(
    page: Page, site: Site
) -> None:
    # Given the overview as of 1 March 2024, live, on a stopped clock
    _open_on_a_stopped_clock(page, f"{site.base}{OVERVIEW}")
    # When the reader steps the slider back a day, and an event arrives before the views for
    # that day were asked for (its refresh takes the place of the reader's)
    page.get_by_role("slider", name=re.compile("^As of")).press("ArrowLeft")
    post(site, _delivery("Came meanwhile"))
    _until_delivered(page, 1)
    page.clock.run_for(200)
    # Then the views of the new day are still summarised for the reader
    expect(page.locator("#views-said")).to_have_text(re.compile(r"^\d+ developments? reported"))


def test_a_change_of_date_on_a_development_page_says_its_status_and_reports_then(
    page: Page, site: Site
) -> None:
    # Given a development's page as of 1 March 2024
    open_live(page, f"{site.base}/developments/{CONTAINERS_SINCE}?as_of=2024-03-01")
    # When the reader steps the slider back a day
    page.get_by_role("slider", name=re.compile("^As of")).press("ArrowLeft")
    # Then its status and active reports on that day are said politely (the date by the slider)
    expect(page.locator("#views-said")).to_have_text(
        re.compile(r"^[a-z]+(, not visible)?, \d+ reports? active of \d+ recorded\.$")
    )


def test_a_filter_applied_from_the_keyboard_says_what_the_views_now_show(
    page: Page, site: Site
) -> None:
    # Given the overview as of 1 March 2024
    open_live(page, f"{site.base}{OVERVIEW}")

    # When the reader types an actor into the filter, found by its label, and presses Enter
    field = page.get_by_role("combobox", name=re.compile("^Actor"))
    field.fill("IRN")
    field.press("Enter")

    # Then the new counts are said politely, without the reader having to look for them
    said = page.get_by_role("status").filter(has_text="with IRN as an actor")
    expect(said).to_have_text(
        re.compile(r"^As of 1 March 2024, with IRN as an actor: \d+ development")
    )
    expect(page.locator("#views-said")).to_have_class("visually-hidden")


def test_every_table_has_a_name_and_scoped_header_cells(page: Page, site: Site) -> None:
    page.goto(f"{site.base}{OVERVIEW}")
    for summary in page.locator("details summary").all():  # the chart's tables, opened
        summary.click()

    tables = page.get_by_role("table")
    assert tables.count() >= 2
    expect(page.get_by_role("table", name=re.compile(r"\S"))).to_have_count(tables.count())
    expect(
        page.get_by_role("table", name=re.compile("^Containers reported delivered"))
    ).to_have_count(1)
    assert page.locator("table th:not([scope])").count() == 0


@pytest.mark.parametrize("width", [320, 800])  # 1280 px at 400 %, 1600 px at 200 %
def test_the_pages_reflow_in_a_narrow_or_zoomed_window_without_scrolling_sideways(
    browser: Browser, site: Site, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 480}, locale="en-GB",
                                  timezone_id="UTC")  # fmt: skip
    try:
        tab = context.new_page()
        for path in (OVERVIEW, DEVELOPMENT, "/developments/no-such-page"):
            tab.goto(f"{site.base}{path}")
            wider = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wider <= 0, f"{path} is {wider}px wider than a {width}px window"
    finally:
        context.close()


def test_a_keyboard_reader_at_200_percent_zoom_reaches_every_control_on_screen_in_order(
    browser: Browser, site: Site
) -> None:
    # Given the overview in a 1600 x 900 window zoomed to 200 %
    context = browser.new_context(viewport={"width": 800, "height": 450}, device_scale_factor=2,
                                  locale="en-GB", timezone_id="UTC")  # fmt: skip
    try:
        tab = context.new_page()
        tab.goto(f"{site.base}{OVERVIEW}")

        # When the reader tabs from the top to the first development's link
        first = tab.locator("#timeline h3 a").first
        reached: list[str] = []
        for _ in range(80):
            tab.keyboard.press("Tab")
            focus = tab.evaluate("""() => {
              const e = document.activeElement, box = e.getBoundingClientRect();
              const style = getComputedStyle(e);
              return { id: e.id || e.textContent.trim().slice(0, 40),
                       left: box.left, right: box.right,
                       ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2 };
            }""")
            if not reached or reached[-1] != focus["id"]:  # a date field has several parts
                reached.append(focus["id"])
                # Then each stop is wholly on screen, with a visible focus ring
                assert focus["left"] >= 0 and focus["right"] <= 800, focus
                assert focus["ring"], focus
            if first.evaluate("e => e === document.activeElement"):
                break
        else:
            raise AssertionError(f"the first development link was never reached: {reached}")

        # And the skip link, the first stop, takes the focus past the controls into the views
        tab.locator(".skip").focus()
        tab.keyboard.press("Enter")
        expect(tab.get_by_role("main")).to_be_focused()
    finally:
        context.close()

    # in the order of the page: skip link, site links, the axes and the filter, then the views
    assert reached[0] == "Skip to content"
    controls = [stop for stop in reached if stop in {"as-of-slider", "as-of", "known-at",
                                                     "known-at-now", "actor"}]  # fmt: skip
    assert controls == ["as-of-slider", "as-of", "known-at", "known-at-now", "actor"], reached


def test_text_and_field_borders_meet_the_contrast_minimums(page: Page, site: Site) -> None:
    for path in (OVERVIEW, DEVELOPMENT, "/developments/no-such-page"):
        page.goto(f"{site.base}{path}")
        for summary in page.locator("details summary").all():
            summary.click()
        assert page.evaluate(CONTRAST) == [], path


def test_the_chart_names_its_series_and_draws_them_in_colours_that_stand_out(
    page: Page, site: Site
) -> None:
    page.goto(f"{site.base}{OVERVIEW}")

    # The chart is an image whose name says every series, as its legend does
    chart = page.locator("#panel-uav").get_by_role("img")
    for series in ("Iran Foreign Ministry", "US Government: at least 24 UAVs"):
        expect(chart).to_have_accessible_name(re.compile(re.escape(series)))

    # and each colour a series can take is at least 3:1 on the card (WCAG 1.4.11)
    ratios = page.evaluate("""() => {
      const linear = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      const lum = (c) => c.match(/\\d+/g).slice(0, 3)
        .reduce((sum, v, i) => sum + [0.2126, 0.7152, 0.0722][i] * linear(Number(v)), 0);
      const card = lum(getComputedStyle(document.querySelector(".card")).backgroundColor);
      return [0, 1, 2, 3, 4, 5].map((n) => {
        const probe = document.body.appendChild(document.createElement("span"));
        probe.className = "c" + n;
        const ink = lum(getComputedStyle(probe).color);
        probe.remove();
        return (Math.max(ink, card) + 0.05) / (Math.min(ink, card) + 0.05);
      });
    }""")
    assert min(ratios) >= 3, ratios


def test_a_live_update_keeps_the_focus_on_a_link_whose_address_moved_on(
    page: Page, site: Site
) -> None:
    # Given the overview with the focus on its download of the timeline, whose address names
    # the newest known-at
    open_live(page, f"{site.base}{OVERVIEW}")
    download = page.get_by_role("link", name="Download every development as CSV")
    download.focus()
    before = download.get_attribute("href")

    # When an event recorded elsewhere redraws the views
    post(site, _delivery("Focus kept at Rason", asserted_on="2024-02-15"))
    expect(page.locator("#timeline")).to_contain_text("Focus kept at Rason")

    # Then the focus is on the same download, at its new address, not back at the top
    expect(download).to_be_focused()
    assert download.get_attribute("href") != before


def test_a_live_update_keeps_the_focus_on_the_timeline_s_copy_of_a_link_the_board_lost(
    page: Page, site: Site
) -> None:
    # Given the overview with an open allegation, on the board and in the timeline, and the
    # focus on its link in the timeline
    open_live(page, f"{site.base}{OVERVIEW}")
    title = f"Focus kept in the timeline {datetime.now(UTC):%H:%M:%S.%f}"
    development = post(site, _delivery(title, asserted_on="2024-02-20"))["development_id"]
    expect(page.locator("#allegations")).to_contain_text(title)
    in_timeline = page.locator(f'#timeline a[href^="/developments/{development}?"]')
    in_timeline.focus()

    # When it is judged confirmed, so the board no longer lists it
    post(site, {"type": "status_changed", "development_id": development, "status": "confirmed",
                "effective_on": "2024-02-25", "reason": "confirmed by imagery"})  # fmt: skip
    expect(page.locator("#allegations")).not_to_contain_text(title)

    # Then the focus stays on its link in the timeline
    expect(in_timeline).to_be_focused()


def test_a_report_s_grade_is_explained_without_hovering(page: Page, site: Site) -> None:
    # Given a development's page, its reports graded on the Admiralty scale
    page.goto(f"{site.base}/developments/{CONTAINERS_SINCE}?as_of=2024-03-01")
    grade = page.locator("#report-1 .grade")
    # Then the scale is said on the page, and each grade is described by it for a screen
    # reader (it was a title, shown only to a mouse held over the grade)
    explained = re.compile(r"^Each report is graded on the Admiralty scale")
    expect(page.locator("#grades")).to_have_text(explained)
    expect(grade).to_have_accessible_description(explained)
