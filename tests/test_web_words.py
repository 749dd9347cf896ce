"""The page's pure parts: figures in words, step lines, chart geometry, word-level corrections."""

from __future__ import annotations

from datetime import date

import pytest

from events import Figure, parse_edtf
from projections.results import Series, Total
from projections.tracks import Piece
from service.web import chart, words
from service.web.dossier import Token, differences, tokens
from service.web.steps import DeliveryHistory, Line, SeriesKey, Step, steps_of

KEY = SeriesKey("PRK", "RUS", "munitions_unspecified", "container", "US Government")


def series(low: float, high: float | None, on: date, reports: int = 1) -> Series:
    """A row of the deliveries view for KEY."""
    return Series(supplier="PRK", recipient="RUS", category="munitions_unspecified",
                  unit="container", originator="US Government", low=low, high=high,
                  reports=reports, last_asserted_on=on)  # fmt: skip


def test_a_series_is_said_in_the_words_of_the_figure_that_set_it() -> None:
    running_total = Figure(unit="container", qualifier="more_than", value=10_000,
                           basis="cumulative")  # fmt: skip
    assert words.series_text(10_000, None, "container", running_total) == (
        "more than 10,000 containers"
    )
    # An increment added to an earlier figure: the bounds are no longer the figure's own
    increment = Figure(unit="container", qualifier="about", value=500)
    assert words.series_text(1_500, None, "container", increment) == "at least 1,500 containers"
    assert words.bounds_text(0, 900, "uav") == "up to 900 UAVs"
    assert words.bounds_text(24, 240, "missile") == "24\N{EN DASH}240 missiles"
    assert words.bounds_text(1, 1, "launcher") == "1 launcher"


def test_a_step_is_kept_only_where_the_bounds_change() -> None:
    october, november, february = date(2023, 10, 13), date(2023, 11, 1), date(2024, 2, 23)
    march = date(2024, 3, 1)  # e.g. the development's status became refuted

    def piece(on: date, position: int, low: float, cumulative: bool) -> Piece:
        day = on.toordinal()
        return Piece(day, day, position, march.toordinal(), cumulative, low, None, True)

    pieces = [
        piece(october, 1, 1000, False),
        piece(november, 2, 1000, True),  # a running total that says what was said: no step
        piece(february, 3, 10_000, True),
    ]
    assert steps_of(pieces, march) == [
        Step(october, 1000, None),
        Step(february, 10_000, None),
        Step(march, 0, 0, counted=False),
    ]
    assert steps_of(pieces, date(2024, 2, 29)) == [
        Step(october, 1000, None),
        Step(february, 10_000, None),
    ]
    assert steps_of(pieces, date(2023, 10, 12)) == []


def test_a_panel_draws_the_low_as_a_step_line_and_an_open_band_above_it() -> None:
    october, february, as_of = date(2023, 10, 13), date(2024, 2, 23), date(2024, 3, 1)
    line = Line(key=KEY, steps=[Step(october, 1000, None), Step(february, 10_000, None)],
                current=series(10_000, None, february, 2), last_figure=None)  # fmt: skip
    history = DeliveryHistory(as_of=as_of, lines=[line], totals=[])

    [panel] = chart.panels(history)
    [trace] = panel.traces

    assert panel.title == "Containers"
    assert panel.subtitle == "North Korea → Russia, munitions (unspecified)"
    assert [tick.text for tick in panel.y_ticks] == ["0", "5,000", "10,000", "15,000"]
    assert [tick.text for tick in panel.x_ticks][:2] == ["Oct 2023", "2024"]  # a year on each
    assert trace.line.count("M") == 1 and trace.line.count("V") == 1  # one joined step line
    # a path per step, so each fades up from its own line (one path faded over the box of all)
    assert len(trace.open_band) == 2 and all(p.count("Z") == 1 for p in trace.open_band)
    assert trace.band == ""
    assert trace.summary == (
        "US Government: at least 10,000 containers (last reported 2024-02-23, 2 reports)"
    )
    assert [p.y for p in trace.points] == sorted([p.y for p in trace.points], reverse=True)


def test_each_step_and_the_total_are_said_in_the_words_of_the_figure_that_set_them() -> None:
    october, february, as_of = date(2023, 10, 13), date(2024, 2, 23), date(2024, 3, 1)
    more_than = Figure(unit="container", qualifier="more_than", value=1000)
    about = Figure(unit="container", qualifier="about", value=10_000, basis="cumulative")
    line = Line(key=KEY, steps=[Step(october, 1000, None), Step(february, 10_000, 10_000)],
                current=series(10_000, 10_000, february, 2), last_figure=about,
                figures=[(october, 1), (february, 2)],
                words={1: more_than, 2: about})  # fmt: skip
    other = Line(key=KEY._replace(originator="UN Panel"), steps=[Step(october, 500, 500)],
                 current=series(500, 500, october), last_figure=None)  # fmt: skip
    total = Total(supplier="PRK", recipient="RUS", category="munitions_unspecified",
                  unit="container", low=10_000, high=10_000)  # fmt: skip
    history = DeliveryHistory(as_of=as_of, lines=[line, other], totals=[total])

    [panel] = chart.panels(history)

    # "more than", "about": as the sources said, not "at least 1,000" or a bare "10,000"
    assert [point.said for point in panel.traces[0].points] == [
        "more than 1,000 containers",
        "about 10,000 containers",
    ]
    assert "the largest figure of any source: about 10,000 containers" in panel.totals[0]


