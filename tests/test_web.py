"""The web page over HTTP with the seed corpus: what a reader can answer without reading JSON."""

from __future__ import annotations

import csv
import html
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from uuid import uuid4

import pytest

from service.application import Timeline
from service.ingest import import_events, seed_corpus
from service.web import overview
from tests.api import Client, post_batch, post_event, report_development, serve
from tests.bodies import (
    development_corrected,
    report,
    report_added,
    report_corrected,
    report_retracted,
    source,
)

CONTAINERS = "0fa92882-e151-5fc7-80b1-b54bbe48b61f"  # the seed's DPRK container deliveries
CONTAINERS_SINCE = "6257630a-be9f-522b-bf9a-cd39f4c3f943"  # and their total since September 2023


INLINE = frozenset({"a", "abbr", "code", "del", "em", "ins", "span", "strong", "time"})


class Page(HTMLParser):
    """The visible text of a page, whitespace collapsed, and every URL it refers to."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.urls: list[str] = []
        self.feed(html)
        self.text = re.sub(r"\s+", " ", "".join(self.parts))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Keep the URLs of links, scripts, styles, images and forms; blocks break words."""
        if tag not in INLINE:
            self.parts.append(" ")
        self.urls += [v for k, v in attrs if k in ("href", "src", "action") and v is not None]

    def handle_data(self, data: str) -> None:
        """Keep the text."""
        self.parts.append(data)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database holding the bundled corpus."""
    url = f"sqlite:///{tmp_path_factory.mktemp('web')}/seed.db"
    timeline = Timeline(url)
    try:
        with seed_corpus() as corpus:
            import_events(timeline, corpus, recorded_by="seed")
    finally:
        timeline.close()
    return url


@pytest.fixture
def client(seeded: str) -> Iterator[Client]:
    """A reader's client of the app over the seeded database."""
    with serve(seeded, role=None) as reader:
        yield reader


def page(client: Client, path: str, status: int = 200, **params: str) -> Page:
    """GET an HTML page; its text and URLs."""
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


def test_the_overview_says_what_each_source_had_said_about_deliveries_by_1_march_2024(
    client: Client,
) -> None:
    text = page(client, "/", as_of="2024-03-01").text
    said = (
        "US Government: more than 10,000 containers (last reported 2024-02-23, 2 reports)",
        "South Korea NIS: more than 1,000,000 rounds (last reported 2023-11-01, 1 report)",
    )
    assert all(legend in text for legend in said)
    assert "US Government: more than 24 missiles" in text
    assert "Iran Foreign Ministry: no number stated (“a limited number”)" in text


def test_each_chart_lists_every_change_of_its_figures_in_a_table_not_only_on_hover(
    client: Client,
) -> None:
    response = client.get("/", params={"as_of": "2024-03-01"})
    tables = re.findall(r'<details class="steps"[^>]*>.*?</details>', response.text, re.S)
    rows = [Page(row).text.strip() for t in tables for row in re.findall(r"<tr>.*?</tr>", t)]
    # in the words of the figure that set each step: "more than", never "at least" or exact
    assert "US Government 2023-10-13 more than 1,000 containers" in rows
    assert "US Government 2024-02-23 more than 10,000 containers" in rows
    assert "South Korea NIS 2023-11-01 more than 1,000,000 rounds" in rows
    assert "Iran Foreign Ministry 2022-11-05 a report without a number" in rows
    assert len(tables) == len(re.findall(r'<figure class="panel"', response.text))


def test_the_overview_has_one_h1_and_counts_in_the_singular_when_there_is_one(
    client: Client,
) -> None:
    html = client.get("/", params={"as_of": "2022-07-11"}).text
    text = Page(html).text
    assert len(re.findall(r"<h1[ >]", html)) == 1
    assert "1 development reported, 1 open allegation," in text
    summaries = re.findall(r"<summary[^>]*>(.*?)</summary>", client.get("/").text)
    assert len(summaries) == len(set(summaries)) > 1  # each chart's table is named apart


def test_an_earlier_as_of_shows_the_figures_said_by_then(client: Client) -> None:
    text = page(client, "/", as_of="2023-10-20").text
    assert "US Government: more than 1,000 containers (last reported 2023-10-13, 1 report)" in text
    assert "10,000 containers" not in text and "rounds" not in text.split("Open allegations")[0]


def test_the_allegations_board_lists_the_claims_open_on_the_date(client: Client) -> None:
    text = page(client, "/", as_of="2024-03-01").text
    board = text.split("Open allegations on 1 March 2024")[1].split("Timeline of developments")[0]
    assert "18 open: alleged 15, corroborated 3, disputed 0" in board
    assert "Iran preparing to provide Russia with up to several hundred UAVs" in board
    assert "599 days (1 y 7 m)" in board and "supports 2 denies 1" in board
    assert "Putin\N{EN DASH}Kim summit" not in board  # confirmed: not open


