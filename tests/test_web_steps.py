"""The chart's step tables and legend count what the deliveries view counts, in its words."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from projections import dialect
from service.store.records import to_micros
from service.web import steps
from tests.api import Client, post_batch, post_event, report_development, serve
from tests.bodies import (
    development_reported,
    report,
    report_added,
    report_retracted,
    source,
    status_changed,
)
from tests.test_web import Page

MORE_THAN_10K = {"unit": "container", "qualifier": "more_than", "value": 10_000,
                 "basis": "cumulative"}  # fmt: skip


def step_rows(client: Client, as_of: str) -> list[str]:
    """Every row of the overview's step tables, as its text."""
    response = client.get("/", params={"as_of": as_of})
    assert response.status_code == 200, response.text
    tables = re.findall(r'<details class="steps"[^>]*>.*?</details>', response.text, re.S)
    bodies = [body for t in tables for body in re.findall(r"<tbody>.*?</tbody>", t, re.S)]
    return [Page(row).text.strip() for b in bodies for row in re.findall(r"<tr>.*?</tr>", b)]


def legend(client: Client, as_of: str) -> list[str]:
    """What the legend of each chart says of each series."""
    response = client.get("/", params={"as_of": as_of})
    return [Page(said).text.strip() for said in
            re.findall(r'<span class="said">(.*?)</span>', response.text, re.S)]  # fmt: skip


def series(client: Client, as_of: str) -> list[tuple[Any, ...]]:
    """The deliveries view's series: route, originator, bounds, reports and last date."""
    view = client.get("/api/views/deliveries", params={"as_of": as_of}).json()
    return [(s["supplier"], s["recipient"], s["originator"], s["low"], s["high"], s["reports"],
             s["last_asserted_on"]) for s in view["series"]]  # fmt: skip