def test_an_interval_whose_ends_differ_in_precision_says_both() -> None:
    assert words.occurred_text(parse_edtf("2023-09/2024-02-23")) == (
        "month to day precision, interval"
    )
    assert words.occurred_text(parse_edtf("2023-09/2023-10")) == "month precision, interval"
    assert words.occurred_text(parse_edtf("../2022-02-23")) == (
        "day precision, interval, start open"
    )


def test_a_correction_is_shown_word_by_word_and_field_by_field() -> None:
    assert tokens("more than 1,000 containers", "about 1,000 containers") == [
        Token("del", "more than "),
        Token("ins", "about "),
        Token("same", "1,000 containers"),
    ]
    before = {"originator": "US Government", "channel": "disclosure"}
    after = {"originator": "US Government", "channel": "fact_sheet"}
    found = differences("source", before, after)
    assert [(d.name, d.changed) for d in found] == [("source.originator", False),
                                                     ("source.channel", True)]  # fmt: skip


@pytest.mark.parametrize(
    ("first", "last", "said"),
    [
        (date(2022, 7, 11), date(2024, 3, 1), "599 days (1 y 7 m)"),
        (date(2023, 3, 1), date(2024, 2, 24), "360 days (11 m)"),
        (date(2023, 3, 1), date(2024, 3, 1), "366 days (1 y 0 m)"),
        (date(2024, 1, 31), date(2024, 2, 29), "29 days"),
        (date(2023, 12, 31), date(2024, 2, 29), "60 days (2 m)"),
        (date(2024, 1, 10), date(2024, 2, 10), "31 days (1 m)"),
    ],
)
def test_an_age_counts_whole_calendar_months_never_rounding_up(
    first: date, last: date, said: str
) -> None:
    assert words.age(first, last) == said


def test_a_grade_reads_as_a_sentence_when_a_half_cannot_be_judged() -> None:
    assert words.grade("B", 2) == "B2: usually reliable source, probably true"
    assert words.grade("F", 6) == (
        "F6: source reliability cannot be judged; truth cannot be judged"
    )
    assert words.grade("A", 6) == "A6: completely reliable source; truth cannot be judged"
    assert words.grade("F", 3) == "F3: source reliability cannot be judged; possibly true"


def test_a_stop_row_says_by_this_date_and_why_when_the_series_stopped_between_sampled_dates() -> (
    None
):
    counted, stopped = date(2023, 3, 1), date(2023, 4, 5)  # two sampled dates
    steps = [Step(counted, 50, 50), Step(stopped, 0, 0, counted=False)]
    reason = "the report of 2023-02-01 no longer counts (retracted, or the development's status"

    # refuted on 1 April, between the two: by the second date, with the report that stopped
    [(on, said)] = chart._stop_rows(steps, {date(2023, 4, 1): [date(2023, 2, 1)]})
    assert on == stopped and said.startswith(f"not counted by this date: {reason}")
    # refuted on the second date itself: from it
    [(_, said)] = chart._stop_rows(steps, {stopped: [date(2023, 2, 1)]})
    assert said.startswith(f"not counted from this date: {reason}")


def test_a_meeting_names_its_parties_and_a_transfer_its_direction() -> None:
    assert words.actors_text({"supplier": "PRK", "recipient": "RUS"}, "meeting") == (
        "North Korea and Russia"
    )
    assert words.actors_text({"recipient": "RUS"}, "meeting") == "Russia"  # not "to Russia"
    assert words.actors_text({"supplier": "PRK", "recipient": "RUS"}, "transfer") == (
        "North Korea \N{RIGHTWARDS ARROW} Russia"
    )


@pytest.mark.parametrize(
    ("start", "end", "texts"),
    [
        # two and five years between ticks: round years, not every January
        (date(1990, 5, 1), date(2014, 3, 1), ["1995", "2000", "2005", "2010"]),
        (date(1900, 1, 1), date(2024, 3, 1), ["1950", "2000"]),
        (date(2022, 1, 1), date(9999, 12, 31), ["4000", "6000", "8000"]),
        (date(2023, 10, 13), date(2024, 3, 1), ["Nov 2023", "Dec", "2024", "Feb", "Mar"]),
    ],
)
def test_an_axis_has_a_few_ticks_at_round_dates_however_long_it_is(
    start: date, end: date, texts: list[str]
) -> None:
    ticks = chart._x_ticks(chart.Scale(start=start, end=end, top=1.0))
    assert [tick.text for tick in ticks] == texts