def test_the_timeline_shows_status_date_precision_and_originators(client: Client) -> None:
    text = page(client, "/", as_of="2024-03-01").text
    timeline = text.split("Timeline of developments")[1]
    assert "2022-09~ (month precision, approximate)" in timeline
    assert "2022-07/.. (month precision, interval, end open)" in timeline
    assert "US Government, DPRK Ministry of Defence (denies)" in timeline
    assert "Russia vetoes" not in timeline  # said on 2024-03-28, after the date


def test_a_development_page_shows_sources_grades_quotes_and_each_correction(
    client: Client,
) -> None:
    response = client.get(f"/developments/{CONTAINERS}", params={"as_of": "2024-03-01"})
    text = Page(response.text).text
    assert response.status_code == 200
    assert "Report 2: South Korea NIS" in text
    assert "First reported 2023-10-13, last on 2023-11-01" in text
    assert "B2: usually reliable source, probably true" in text
    response = client.get(f"/developments/{CONTAINERS_SINCE}", params={"as_of": "2024-03-01"})
    assert "Since September 2023 North Korea has delivered more than 10,000 containers" in (
        Page(response.text).text
    )
    hidden = '<span class="visually-hidden">{}: </span>'  # said to screen readers
    removed, added = hidden.format("removed"), hidden.format("added")
    assert f"<del>{removed}disclosure</del>" in response.text
    assert f"<ins>{added}fact_sheet</ins>" in response.text


def test_a_correction_of_a_development_shows_the_words_it_removed_and_added(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path / 'corrected.db'}") as client:
        development = report_development(client, occurred="2023-09-07/2023-10-01")
        correction = development_corrected(development, changes={"occurred": "2023-09/2023-10"})
        assert post_event(client, correction).status_code == 201
        response = client.get(f"/developments/{development}")
    hidden = '<span class="visually-hidden">{}: </span>'
    removed, added = hidden.format("removed"), hidden.format("added")
    assert f"<del>{removed}2023-09-07/2023-10-01</del>" in response.text
    assert f"<ins>{added}2023-09/2023-10</ins>" in response.text


def test_an_originator_that_supports_and_contradicts_is_shown_with_both_stances(
    tmp_path: Path,
) -> None:
    # John Kirby reports the development (supports), then contradicts it; the State Department
    # only supports it
    with serve(f"sqlite:///{tmp_path / 'voices.db'}") as client:
        development = report_development(client)
        contradicts = report(stance="contradicts", asserted_on="2023-11-01", figure=None)
        assert post_event(client, report_added(development, report=contradicts)).status_code == 201
        assert post_event(client, report_added(development)).status_code == 201
        text = page(client, f"/developments/{development}", as_of="2024-03-01").text

    assert "Reported by John Kirby (supports, contradicts), US State Department " in text


def test_known_at_before_anything_was_recorded_shows_an_empty_service(client: Client) -> None:
    text = page(client, "/", as_of="2024-03-01", known_at="2000-01-01").text
    # the empty views say it is what was recorded here by then, not the reporting, that is empty
    recorded = "as recorded here by 2000-01-01"
    assert f"Nothing had been reported by 1 March 2024, {recorded}." in text
    assert f"No delivered quantity had been reported by 1 March 2024, {recorded}." in text
    assert f"No allegation was open on this date, {recorded}." in text
    refused = page(
        client, f"/developments/{CONTAINERS}", 404, as_of="2024-03-01", known_at="2000-01-01"
    )
    # the error page links to the same page as recorded now, without the script
    assert f"/developments/{CONTAINERS}?as_of=2024-03-01" in refused.urls
    assert "it was recorded later" in refused.text
    unknown = page(client, f"/developments/{uuid4()}", 404)
    assert not any(url.startswith("/developments/") for url in unknown.urls)


def test_the_link_of_a_page_recorded_later_spells_the_as_of_as_the_page_reads_it(
    client: Client,
) -> None:
    # given an as-of typed with spaces around it, which the page reads as the date
    refused = page(
        client, f"/developments/{CONTAINERS}", 404, as_of=" 2024-03-01 ", known_at="2000-01-01"
    )
    # then its link to the page known now carries the date, not the spaces
    assert f"/developments/{CONTAINERS}?as_of=2024-03-01" in refused.urls


