"""A query parameter the API route does not declare, or one given twice, is a 400 naming it,
never an unfiltered 200 or an answer for one of the two values."""

from __future__ import annotations

from typing import Any

import pytest

from tests import bodies
from tests.api import (
    Client,
    error_paths,
    log_state,
    post_event,
    problem,
    report_development,
    serve,
)

AS_OF = "as_of=2024-03-15"


def _refused(client: Client, url: str, name: str) -> dict[str, Any]:
    """The problem of `url`, checked to name the parameter `name` alone."""
    document = problem(client.get(url), 400)
    assert document["type"] == "urn:timeline:problem:invalid-parameter"
    assert error_paths(document) == [name]
    return document


def test_a_misspelt_filter_of_a_view_is_refused_naming_it_and_what_the_view_takes(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        report_development(client)
        # Given the deliveries view answers the one PRK delivery when asked for it
        filtered = client.get(f"/api/views/deliveries?{AS_OF}&supplier=IRN")
        assert filtered.status_code == 200, filtered.text
        # When the supplier filter is misspelt, or a filter the view lacks is sent
        misspelt = _refused(client, f"/api/views/deliveries?{AS_OF}&suplier=IRN", "suplier")
        unsupported = _refused(client, "/api/views/deliveries?channel=briefing", "channel")
    # Then the answer is a 400 that lists what the view takes, not every delivery
    assert misspelt["detail"] == (
        "GET /api/views/deliveries has no parameter 'suplier'; it "
        "takes as_of, category, format, known_at, originator, recipient, status, supplier, unit "
        "(did you mean 'supplier'?)"
    )
    assert "it takes as_of, category, format" in unsupported["detail"]


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/api/developments", "as_of=2024-03-15&kinds=transfer", "kinds"),
        ("/api/events", "after=0&lim=10", "lim"),
        ("/api/changes", "since=2024-01-01&untill=2024-02-01", "untill"),
        ("/api/developments/{id}/history", "as_of=2024-03-15", "as_of"),  # takes known_at only
        ("/api/checkpoints/latest", "known_at=2024-03-15", "known_at"),
        # the header is Last-Event-ID; a bad `after` keeps the stream from opening without the check
        ("/api/stream", "after=-1&lastEventId=3", "lastEventId"),
    ],
)
def test_an_unknown_parameter_is_refused_on_every_kind_of_route(
    database_url: str, path: str, query: str, name: str
) -> None:
    with serve(database_url) as client:
        development_id = report_development(client)
        # When the route is asked with a parameter it does not declare
        document = _refused(client, f"{path.format(id=development_id)}?{query}", name)
    # Then the problem names it and says which the route does take
    assert f"has no parameter {name!r}; it takes " in document["detail"]


def test_a_required_parameter_left_out_is_named(database_url: str) -> None:
    with serve(database_url) as client:
        document = _refused(client, "/api/changes", "since")
    assert "Missing required query parameter 'since'" in document["detail"]


def test_a_route_without_parameters_refuses_any(database_url: str) -> None:
    with serve(database_url) as client:
        for url in ("/api/health?verbose=1", "/api/health?verbose", "/api/health?=1"):
            name = url.partition("?")[2].partition("=")[0]
            document = _refused(client, url, name)
            assert document["detail"].endswith("it takes no query parameters")


