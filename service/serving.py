"""Running the HTTP server: one process, or several sharing the port through SO_REUSEPORT.

With several workers each one accepts on its own socket, bound to the port with SO_REUSEPORT, so
the kernel spreads connections over them evenly; one shared listening socket (uvicorn's own
`--workers`) lets whichever process wakes first take a burst of new connections, and under a
steady load the busiest worker then carries most of them.

The parent opens those sockets and keeps them open, and a worker that dies is replaced by one
on the same socket: the connections queued on it wait for the new worker instead of being
reset, and none is refused meanwhile (a listening socket that closes leaves its share of the
port's connections nowhere to go until the kernel has unhooked it); a worker that starts while
PostgreSQL cannot be reached answers 503 on its socket until it can. The parent stops them all
on SIGINT or SIGTERM; a worker whose parent is gone (killed outright, by SIGKILL or an
out-of-memory killer) stops itself, so none is left holding the port with nobody to replace it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType

APP = "service.http:app_from_environment"
GRACE_SECONDS = 5
PARENT_CHECK_SECONDS = 0.5  # how often a worker looks whether the server that started it lives
PROBE_SECONDS = 1.0  # how often a worker answering 503s looks whether the database is back
BACKLOG = 2048  # uvicorn's default
logger = logging.getLogger(__name__)


MAX_DEFAULT_WORKERS = 8  # a container may see every CPU of its host


def default_workers(database_url: str) -> int:
    """What served best in bench/write.py: one process on SQLite (one writer at a time anyway,
    and a second only waits for the file's lock), one per CPU this process may use on
    PostgreSQL, at most `MAX_DEFAULT_WORKERS`."""
    if database_url.startswith("sqlite"):
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS))


def serve(host: str, port: int, *, workers: int, log_level: str) -> None:
    """Serve until interrupted, in this process or in `workers` processes."""
    if workers <= 1:
        import uvicorn

        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            log_level=log_level,
            timeout_graceful_shutdown=GRACE_SECONDS,
        )
        return
    sockets = [_listen(host, port) for _ in range(workers)]  # fails here when the port is taken
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    stopping = False
    received = 0

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping, received
        stopping, received = True, signum

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for sock in sockets:
            processes.append(_start(context, sock, log_level))
        while not stopping:
            time.sleep(0.2)
            for index, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    logger.warning("worker %s exited (%s); starting another", process.pid,
                                   process.exitcode)  # fmt: skip
                    processes[index] = _start(context, sockets[index], log_level)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(GRACE_SECONDS + 5)
            if process.is_alive():
                process.kill()
        for sock in sockets:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received == signal.SIGTERM:  # end as uvicorn does with one process: by the signal (143)
        signal.raise_signal(signal.SIGTERM)


def _start(
    context: multiprocessing.context.SpawnContext, sock: socket.socket, log_level: str
) -> BaseProcess:
    """A worker accepting on `sock`, which the child inherits (multiprocessing passes it)."""
    process = context.Process(target=_worker, args=(sock, log_level, os.getpid()), daemon=False)
    process.start()
    return process


def check_free(host: str, port: int) -> None:
    """Raise OSError when something listens on `host:port` already. The probe binds without
    SO_REUSEPORT: the workers' sockets set it, so a second server would otherwise bind beside
    the first and share its connections."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(BACKLOG)
    return sock


def _worker(sock: socket.socket, log_level: str, parent: int) -> None:
    import uvicorn

    threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()
    if not _answer_503_until_reachable(sock, log_level):
        return  # stopped meanwhile
    config = uvicorn.Config(
        APP,
        factory=True,
        log_level=log_level,
        backlog=BACKLOG,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _answer_503_until_reachable(sock: socket.socket, log_level: str) -> bool:
    """Serve 503s on `sock` while PostgreSQL cannot be reached, looking again every
    `PROBE_SECONDS`: a worker started then (one replacing another during an outage) failed
    to start over and over, and the connections queued on its socket hung until the database
    came back. Whether to go on to serve (False: the worker was stopped meanwhile)."""
    import uvicorn

    from service.config import database_url
    from service.errors import Refused, Unavailable
    from service.http.waiting import waiting_app
    from service.store.postgres import refuses, unreachable

    url = database_url()
    if url.startswith("sqlite") or not (why := unreachable(url)):
        return True
    logger.warning("worker %s: the database cannot be reached (%s); answering 503 until it "
                   "can", os.getpid(), why)  # fmt: skip
    config = uvicorn.Config(
        waiting_app(Refused if refuses(why) else Unavailable, why),
        log_level=log_level,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    server = uvicorn.Server(config)
    reachable = threading.Event()

    def probe() -> None:
        while not server.should_exit:
            time.sleep(PROBE_SECONDS)
            try:
                back = not unreachable(url)
            except Exception:  # looked again at the next turn: a dead probe would 503 for good
                logger.exception("worker %s: could not look at the database", os.getpid())
                continue
            if back:
                reachable.set()
                server.should_exit = True

    threading.Thread(target=probe, daemon=True).start()
    server.run(sockets=[sock.dup()])  # uvicorn closes the sockets it served on
    if reachable.is_set():
        logger.warning("worker %s: the database can be reached again; serving", os.getpid())
    return reachable.is_set()


def _stop_when_orphaned(parent: int) -> None:
    """SIGTERM this worker once `parent` is no longer its parent (it died and the worker was
    handed to init): uvicorn then finishes the requests under way and exits."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    logger.warning("the server that started worker %s is gone; stopping", os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