def test_a_datetime_local_known_at_is_read_as_utc_and_kept_in_links(client: Client) -> None:
    recorded_at = client.get("/api/events", params={"limit": 1}).json()["items"][0]["recorded_at"]
    local = recorded_at[:19]  # the seed's second, as <input type=datetime-local> sends it
    wait_past(local)
    urls = page(client, "/", as_of="2024-03-01", known_at=local).urls
    kept = quote(f"{local}.999999Z", safe="")  # to the end of the second, as a date to its end
    assert f"/developments/{CONTAINERS}?as_of=2024-03-01&known_at={kept}" in urls


def test_a_known_at_typed_to_the_second_takes_in_what_was_recorded_during_it(
    client: Client,
) -> None:
    # Given the seed, recorded at some microsecond of a second
    recorded_at = client.get("/api/events", params={"limit": 1}).json()["items"][0]["recorded_at"]
    second = recorded_at[:19]  # as the field shows it, and as a reader types it
    wait_past(second)
    # When the overview is asked at that second, and at the one before
    during = page(client, "/", as_of="2024-03-01", known_at=second).text
    before = page(client, "/", as_of="2024-03-01", known_at=minus_a_second(second)).text
    # Then the seed is in it at its own second, and not a second earlier
    assert "US Government: more than 10,000 containers" in during
    assert "Nothing had been reported by 1 March 2024" in before


def test_a_known_at_without_seconds_is_second_00_as_the_field_sends_it(client: Client) -> None:
    # Given the seed, and the minute before the one it was recorded in (past: no waiting for the
    # seed's own minute to end): `12:00` is what the field sends when it shows 12:00:00
    recorded_at = client.get("/api/events", params={"limit": 1}).json()["items"][0]["recorded_at"]
    minute = (datetime.fromisoformat(recorded_at[:16]) - timedelta(minutes=1)).isoformat()[:16]
    # When the overview is asked at that minute, as the field sends second 00
    text = page(client, "/", as_of="2024-03-01", known_at=minute).text
    # Then it answers at the end of second 00, not of the minute, and not now: before the seed
    assert f"as recorded by {minute}:00.999999Z" in text
    containers = "US Government: more than 10,000 containers"
    assert containers not in text
    assert containers in page(client, "/", as_of="2024-03-01").text


def test_more_open_allegations_than_the_page_shows_are_said_to_be_more(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given more allegations open as of mid-2024 than the page shows (here 3)
    monkeypatch.setattr(overview, "ALLEGATIONS", 3)
    board = client.get("/api/views/allegations", params={"as_of": "2024-07-02"}).json()
    assert len(board["items"]) > 3

    # When the overview is read
    overview_page = page(client, "/", as_of="2024-07-02")
    text = overview_page.text

    # Then it says more than 3 are open, counts the statuses of those it shows as theirs, and
    # points to where every one is, at the page's known-at (pinned, as the download is)
    api = [url for url in overview_page.urls if url.startswith("/api/views/allegations?")]
    assert api and all("known_at=" in url for url in api)
    assert "3+ open allegations" in text
    assert "More than 3 open; of the first 3:" in text
    assert "The first 3 open allegations, oldest first, are shown" in text


def test_a_timeline_entry_counts_its_active_reports_as_of_the_date_beside_all_recorded(
    tmp_path: Path,
) -> None:
    # Given a development with a second report said in June 2024
    with serve(f"sqlite:///{tmp_path}/reports.db") as editor:
        development = report_development(editor)
        later = report_added(development, report=report(asserted_on="2024-06-01"))
        assert post_event(editor, later).status_code == 201
        # When the overview is read as of March 2024, before the second was said
        text = " ".join(page(editor, "/", as_of="2024-03-01").text.split())
    # Then the entry says one report was active then, of two recorded (not "1 of 2 recorded",
    # which read as one of two retracted)
    assert "Reports 1 active as of 2024-03-01, 2 recorded" in text


def wait_past(moment: str) -> None:
    """Sleep until the whole second of a `datetime-local` value is past: else it is to come."""
    end = datetime.fromisoformat(moment).replace(tzinfo=UTC) + timedelta(seconds=1)
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds() + 0.01))


def minus_a_second(moment: str) -> str:
    """A `datetime-local` value one second earlier."""
    earlier = datetime.fromisoformat(moment) - timedelta(seconds=1)
    return earlier.strftime("%Y-%m-%dT%H:%M:%S")


def test_a_known_at_to_come_shows_the_page_as_recorded_now(client: Client) -> None:
    # what 2100 will know is not recorded yet: the page is the live one, and says no known-at
    text = page(client, "/", as_of="2024-03-01", known_at="2100-01-01T00:00").text
    assert "as recorded by" not in text
    assert "US Government: more than 10,000 containers" in text
    # and says so, where it answered silently before
    assert "The known-at asked, 2100-01-01T00:00:00.999999Z, is still to come" in text
    assert "is still to come" not in page(client, "/", as_of="2024-03-01").text