def test_actors_that_differ_in_case_alone_are_one_series_in_the_steps_as_in_the_view(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/case.db") as client:
        # Given two deliveries on one route told by one originator, the second spelt `prk`
        report_development(client)  # more than 1,000 containers, on 2023-10-13
        later = report(asserted_on="2024-02-23", figure=MORE_THAN_10K)
        report_development(client, actors={"supplier": "prk", "recipient": "RUS"}, report=later)
        # When the overview and the view are read as of 1 March 2024
        rows, said = step_rows(client, "2024-03-01"), legend(client, "2024-03-01")
        view = series(client, "2024-03-01")
    # Then the view has one series of both reports, shown as first spelt
    assert view == [("PRK", "RUS", "John Kirby", 10_000.0, None, 2, "2024-02-23")]
    # and so does the chart: each step in the words of the figure that set it
    assert rows == [
        "John Kirby 2023-10-13 more than 1,000 containers",
        "John Kirby 2024-02-23 more than 10,000 containers",
    ]
    assert said == ["John Kirby: more than 10,000 containers (last reported 2024-02-23, 2 reports)"]


def test_a_refuted_development_no_longer_says_the_steps_after_it_was_refuted(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/refuted.db") as client:
        # Given about 1,000 containers, then more than 10,000 in a development refuted from
        # 1 March 2024
        about = {"unit": "container", "qualifier": "about", "value": 1000}
        report_development(client, report=report(figure=about))
        refuted = report_development(
            client, report=report(asserted_on="2024-02-23", figure=MORE_THAN_10K)
        )
        judged = status_changed(refuted, status="refuted", effective_on="2024-03-01",
                                reason="The imagery showed empty containers")  # fmt: skip
        assert post_event(client, judged).status_code == 201
        # When the overview and the view are read as of 1 April 2024
        rows, said = step_rows(client, "2024-04-01"), legend(client, "2024-04-01")
        view = series(client, "2024-04-01")
        before = step_rows(client, "2024-02-29")
    # Then from 1 March the series is the first report's alone, as the view says, in its words
    assert view == [("PRK", "RUS", "John Kirby", 1000.0, 1000.0, 1, "2023-10-13")]
    assert rows == [
        "John Kirby 2023-10-13 about 1,000 containers",
        "John Kirby 2024-02-23 more than 10,000 containers",
        "John Kirby 2024-03-01 about 1,000 containers; the report of 2024-02-23 no longer counts"
        " (retracted, or the development's status changed)",  # the step down says why
    ]
    assert said == ["John Kirby: about 1,000 containers (last reported 2023-10-13, 1 report)"]
    # and before it was refuted, its figure counted
    assert before[-1] == "John Kirby 2024-02-23 more than 10,000 containers"


def test_a_step_without_a_number_is_marked_so_though_a_later_figure_gave_one(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/unstated.db") as client:
        # Given a report of containers delivered without a number, then one with a number
        unstated = {"unit": "container", "qualifier": "unspecified", "text": "many"}
        development = report_development(client, report=report(figure=unstated))
        added = report_added(development, report=report(asserted_on="2024-02-23",
                                                        figure=MORE_THAN_10K))  # fmt: skip
        assert post_event(client, added).status_code == 201
        # When the overview is read as of 1 March 2024
        rows = step_rows(client, "2024-03-01")
    # Then the first step is a report without a number, as the chart draws it (a marker)
    assert rows == [
        "John Kirby 2023-10-13 a report without a number",
        "John Kirby 2024-02-23 more than 10,000 containers",
    ]


def test_a_series_whose_only_report_was_retracted_before_the_date_still_has_its_steps(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/retracted.db") as client:
        # Given more than 1,000 containers reported on 2023-10-13, retracted from 2024-03-01
        development = report_development(client)
        assert post_event(client, report_retracted(development)).status_code == 201
        # When the overview is read as of 1 April 2024, when nothing of it is visible
        rows, said = step_rows(client, "2024-04-01"), legend(client, "2024-04-01")
        view = series(client, "2024-04-01")
    # Then the view counts nothing that day, and the chart still shows what it counted before,
    # its table the day it stopped counting and why
    assert view == []
    assert rows == [
        "John Kirby 2023-10-13 more than 1,000 containers",
        "John Kirby 2024-03-01 not counted from this date: the report of 2023-10-13 no longer "
        "counts (retracted, or the development's status changed)",
    ]
    assert said == [
        "John Kirby: not counted as of this date (its reports were retracted, or their "
        "developments' status was refuted, retracted or withdrawn)"
    ]


def test_a_step_down_after_a_retraction_names_the_report_that_no_longer_counts(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/retracted.db") as client:
        # Given about 1,000 containers, then more than 10,000 in all, retracted from 1 March
        about = {"unit": "container", "qualifier": "about", "value": 1000}
        development = report_development(client, report=report(figure=about))
        later = report_added(
            development, report=report(asserted_on="2024-02-23", figure=MORE_THAN_10K)
        )
        assert post_event(client, later).status_code == 201
        assert post_event(client, report_retracted(development, number=2)).status_code == 201
        # When the step table is read as of 1 April 2024
        rows = step_rows(client, "2024-04-01")
    # Then the step of 1 March says which report stopped counting, beside the first's words
    assert rows == [
        "John Kirby 2023-10-13 about 1,000 containers",
        "John Kirby 2024-02-23 more than 10,000 containers",
        "John Kirby 2024-03-01 about 1,000 containers; the report of 2024-02-23 no longer counts"
        " (retracted, or the development's status changed)",
    ]


def test_each_series_keeps_its_own_dates_however_many_dates_the_log_holds(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/busy.db") as client:
        # Given 80 shipments reported by one source on days three apart (80 change dates), and
        # launchers reported on a day between two of them
        shipments = [
            development_reported(report=report(
                asserted_on=(date(2023, 1, 2) + timedelta(days=3 * n)).isoformat(),
                figure={"unit": "shipment", "qualifier": "exact", "value": 1}))
            for n in range(80)
        ]  # fmt: skip
        assert post_batch(client, *shipments).status_code == 201
        launchers = {"unit": "launcher", "qualifier": "exact", "value": 2}
        report_development(client, report=report(asserted_on="2023-03-07", figure=launchers))
        # When the overview is read
        page = client.get("/", params={"as_of": "2024-01-01"}).text
        rows = step_rows(client, "2024-01-01")
    # Then the launchers' table says their own day, where a sample of every series' dates put
    # them on a day of the shipments
    assert "John Kirby 2023-03-07 2 launchers" in rows
    assert "Launchers: every change of the figures, as a table" in page
    # and the shipments' table, past MAX_STEPS changes, shows that many, each on its own day
    # with its own count, the first and the last among them, and says so
    counts = [row for row in rows if "shipment" in row]
    assert len(counts) == steps.MAX_STEPS == 60
    assert counts[0] == "John Kirby 2023-01-02 1 shipment"
    assert counts[-1] == "John Kirby 2023-08-27 80 shipments"  # 2 January + 79 x 3 days
    for row in counts:
        day, count = re.fullmatch(r"John Kirby (\S+) (\d+) shipments?", row).groups()  # type: ignore[union-attr]
        assert date.fromisoformat(day) == date(2023, 1, 2) + timedelta(days=3 * (int(count) - 1))
    assert "John Kirby: 60 of its 80 changes, evenly spread, each on its own day" in page


def test_the_steps_are_the_view_s_answer_on_every_day(tmp_path: Path) -> None:
    with serve(f"sqlite:///{tmp_path}/days.db") as client:
        # Given increments and running totals of two sources, one report retracted and one
        # development refuted, then confirmed again
        first = report_development(client, report=report(asserted_on="2023-03-01"))
        post_event(client, report_added(first, report=report(asserted_on="2023-03-10",
                   figure={**MORE_THAN_10K, "value": 5_000})))  # fmt: skip
        post_event(client, report_retracted(first, 2, effective_on="2023-04-01"))
        nis = source(originator="South Korea NIS", channel="briefing")
        second = report_development(client, report=report(asserted_on="2023-03-05", source=nis))
        post_event(client, status_changed(second, status="refuted", effective_on="2023-03-20"))
        post_event(client, status_changed(second, status="confirmed", effective_on="2023-04-10"))
        post_event(client, report_added(first, report=report(asserted_on="2023-04-15")))
        read_models = client.app.state.read_models
        as_of = date(2023, 5, 1)
        history = steps.delivery_history(read_models, as_of=as_of, known_at_us=2**62)
        # When each line's step in effect is compared with the view, day by day
        for offset in range(70):
            day = date(2023, 2, 25) + timedelta(days=offset)
            view = read_models.deliveries(as_of=day, known_at_us=2**62)
            answered = {steps.key_of(s): (s.low, s.high) for s in view.series}
            drawn = {}
            for line in history.lines:
                step = [step for step in line.steps if step.on <= day][-1:]
                if step and step[0].counted:
                    drawn[line.key] = (step[0].low, step[0].high)
            # Then they agree: every series, its bounds, on that day
            assert drawn == answered, day


def test_the_last_day_of_the_calendar_says_the_figures_as_the_day_before(tmp_path: Path) -> None:
    with serve(f"sqlite:///{tmp_path}/last.db") as client:
        # Given a running total of more than 10,000 containers
        report_development(client, report=report(asserted_on="2024-02-23", figure=MORE_THAN_10K))
        # When the legend is read on the last day of the calendar and the day before
        last, before = legend(client, "9999-12-31"), legend(client, "9999-12-30")
        rows = step_rows(client, "9999-12-31"), step_rows(client, "9999-12-30")
    # Then both say "more than", as the view answers the one as the other, and the series
    # goes on counted to the end (no step down on the last day, whose row ends there)
    assert last == before and "more than 10,000 containers" in last[0]
    assert rows[0] == rows[1] == ["John Kirby 2024-02-23 more than 10,000 containers"]


def test_a_series_no_longer_counted_is_named_as_its_first_report_spelt_its_actors(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/spelt.db") as client:
        # Given `pRK` first spelt by another source's delivery, then two deliveries on one
        # route and source, spelt `Prk ` and `PRK`, both of whose reports were withdrawn
        nis = source(originator="South Korea NIS", channel="briefing")
        report_development(client, actors={"supplier": "pRK", "recipient": "RUS"},
                           report=report(source=nis))  # fmt: skip
        first = report_development(client, actors={"supplier": "Prk ", "recipient": "RUS"})
        second = report_development(client, actors={"supplier": "PRK", "recipient": "RUS"},
                                    report=report(asserted_on="2023-11-01"))  # fmt: skip
        for development in (first, second):
            post_event(client, report_retracted(development, effective_on="2023-12-01"))
        read_models = client.app.state.read_models
        # When the lines are drawn as of 2024, from the kept pieces and from a fold of every
        # delivered transfer
        drawn = [
            steps.delivery_history(
                read_models, as_of=date(2024, 1, 1), known_at_us=2**62, kept=kept
            )
            for kept in (True, False)
        ]
    # Then the withdrawn series, no longer in the view, is named as its first development spelt
    # it (its spaces aside), not as the view names actors (`pRK`)
    for history in drawn:
        kirby = [line for line in history.lines if line.key.originator == "John Kirby"]
        assert [line.key.supplier for line in kirby] == ["Prk"]
        assert kirby[0].current is None and kirby[0].steps[-1].counted is False
    assert drawn[0] == drawn[1]


def test_the_lines_at_the_head_fold_no_delivered_transfer_but_those_their_words_need(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path}/head.db") as client:
        # Given three running totals told by one source, the second the same as the first, and
        # a delivery another told of twice
        for day, value in (("2023-10-13", 10_000), ("2023-10-20", 10_000), ("2023-11-01", 20_000)):
            said = report(asserted_on=day, figure={**MORE_THAN_10K, "value": value})
            report_development(client, report=said)
        nis = source(originator="South Korea NIS", channel="briefing")
        before = post_event(client, development_reported(report=report(source=nis))).json()
        later = report(source=nis, asserted_on="2023-12-01")
        post_event(client, report_added(before["development_id"], report=later))
        read_models = client.app.state.read_models
        folded_all = mock.patch.object(read_models, "delivered_states", side_effect=AssertionError)
        # When the lines are drawn at the head, where the deliveries projection's pieces are
        # those of the last position, with every delivered transfer folded again forbidden
        # (and the log read a position at a time: the two reports of one development are
        # found apart)
        with (
            folded_all,
            mock.patch.object(read_models, "reporting", wraps=read_models.reporting) as reporting,
            mock.patch.object(dialect, "CHUNK", 1),
        ):
            history = steps.delivery_history(read_models, as_of=date(2024, 1, 1),
                                             known_at_us=2**62)  # fmt: skip
        # Then they are drawn, and only the developments of the reports that word a step are
        # folded, once, all together: not the second, whose total changed nothing
        assert [len(line.steps) for line in history.lines] == [2, 2]
        figures = [line.last_figure for line in history.lines]
        assert [figure.value for figure in figures if figure] == [20_000, 1000]
        [(position, asked), _] = reporting.call_args
        assert sorted(asked) == [1, 3, 4, 5] and position == 5
        # and at a known_at before the last event, which the pieces are not of, they are put
        # back as they were (the one development with an event since folded at both), as a
        # fold of every delivered transfer recorded by then draws them
        known_at = to_micros(datetime.fromisoformat(before["recorded_at"]))
        with folded_all:
            then = steps.delivery_history(read_models, as_of=date(2024, 1, 1), known_at_us=known_at)
        assert then == steps.delivery_history(
            read_models, as_of=date(2024, 1, 1), known_at_us=known_at, kept=False
        )
        assert [len(line.steps) for line in then.lines] == [2, 1]
