"""The serving verbs: serve the HTTP API, and run or rebuild the read models."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Sequence

from projections import rebuild, run_forever, stale
from service.application import Timeline, check_database
from service.audit import check_key, key_path
from service.cli.common import _open, _progress, _say
from service.config import ConfigError, database_url, redacted
from service.serving import check_free, default_workers, serve
from service.store.log import LogRecorder


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the HTTP API and the web page, in one process or several workers."""
    from service.http.app import settings_from_environment  # the web stack: only to serve

    settings = settings_from_environment()  # a setting that is not one is said before anything
    url = database_url(args.database)
    check_key(key_path(url))  # as is a signing key there that cannot be used
    try:
        check_free(args.host, args.port)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
        ) from None
    if args.check:  # `make run` asks before it makes a new local token
        check_database(url)
        _say(f"{args.host}:{args.port} is free to serve {redacted(url)}")
        return 0
    if args.no_projections or not settings.run_projections:
        # `timeline projections run` keeps the read models, and rebuilds them
        Timeline(url).close()  # create the schema once, before any worker starts
        os.environ["TIMELINE_RUN_PROJECTIONS"] = "0"
    else:
        _rebuild_stale(Timeline(url))  # and create the schema once, before any worker starts
    os.environ["TIMELINE_DATABASE"] = url
    workers = args.workers or default_workers(url)
    _say(f"serving {redacted(url)} on http://{args.host}:{args.port} with {workers} worker(s)")
    serve(args.host, args.port, workers=workers, log_level=args.log_level)
    return 0


def cmd_projections_run(args: argparse.Namespace) -> int:
    """Follow the log and keep the read models, until SIGINT or SIGTERM."""
    url = database_url(args.database)
    _rebuild_stale(_open(args, existing=True))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _say(f"following the log of {redacted(url)}")
    run_forever(url, stop, poll_seconds=args.poll_seconds)
    return 0


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    """Clear the read models (or one) and fold the whole log again."""
    timeline = _open(args, existing=True)
    try:
        _rebuild(timeline.store, args.name)
    finally:
        timeline.close()
    return 0


def _rebuild(target: str | LogRecorder, names: str | Sequence[str] | None) -> None:
    """Rebuild with a progress bar, and say how it went."""
    with _progress(None, "event", "rebuilding") as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = rebuild(target, names, progress=advance)
    _say(
        f"rebuilt {', '.join(result.names)}: {result.events:,} events in "
        f"{result.seconds:.1f} s ({result.events_per_second:,.0f} events/s)"
    )


def _rebuild_stale(timeline: Timeline) -> None:
    """Rebuild the read models that another version of their fold wrote, before serving or
    following the log from them; then close the timeline."""
    try:
        names = stale(timeline.store)
        if names:
            _say(
                f"the read models of {', '.join(names)} were written by another version of "
                "this service: rebuilding them from the log first"
            )
            _rebuild(timeline.store, names)
    finally:
        timeline.close()