def test_invalid_dates_are_explained_on_an_html_page(client: Client) -> None:
    assert "Invalid as_of" in page(client, "/", 400, as_of="2024-13-01").text
    assert "Invalid known_at" in page(client, "/", 400, known_at="yesterday").text
    assert "Invalid known_at" in page(client, "/", 400, known_at="9999-12-31T23:59:59-01:00").text


@pytest.mark.parametrize(
    "params",
    [
        {"known_at": "9999-12-31"},
        {"known_at": "9999-12-31T23:59:59.999999Z"},
        {"as_of": "9999-12-15"},
        {"as_of": "9999-12-31"},
    ],
)
def test_the_pages_answer_at_the_end_of_the_calendar(
    client: Client, params: dict[str, str]
) -> None:
    for path in ("/", "/parts/overview", f"/developments/{CONTAINERS}"):
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")


def test_the_pages_refer_to_nothing_outside_the_service(client: Client) -> None:
    served: set[str] = set()
    for path in ("/", f"/developments/{CONTAINERS}", "/parts/overview"):
        urls = page(client, path).urls
        assert urls, f"{path} refers to nothing: the page was not read"
        for url in urls:
            assert not re.match(r"(?i)^(https?:)?//", url), f"{path} refers to {url}"
            if url.startswith("/static/"):
                assert client.get(url).status_code == 200
                served.add(url.partition("?")[0])
    # the pages' own script and style are among what was fetched
    assert {"/static/timeline.js", "/static/timeline.css"} <= served


@pytest.mark.parametrize("params", [{}, {"known_at": "2024-01-01"}, {"as_of": "2023-01-01"}])
def test_the_page_tells_its_script_the_head_of_the_log_to_follow_from(
    client: Client, params: dict[str, str]
) -> None:
    # (the live page follows the event stream from there: from 0 it would replay the whole log)
    head = client.get("/api/health").json()["position"]

    response = client.get("/", params=params)

    assert head > 0
    assert re.findall(r'data-head="(\d+)"', response.text) == [str(head)]


def test_a_part_is_the_views_alone_for_the_script_to_swap_in(client: Client) -> None:
    response = client.get("/parts/overview", params={"as_of": "2024-03-01"})
    assert "<html" not in response.text and 'id="deliveries"' in response.text


def test_the_page_is_package_data_of_the_service() -> None:
    web = resources.files("service").joinpath("web")
    for name in ("templates/index.html", "static/timeline.js", "static/timeline.css"):
        assert web.joinpath(name).is_file(), name


def test_the_revision_history_says_each_added_figure_in_words(tmp_path: Path) -> None:
    # Given a development whose reports give figures without the source's own wording
    with serve(f"sqlite:///{tmp_path}/figures.db") as editor:
        audit = source(originator="Audit Source", channel="imagery")
        development = report_development(editor, report=report(
            source=audit, asserted_on="2024-06-01",
            figure={"unit": "round", "qualifier": "exact", "value": 500}))  # fmt: skip
        for figure in ({"unit": "uav", "qualifier": "range", "low": 200, "high": 300},
                       {"unit": "container", "qualifier": "more_than", "value": 1000,
                        "text": "over a thousand containers"}):  # fmt: skip
            added = report_added(development, report=report(source=audit, figure=figure))
            assert post_event(editor, added).status_code == 201
        # When the history is read
        text = page(editor, f"/developments/{development}", as_of="2024-07-01").text
    # Then each figure is said in words, with the source's wording when it gave one
    assert "Report by Audit Source, said on 2024-06-01: 500 rounds." in text
    assert "said on 2023-10-13: 200\N{EN DASH}300 UAVs." in text
    assert "more than 1,000 containers (“over a thousand containers”)." in text


def test_a_retracted_and_corrected_report_reads_as_two_sentences(tmp_path: Path) -> None:
    # Given a report corrected, then retracted for a reason written without a full stop
    with serve(f"sqlite:///{tmp_path}/retracted.db") as editor:
        development = report_development(editor)
        for body in (report_corrected(development), report_retracted(development)):
            assert post_event(editor, body).status_code == 201
        # When its page is read after the retraction
        text = page(editor, f"/developments/{development}", as_of="2024-07-01").text
    # Then the reason ends its sentence before the corrections are counted
    assert "Retracted from 2024-03-01: The originator withdrew the figure. Corrected 1 time." in (
        " ".join(text.split())
    )


