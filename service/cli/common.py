"""What the verbs share: messages, the timeline at `--database`, file errors, progress bars."""

from __future__ import annotations

import argparse
import errno
import sys
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from service.application import Timeline
from service.audit import key_path
from service.config import ConfigError, database_url, sqlite_file
from service.store.backup import files_of

Command = Callable[[argparse.Namespace], int]


class ClosedOutput:
    """Standard output whose descriptor was closed (`>&-`), where Python leaves None: each
    write says so (`OSError`), where `print` would write nothing and report nothing."""

    def write(self, data: object) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        """Nothing was written."""

    @property
    def buffer(self) -> ClosedOutput:
        """The same, for bytes."""
        return self


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _open(args: argparse.Namespace, *, existing: bool = False) -> Timeline:
    """The timeline at `--database`; with `existing`, a missing SQLite file, or a database
    without the log's tables, is an error rather than a new empty timeline, for commands that
    would only report on nothing."""
    url = database_url(args.database)
    path = sqlite_file(url)
    if existing and path is not None and not path.exists():
        raise ConfigError(
            f"no database at {path} ({url}); this command creates none: "
            "check --database or TIMELINE_DATABASE"
        )
    return Timeline(url, existing=existing)


def _own_files(url: str) -> set[Path]:
    """The files a command must never write over: a SQLite database's own and its signing key."""
    path = sqlite_file(url)
    files = [key_path(url), *([] if path is None else files_of(path))]
    return {file.resolve() for file in files}


def _cannot(doing: str, name: str, error: OSError, consequence: str = "") -> int:
    _say(f"error: cannot {doing} {name}: {error.strerror or error}{consequence}")
    return 74  # EX_IOERR


class _Bar(tqdm):  # type: ignore[type-arg]
    """A bar saying what it counts: `storing: 43/100 … events/s` with a total, and without one
    (yet) `reading: 43 lines …`, `1 line` in the singular."""

    UNTOTALLED = "{desc}: {n_fmt}{counted} [{elapsed}, {rate_fmt}{postfix}]"

    def __init__(self, total: int | None, unit: str, description: str, file: Any) -> None:
        self.unit_name = unit
        super().__init__(total=total, unit=f" {unit}s", desc=description, file=file, disable=None)

    @property
    def format_dict(self) -> MutableMapping[str, Any]:
        """What the bar is drawn from: without a total, its count with the unit it needs."""
        shown = super().format_dict
        if not shown["total"]:
            shown["bar_format"] = self.UNTOTALLED
            shown["counted"] = f" {self.unit_name}" + ("" if shown["n"] == 1 else "s")
        return shown


def _progress(total: int | None, unit: str, description: str) -> tqdm[Any]:
    """A bar on standard error when it is a terminal; `unit` one of what is counted (`event`)."""
    return _Bar(total, unit, description, sys.stderr)


@contextmanager
def _ticking(bar: tqdm[Any]) -> Iterator[None]:
    """Redraw `bar` twice a second while one long call runs, so its elapsed time moves."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    if not bar.disable:
        ticker.start()
    try:
        yield
    finally:
        stop.set()
        if ticker.is_alive():
            ticker.join()
