"""Two `timeline serve` processes on one PostgreSQL database: no duplicate, no lost event.

Each server decides its writes under the lock that orders positions, so two processes appending
to the same development at once must still give exactly one winner per version, and many
appends without `expected_version` must all be stored with unique, increasing positions.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from service.application import Timeline
from service.audit import verify
from tests import bodies
from tests.procs import (
    Server,
    assert_projections_equal_a_rebuild,
    create_token,
    read_log,
    serving_several,
)

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

CONTENDERS = 8  # concurrent appends racing for each version
ROUNDS = 6
APPENDS = 200
THREADS = 16


def client(server: Server, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


@pytest.fixture
def token(postgres_url: str) -> str:
    return create_token(postgres_url, "newsroom")


@pytest.fixture
def servers(postgres_url: str, tmp_path: Path) -> Iterator[list[Server]]:
    with serving_several(postgres_url, tmp_path / "logs", 2) as servers:
        yield servers


def assert_chain_intact(database: str, log: list[dict[str, Any]]) -> None:
    """The hash chain verifies over the whole log, every row of it, up to its last position."""
    timeline = Timeline(database)
    try:
        report = verify(timeline)
    finally:
        timeline.close()
    assert report.ok, f"{report.problem} at position {report.first_bad_position}: {report.detail}"
    assert (report.checked, report.position) == (len(log), log[-1]["position"])


def report_development(server: Server, token: str) -> dict[str, Any]:
    with client(server, token) as http:
        response = http.post("/api/events", json=bodies.development_reported())
    assert response.status_code == 201, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def test_one_append_wins_each_version_when_both_servers_race_for_it(
    servers: list[Server], token: str, postgres_url: str
) -> None:
    # given a development both servers know at version 1
    development_id = report_development(servers[0], token)["development_id"]
    clients = [client(server, token) for server in servers]
    try:
        for version in range(1, ROUNDS + 1):
            # when 8 appends expecting that version go at once, half through each server
            start = threading.Barrier(CONTENDERS)

            def append(
                contender: int, version: int = version, start: threading.Barrier = start
            ) -> int:
                body = bodies.report_added(development_id, expected_version=version)
                start.wait()
                response = clients[contender % 2].post("/api/events", json=body)
                assert response.status_code in (201, 409), response.text
                return response.status_code

            with ThreadPoolExecutor(CONTENDERS) as pool:
                statuses = sorted(pool.map(append, range(CONTENDERS)))

            # then exactly one is stored and every other one is refused as a conflict
            assert statuses == [201] + [409] * (CONTENDERS - 1), f"version {version}"
        history = clients[1].get(f"/api/developments/{development_id}/history").json()
    finally:
        for http in clients:
            http.close()

    assert [item["version"] for item in history["items"]] == list(range(1, ROUNDS + 2))
    # and the refused appends left the hash chain intact over the whole log
    assert_chain_intact(postgres_url, read_log(servers[0].base_url))


def test_concurrent_appends_through_both_servers_are_all_stored_once_in_order(
    servers: list[Server], token: str, postgres_url: str
) -> None:
    # given three developments that both servers will append reports to
    shared = [report_development(servers[i % 2], token)["development_id"] for i in range(3)]
    clients = [client(server, token) for server in servers]

    def append(number: int) -> dict[str, Any]:
        event_id = str(uuid4())
        if number % 2:
            body = bodies.report_added(shared[number % 3], event_id=event_id)
        else:
            body = bodies.development_reported(event_id=event_id)
        response = clients[number % 2].post("/api/events", json=body)
        assert response.status_code == 201, response.text
        receipt: dict[str, Any] = response.json()
        assert receipt["event_id"] == event_id
        return receipt

    # when 200 appends without expected_version go from 16 threads, spread over both servers
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            receipts = list(pool.map(append, range(APPENDS)))
    finally:
        for http in clients:
            http.close()

    # then the log read from either server holds every one of them exactly once
    log = read_log(servers[0].base_url)
    assert log == read_log(servers[1].base_url)
    assert len(log) == APPENDS + len(shared)
    by_id = {item["event_id"]: item for item in log}
    assert len(by_id) == len(log), "an event id is stored twice"
    for receipt in receipts:
        item = by_id[receipt["event_id"]]
        stored = {key: item[key] for key in receipt}
        assert stored == receipt, "the log disagrees with the receipt the client was given"
    # positions unique and strictly increasing, system time never decreasing along them
    positions = [item["position"] for item in log]
    assert all(a < b for a, b in itertools.pairwise(positions))
    times = [item["recorded_at"] for item in log]
    assert times == sorted(times)
    # every development's versions run 1..n without a gap
    versions: dict[str, list[int]] = defaultdict(list)
    for item in log:
        versions[item["development_id"]].append(item["version"])
    assert all(found == list(range(1, len(found) + 1)) for found in versions.values())
    assert sorted(len(versions[d]) for d in shared) == [34, 34, 35]
    # the hash chain both processes extended verifies over the whole log
    assert_chain_intact(postgres_url, log)

    # and the projections both servers kept equal a rebuild from position 0
    assert_projections_equal_a_rebuild(postgres_url, positions[-1])
