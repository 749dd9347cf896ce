"""Rebuilding the read models over HTTP (admin only), on SQLite and PostgreSQL."""

from __future__ import annotations

from projections.compare import snapshot
from service.application import Timeline
from tests import bodies
from tests.api import post_event, problem, serve


def test_a_rebuild_over_http_needs_an_admin_token(database_url: str) -> None:
    with serve(database_url) as editor:
        problem(editor.post("/api/projections/rebuild"), 403)
        del editor.headers["Authorization"]
        problem(editor.post("/api/projections/rebuild"), 401)


def test_a_rebuild_over_http_folds_the_log_again_into_the_same_rows(database_url: str) -> None:
    with serve(database_url, role="admin") as admin:
        development = "6f2d1c1e-51a4-4b8e-9c55-0a4be8d1e001"
        post_event(admin, bodies.development_reported(development_id=development))
        post_event(admin, bodies.report_added(development))
        # each view catches up the projection it reads
        assert admin.get(f"/api/developments/{development}").status_code == 200
        assert admin.get("/api/views/deliveries").json()["series"]
        timeline: Timeline = admin.app.state.timeline
        before = snapshot(timeline.store)
        answer = admin.post("/api/projections/rebuild")
        assert answer.status_code == 200
        done = answer.json()
        assert done["names"] == ["developments", "deliveries"]
        assert (done["position"], done["events"]) == (2, 2)
        assert {t: r for t, r in snapshot(timeline.store).items() if not t.endswith("_state")} == {
            t: r for t, r in before.items() if not t.endswith("_state")
        }


def test_a_rebuild_over_http_of_one_projection_names_it(database_url: str) -> None:
    with serve(database_url, role="admin") as admin:
        post_event(admin, bodies.development_reported())
        done = admin.post("/api/projections/rebuild", params={"name": "deliveries"}).json()
        assert done["names"] == ["deliveries"] and done["events"] == 1
        document = problem(admin.post("/api/projections/rebuild", params={"name": "x"}), 400)
        assert "name" in str(document)


def test_a_rebuild_given_a_body_refuses_it_and_rebuilds_nothing(database_url: str) -> None:
    with serve(database_url, role="admin") as admin:
        post_event(admin, bodies.development_reported())
        timeline: Timeline = admin.app.state.timeline
        with timeline.store.read_transaction() as cursor:
            cursor.execute("SELECT name, generation FROM tl_tracking ORDER BY name")
            before = [tuple(row) for row in cursor.fetchall()]
        # its options are query parameters: a `name` in a body was ignored, and all rebuilt
        chunked = {"content": iter([b'{"name": ', b'"deliveries"}'])}  # Transfer-Encoding
        for sent in ({"json": {"name": "deliveries"}}, {"content": b"deliveries"}, chunked):
            document = problem(admin.post("/api/projections/rebuild", **sent), 415)
            assert document["errors"][0]["path"] == "body"
            assert "query parameters" in document["detail"]
        with timeline.store.read_transaction() as cursor:
            cursor.execute("SELECT name, generation FROM tl_tracking ORDER BY name")
            assert [tuple(row) for row in cursor.fetchall()] == before
        # and a POST sent chunked without content (some clients do so) is no body: it rebuilds
        assert admin.post("/api/projections/rebuild", content=iter([b""])).status_code == 200


def test_read_models_that_disagree_with_the_log_answer_503_until_rebuilt(
    database_url: str,
) -> None:
    with serve(database_url, role="admin") as admin:
        # given a development whose current segment rows were written otherwise than this
        # version folds its events, found out when the runner lacks its state (after a rebuild)
        development = "6f2d1c1e-51a4-4b8e-9c55-0a4be8d1e002"
        post_event(admin, bodies.development_reported(development_id=development))
        assert admin.post("/api/projections/rebuild").status_code == 200
        timeline: Timeline = admin.app.state.timeline
        with timeline.store.write_transaction() as cursor:
            cursor.execute("UPDATE tl_segments SET valid_from = valid_from + 1")
        post_event(admin, bodies.report_added(development))

        # when a view needs the read models caught up, then it is a 503 saying what to do
        document = problem(admin.get(f"/api/developments/{development}"), 503)
        assert "rebuild" in document["detail"]

        # and a rebuild brings them back
        assert admin.post("/api/projections/rebuild").status_code == 200
        assert admin.get(f"/api/developments/{development}").status_code == 200