def test_the_from_alias_filters_where_the_handler_s_own_name_is_refused(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        report_development(client)  # first reported on 2023-10-13
        # When the timeline is asked from a day, by the parameter's public name
        before = client.get(f"/api/developments?{AS_OF}&from=2023-10-01").json()["items"]
        after = client.get(f"/api/developments?{AS_OF}&from=2024-01-01").json()["items"]
        # Then it filters; the Python name of the handler's argument is no parameter of the API
        assert (len(before), len(after)) == (1, 0)
        _refused(client, f"/api/developments?{AS_OF}&from_=2024-01-01", "from_")


def test_a_parameter_given_twice_is_refused_naming_it_since_one_value_would_be_ignored(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        report_development(client)
        # When as_of comes twice (it used to answer for the last one), or a filter does
        twice = _refused(client, "/api/developments?as_of=2023-01-01&as_of=2024-03-15", "as_of")
        _refused(client, f"/api/views/deliveries?{AS_OF}&supplier=PRK&supplier=IRN", "supplier")
        # and an unknown one comes twice: it is named as unknown
        unknown = _refused(client, f"/api/developments?{AS_OF}&sort=title&sort=position", "sort")
        # Then the problem says the parameter takes one value
        assert twice["detail"] == "GET /api/developments takes one 'as_of'; it was given more"
        assert "has no parameter 'sort'" in unknown["detail"]


def test_a_post_with_an_unknown_parameter_stores_nothing_even_past_the_fast_path(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        # Given the editor's token is known to the fast path by a first write
        report_development(client)
        # When a valid event is posted with a parameter the append does not take
        response = client.post(
            "/api/events?dry_run=1",
            content=bodies.encoded(bodies.development_reported()),
            headers={"Content-Type": "application/json"},
        )
        # Then it is refused, and the log still holds the first event alone
        document = problem(response, 400)
        assert error_paths(document) == ["dry_run"]
        assert log_state(client).events == 1
        assert post_event(client, bodies.development_reported()).status_code == 201


def test_html_pages_and_the_api_documents_ignore_parameters_the_api_refuses(
    database_url: str,
) -> None:
    with serve(database_url) as client:
        # When the same stray parameter goes to a page, the OpenAPI document and the API
        page = client.get("/?utm_source=mail")
        document = client.get("/api/schema/openapi.json?utm_source=mail")
        api = client.get("/api/developments?utm_source=mail")
    # Then the page and the document answer as ever, and only the API refuses it
    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert (document.status_code, document.json()["info"]["title"]) == (200, "Timeline")
    assert error_paths(problem(api, 400)) == ["utm_source"]


def test_a_query_of_many_unknown_parameters_is_not_echoed_whole(database_url: str) -> None:
    with serve(database_url) as client:
        query = "&".join(f"p{n}=1" for n in range(5000))
        document = _refused(client, f"/api/developments?{query}", "p0")
    # the refusal names the first ten and counts the rest
    assert (
        "(nor 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9' and 4990 more)"
        in (document["detail"])
    )
    assert "'p10'" not in document["detail"]


def test_a_parameter_whose_escapes_are_not_utf8_is_refused_naming_it(database_url: str) -> None:
    with serve(database_url) as client:
        report_development(client)
        # a lone surrogate's bytes, and a Latin-1 é: each became U+FFFD, which no actor matched
        for query, name in [
            ("actor=%ED%A0%80", "actor"),
            ("supplier=Cr%E9dit", "supplier"),
            (f"{AS_OF}&kind=transfer&actor=PRK%FF", "actor"),
        ]:
            path = "/api/views/deliveries" if name == "supplier" else "/api/developments"
            document = _refused(client, f"{path}?{query}", name)
            assert "not UTF-8" in document["detail"]
        # and escapes that are UTF-8 are read as ever
        assert client.get("/api/developments?actor=%D0%A0US").status_code == 200


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (f"/api/developments?{AS_OF}&status=null", "status"),
        (f"/api/developments?{AS_OF}&kind=null", "kind"),
        (f"/api/views/deliveries?{AS_OF}&status=null", "status"),
        (f"/api/views/allegations?{AS_OF}&format=null", "format"),
        ("/api/changes?since=2024-01-01&format=null", "format"),
        # a bad `after` keeps the stream from opening without the check
        ("/api/stream?after=-1&kind=null", "kind"),
    ],
)
def test_the_text_null_is_refused_where_it_would_read_as_the_parameter_left_out(
    database_url: str, url: str, name: str
) -> None:
    with serve(database_url) as client:
        report_development(client)
        # When a parameter of a type that is not text is sent as `null` (a client's None)
        document = _refused(client, url, name)
    # Then it is refused, where it answered as if left out: every status, kind or format
    assert document["detail"] == f"invalid value for {name}: 'null' is not one of its values; " \
        f"leave {name} out"  # fmt: skip


def test_a_rebuild_of_the_projection_named_null_rebuilds_none(database_url: str) -> None:
    with serve(database_url, role="admin") as client:
        # When an admin asks to rebuild the projection named `null`
        document = problem(client.post("/api/projections/rebuild?name=null"), 400)
        # Then nothing is rebuilt (it rebuilt every projection), and a named one still is
        rebuilt = client.post("/api/projections/rebuild?name=deliveries")
    assert error_paths(document) == ["name"]
    assert rebuilt.json()["names"] == ["deliveries"]


def test_an_actor_named_null_is_a_filter_like_any_other_text(database_url: str) -> None:
    with serve(database_url) as client:
        report_development(client)
        everyone = client.get(f"/api/developments?{AS_OF}").json()["items"]
        # When the timeline is filtered on the actor `null`, which is text
        named_null = client.get(f"/api/developments?{AS_OF}&actor=null").json()["items"]
    # Then it filters on that name, which no development has
    assert (len(everyone), len(named_null)) == (1, 0)