def test_a_live_overview_links_to_itself_as_recorded_now_and_that_link_keeps_showing_it(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/pin.db") as editor:
        # Given one development recorded
        receipt = post_event(editor, _delivered("Pinned one")).json()
        live = editor.get("/", params={"as_of": "2024-07-01"}).text
        [pin] = re.findall(r'<a class="pin" href="([^"]+)"', live)
        # When another is recorded after the link was taken
        assert post_event(editor, _delivered("Recorded later")).status_code == 201
        pinned = Page(editor.get(html.unescape(pin)).text).text
        now = Page(editor.get("/", params={"as_of": "2024-07-01"}).text).text
    # Then the link pins the time of the last event then, and shows what the page showed
    assert f"known_at={quote(receipt['recorded_at'], safe='')}" in html.unescape(pin)
    assert "Pinned one" in pinned and "Recorded later" not in pinned
    assert "Recorded later" in now


def test_each_revision_links_to_the_page_as_known_just_before_it(tmp_path: Path) -> None:
    with serve(f"sqlite:///{tmp_path}/before.db") as editor:
        # Given a development, then a correction of its report, recorded apart
        development = report_development(editor, report=report(asserted_on="2024-06-01"))
        corrected = {
            "type": "report_corrected",
            "development_id": development,
            "report": 1,
            "changes": {"asserted_on": "2024-06-02"},
            "reason": "The briefing was on the 2nd",
        }
        assert post_event(editor, corrected).status_code == 201
        page_now = editor.get(f"/developments/{development}", params={"as_of": "2024-07-01"}).text
        [link] = [
            html.unescape(u) for u in re.findall(r'<a class="before" href="([^"]+)"', page_now)
        ]
        # When the reader follows the link of v2 (none for v1: nothing was recorded before it)
        before = editor.get(link).text
    # Then the page is the one recorded before the correction
    assert 'id="v2"' in page_now and 'id="v2"' not in before and 'id="v1"' in before
    assert "2024-06-01" in Page(before).text and "Said on 2024-06-02" not in Page(before).text


def _delivered(title: str) -> dict[str, Any]:
    return {
        "type": "development_reported",
        "kind": "transfer",
        "title": title,
        "actors": {"supplier": "PRK", "recipient": "RUS"},
        "report": report(asserted_on="2024-06-01"),
    }


def _api_csv_pages(client: Client, path: str, **params: str) -> str:
    """Every page of an API CSV, the header once, following `Link: rel="next"`."""
    response = client.get(path, params={**params, "format": "csv", "limit": "500"})
    table = response.text
    while (link := response.headers.get("link")) is not None:
        response = client.get(link[1 : link.index(">")])
        table += response.text.split("\r\n", 1)[1]
    return table


def test_each_view_downloads_whole_as_one_csv_of_what_the_page_shows(tmp_path: Path) -> None:
    with serve(f"sqlite:///{tmp_path}/many.db") as editor:
        # Given more developments than one API page holds, and a live overview's links
        for start in range(0, 501, 250):
            events = [{**_delivered(f"Delivery {n}"), "stage": "delivered"}
                      for n in range(start, min(start + 250, 501))]  # fmt: skip
            assert post_batch(editor, *events).status_code == 201
        overview = Page(editor.get("/", params={"as_of": "2024-07-01"}).text)
        links = {url.split("?")[0]: html.unescape(url) for url in overview.urls
                 if url.startswith("/download/")}  # fmt: skip
        # and one more development recorded after the page was made
        assert post_event(editor, _delivered("Recorded later")).status_code == 201
        downloads = {path: editor.get(url) for path, url in links.items()}
        pinned = parse_qs(urlsplit(links["/download/timeline.csv"]).query)
        params = {"as_of": "2024-07-01", "known_at": pinned["known_at"][0]}
        api = {
            "/download/timeline.csv": _api_csv_pages(editor, "/api/developments", **params),
            "/download/allegations.csv": _api_csv_pages(editor, "/api/views/allegations", **params),
            "/download/deliveries.csv": editor.get(
                "/api/views/deliveries", params={**params, "format": "csv"}
            ).text,
        }
    # Then each is a file of every row the API's pages hold at the page's times, not the later one
    assert sorted(downloads) == sorted(api)
    known_at = pinned["known_at"][0].replace(":", "")
    for path, response in downloads.items():
        assert response.status_code == 200, response.text
        name = path.removeprefix("/download/").removesuffix(".csv")
        assert response.headers["content-disposition"] == (
            f'attachment; filename="{name}-as-of-2024-07-01-known-at-{known_at}.csv"'
        )  # the file holds neither date: its name says both
        # with a byte-order mark, so that Excel reads it as UTF-8
        assert response.content == "\ufeff".encode() + api[path].encode()
    assert len(downloads["/download/timeline.csv"].text.splitlines()) == 1 + 501
    assert "Recorded later" not in downloads["/download/timeline.csv"].text


@pytest.mark.parametrize("path", ["/nonexistent", "/developments", "/developments/x/y"])
def test_a_mistyped_page_address_is_a_page_for_a_browser_and_a_problem_for_a_script(
    client: Client, path: str
) -> None:
    browser = client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    script = client.get(path)
    api = client.get(f"/api/nothing{path}", headers={"Accept": "text/html"})

    assert browser.status_code == 404 and browser.headers["content-type"].startswith("text/html")
    assert f"nothing at {path}" in browser.text and 'href="/"' in browser.text
    assert script.status_code == 404
    assert script.headers["content-type"] == "application/problem+json"
    assert api.headers["content-type"] == "application/problem+json"  # the API answers problems


@pytest.mark.parametrize(
    ("accept", "a_page"),
    [
        ("text/html", True),
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=0, */*", False),  # HTML not acceptable
        ("text/html;q=0.2, application/problem+json", False),
        ("*/*", False),
        ("text/html;q=2", False),  # a bad q: the problem, not a 400 about the header
    ],
)
def test_an_error_is_a_page_only_when_the_accept_header_weighs_html_first(
    client: Client, accept: str, a_page: bool
) -> None:
    response = client.get("/nonexistent", headers={"Accept": accept})
    assert response.status_code == 404
    kind = response.headers["content-type"]
    assert kind.startswith("text/html") if a_page else kind == "application/problem+json"


@pytest.mark.parametrize("path", ["/", "/download/timeline.csv", "/parts/overview"])
def test_a_page_parameter_whose_escapes_are_not_utf8_is_refused_naming_it(
    client: Client, path: str
) -> None:
    # a Latin-1 é: it became U+FFFD, an actor no development names, and an empty page or file
    browser = client.get(f"{path}?actor=Cr%E9dit", headers={"Accept": "text/html"})
    script = client.get(f"{path}?as_of=2024-03-01&actor=Cr%E9dit")

    assert browser.status_code == 400 and browser.headers["content-type"].startswith("text/html")
    assert "actor" in browser.text and "not UTF-8" in browser.text
    assert script.status_code == 400
    assert [e["path"] for e in script.json()["errors"]] == ["actor"]
    assert client.get(f"{path}?actor=%D0%A0US").status_code == 200  # UTF-8 escapes are read


def test_the_overview_filtered_by_an_actor_shows_only_what_it_is_in(client: Client) -> None:
    # Given the seed, when the overview is asked for Iran, spelt in lower case
    at = {"as_of": "2024-03-01", "actor": "irn"}
    filtered = page(client, "/", as_of="2024-03-01", actor="irn")
    whole = page(client, "/", as_of="2024-03-01")
    api = {
        "timeline": client.get("/api/developments", params=at).json()["items"],
        "allegations": client.get("/api/views/allegations", params=at).json()["items"],
    }
    shown = {url.split("?")[0].removeprefix("/developments/") for url in filtered.urls
             if url.startswith("/developments/")}  # fmt: skip
    # Then it shows the developments Iran is an actor in, as the API's actor filter finds them
    assert shown == {item["development_id"] for item in api["timeline"]}
    assert api["allegations"] and {a["development_id"] for a in api["allegations"]} <= shown
    assert f"with irn as an actor: {len(shown)} developments reported" in filtered.text
    # and only the series Iran supplies or receives, where the whole overview has others
    assert "UAVs" in filtered.text and "Iran Foreign Ministry" in filtered.text
    assert "South Korea NIS" in whole.text and "South Korea NIS" not in filtered.text
    # and its downloads and the link that pins it keep the filter
    downloads = [url for url in filtered.urls if url.startswith("/download/")]
    assert len(downloads) == 3 and all("actor=irn" in url for url in downloads)
    # and an actor spelt with a space is read as the API reads it: ` irn` is `irn`
    spaced = page(client, "/", as_of="2024-03-01", actor=" irn")
    assert f"with irn as an actor: {len(shown)} developments reported" in spaced.text
    spaced_api = client.get("/api/developments", params={**at, "actor": " irn"}).json()
    assert {item["development_id"] for item in spaced_api["items"]} == shown
    assert any(url.startswith("/?") and "actor=irn" in url for url in filtered.urls)


def test_an_empty_overview_filtered_by_an_actor_says_so_and_a_name_for_a_code_is_told(
    client: Client,
) -> None:
    # Given the seed, when the overview is asked for Ukraine (named by no delivery) and for
    # North Korea by its name rather than its code
    ukraine = page(client, "/", as_of="2024-03-01", actor="UKR")
    named = page(client, "/", as_of="2024-03-01", actor="North Korea")
    # Then the empty deliveries say the filter, not that nothing was delivered at all
    assert "No delivered quantity supplied or received by UKR had been reported" in ukraine.text
    assert "names UKR" not in ukraine.text  # it is an actor of developments shown
    # and the name that matches nothing says what actors look like, in every empty card
    assert "No development visible on this date names North Korea as an actor" in named.text
    assert "Actors are written as codes, such as" in named.text
    assert "No allegation with North Korea as an actor was open on this date" in named.text
    assert "Nothing with North Korea as an actor had been reported by" in named.text


def test_the_overview_filtered_by_an_actor_still_offers_every_actor_to_switch_to(
    client: Client,
) -> None:
    def offered(**params: str) -> list[str]:
        answer = client.get("/", params={"as_of": "2024-03-01", **params})
        assert answer.status_code == 200
        options = re.search(r'<datalist id="actors">(.*?)</datalist>', answer.text, re.S)
        assert options is not None
        return re.findall(r'<option value="([^"]*)">', options.group(1))

    # Given the overview offers Iran and North Korea among its actors
    whole = offered()
    assert {"IRN", "PRK"} <= set(whole)
    # When it is filtered by North Korea, Iran is still offered (it offered PRK's partners alone)
    assert offered(actor="PRK") == whole


def test_a_download_filtered_by_an_actor_holds_its_rows_and_says_so_in_its_name(
    client: Client,
) -> None:
    at = {"as_of": "2024-03-01", "known_at": "2100-01-01", "actor": "PRK"}
    timeline = client.get("/download/timeline.csv", params=at)
    deliveries = client.get("/download/deliveries.csv", params=at)
    api = client.get("/api/developments", params={**at, "format": "csv", "limit": "500"})

    assert timeline.content == "\ufeff".encode() + api.content
    assert (
        'filename="timeline-PRK-as-of-2024-03-01-known-at-'
        in (timeline.headers["content-disposition"])
    )
    rows = list(csv.DictReader(io.StringIO(deliveries.content.decode("utf-8-sig"))))
    assert rows and all("PRK" in (row["supplier"], row["recipient"]) for row in rows)


@pytest.mark.parametrize(
    "path",
    ["/", "/parts/overview", f"/developments/{CONTAINERS}", f"/parts/developments/{CONTAINERS}"],
)
@pytest.mark.parametrize("actor", ["x" * 201, "PRK\u0007"])
def test_an_actor_the_api_would_refuse_is_explained_on_a_page(
    client: Client, path: str, actor: str
) -> None:
    # a development page takes the overview's filter for its way back: refused as the overview
    # refuses it, not carried along unread into its links
    assert "Invalid actor" in page(client, path, 400, actor=actor).text


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_a_development_opened_from_an_overview_filtered_by_an_actor_leads_back_to_it(
    client: Client,
) -> None:
    # Given the overview filtered by Iran, pinned at the last event recorded as its link pins it
    live = page(client, "/", as_of="2024-03-01", actor="IRN")
    [pin] = [url for url in live.urls if url.startswith("/?")]
    known_at = _query(pin)["known_at"][0]
    kept = {"as_of": ["2024-03-01"], "known_at": [known_at], "actor": ["IRN"]}
    filtered = page(client, "/", as_of="2024-03-01", known_at=known_at, actor="IRN")
    # Then each of its links to a development keeps the filter with the times
    links = [url for url in filtered.urls if url.startswith("/developments/")]
    assert links and all(_query(url) == kept for url in links)

    # When the reader follows one, and asks its part as the script does
    answers = client.get(links[0]), client.get("/parts" + links[0])
    # Then the crumb of each leads back to the filtered overview, not the whole one
    for answer in answers:
        assert answer.status_code == 200, answer.text
        crumbs = [url for url in Page(answer.text).urls if url.startswith("/?")]
        assert [_query(url) for url in crumbs] == [kept]


def test_a_development_page_keeps_the_actor_for_its_way_back_and_shows_all_of_itself(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/way-back.db") as editor:
        # Given a development of North Korea and Russia whose report was corrected later
        development = report_development(editor, report=report(asserted_on="2024-06-01"))
        corrected = report_corrected(development, 1, changes={"asserted_on": "2024-06-02"})
        assert post_event(editor, corrected).status_code == 201
        # When its page and its part are asked with the filter of an overview of Iran (whose
        # links may lead there once the reader changes the date), and without it
        path, at = f"/developments/{development}", {"as_of": "2024-07-01"}
        with_actor = editor.get(path, params={**at, "actor": "IRN"})
        without = editor.get(path, params=at)
        part = editor.get(f"/parts{path}", params={**at, "actor": "IRN"})
        part_without = editor.get(f"/parts{path}", params=at)
        refused = page(editor, path, 404, **at, known_at="2000-01-01", actor="IRN")
    assert with_actor.status_code == part.status_code == 200
    # Then the page shows all of the development, as without the actor: it filters nothing
    assert Page(with_actor.text).text == Page(without.text).text
    # and only its links differ, each keeping the actor: the crumb and the page before v2
    assert part.text.replace("&amp;actor=IRN", "") == part_without.text
    links = [url for url in Page(part.text).urls if url.startswith(("/?", "/developments/"))]
    assert len(links) == 2 and all(_query(url)["actor"] == ["IRN"] for url in links)
    # and its form, sent without the script, keeps it too, as does the page "recorded now"
    # offered when the known-at asked is before the development
    controls = re.search(r'<form [^>]*id="controls".*?</form>', with_actor.text, re.S)
    assert controls is not None
    assert '<input type="hidden" id="actor" name="actor" value="IRN">' in controls.group(0)
    assert f"{path}?as_of=2024-07-01&actor=IRN" in refused.urls


@pytest.mark.parametrize("actor", [None, "", " "])
def test_without_an_actor_no_link_carries_one(client: Client, actor: str | None) -> None:
    # Given the overview and a development page asked without an actor, or an empty one
    at = {"as_of": "2024-03-01"} | ({} if actor is None else {"actor": actor})
    overview_page = client.get("/", params=at).text
    development = client.get(f"/developments/{CONTAINERS_SINCE}", params=at).text
    part = client.get(f"/parts/developments/{CONTAINERS_SINCE}", params=at).text
    # Then no link names an actor, and the links to and from a development keep the date alone
    urls = [url for shown in (overview_page, development, part) for url in Page(shown).urls]
    assert not [url for url in urls if "actor=" in url]
    assert 'name="actor"' not in development
    links = [url for url in Page(overview_page).urls if url.startswith("/developments/")]
    assert links and all(_query(url) == {"as_of": ["2024-03-01"]} for url in links)
    assert "/?as_of=2024-03-01" in Page(development).urls


def test_an_unknown_download_is_a_404_page_naming_the_tables(client: Client) -> None:
    assert "timeline, allegations, deliveries" in page(client, "/download/series.csv", 404).text
    assert "timeline, allegations, deliveries" in page(client, "/download/timeline", 404).text


def test_a_download_refuses_a_filter_it_does_not_take_rather_than_ignore_it(
    client: Client,
) -> None:
    # When the API's supplier filter is copied onto the download's address, or misspelt
    copied = page(client, "/download/deliveries.csv", 400, as_of="2024-03-01", supplier="IRN")
    misspelt = page(client, "/download/timeline.csv", 400, actr="PRK")
    # Then the page names the parameter, what the download takes, and where the filter is
    assert "has no parameter 'supplier'; it takes actor, as_of, known_at" in copied.text
    assert "the API's CSV of this view, /api/views/deliveries?format=csv, takes" in copied.text
    assert "/api/developments?format=csv" in misspelt.text  # the timeline's, not another's
    # and a table that is not one is a 404 whatever its parameters
    assert "Unknown table" in page(client, "/download/x.csv", 404, foo="1").text
    assert "has no parameter 'actr'" in misspelt.text and "did you mean 'actor'?" in misspelt.text
    # and one given twice is refused too: which of the two was meant cannot be told
    twice = client.get("/download/timeline.csv?as_of=2024-01-01&as_of=2024-03-01")
    assert twice.status_code == 400 and "takes one 'as_of'" in Page(twice.text).text


@pytest.mark.parametrize(
    "path",
    ["/", "/parts/overview", f"/developments/{CONTAINERS}", f"/parts/developments/{CONTAINERS}"],
)
def test_a_page_refuses_a_parameter_given_twice_rather_than_show_one_of_them(
    client: Client, path: str
) -> None:
    html = {"Accept": "text/html"}
    for name, values in [("as_of", ("2024-01-01", "2024-03-01")), ("actor", ("IRN", "PRK"))]:
        twice = client.get(f"{path}?{name}={values[0]}&{name}={values[1]}", headers=html)

        assert twice.status_code == 400 and twice.headers["content-type"].startswith("text/html")
        assert f"GET {path} takes one '{name}'; it was given more" in Page(twice.text).text
    # a parameter the page does not read is no reason to refuse it (a link's tracking tag)
    assert client.get(f"{path}?as_of=2024-03-01&ref=newsletter", headers=html).status_code == 200


def test_a_meeting_names_its_parties_without_an_arrow_and_a_transfer_keeps_its_direction(
    client: Client,
) -> None:
    text = page(client, "/", as_of="2024-03-01").text
    timeline = text.split("Timeline of developments")[1]
    # the summit is coded supplier PRK, recipient RUS: an arrow read as a movement
    assert "meeting · North Korea and Russia" in timeline
    assert "meeting · North Korea → Russia" not in timeline
    assert "transfer · delivered · North Korea → Russia" in timeline
