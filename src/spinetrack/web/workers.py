"""``spinetrack serve --workers N``: N uvicorn processes, each with its **own** listening socket on
the same address (``SO_REUSEPORT``), so that the kernel spreads new connections evenly across them.

uvicorn's own ``--workers`` hands one shared listening socket to every process, and whichever
process wakes first accepts. Phones and proxies keep their connections open, so one process ends
up serving nearly all of them. With 10 keep-alive clients, one process held 9 connections at 91 %
CPU and the other held 1 at 12 % (``bench/bench_web_load.py``, PostgreSQL, 2026-12-07). A second
process then added nothing. With one socket per process, Linux hashes each connection to one of
the sockets.

The supervisor (:func:`serve_workers`) starts the processes, restarts one that dies, and stops
all of them on SIGINT or SIGTERM. It gives up, exit 1, when processes keep dying right after
they start, for example when the database cannot be reached. Each process builds its own app
from the environment (:func:`spinetrack.web.app.create_app`); nothing is shared in memory.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from typing import Any

__all__ = ["listening_socket", "serve_workers"]

log = logging.getLogger("spinetrack.serve")

QUICK_DEATH_S = 10.0  # a process that dies sooner than this after starting counts as a failed start
MAX_QUICK_DEATHS = 3
STOP_GRACE_S = 30.0


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port``; not listening yet (uvicorn calls ``listen``).

    It is made as ``IPPROTO_TCP``: asyncio sets ``TCP_NODELAY`` only on connections of such a
    socket, and without it every answer waited about 40 ms for the client's delayed ACK."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, log_level: str) -> None:  # pragma: no cover - runs in a child process
    import uvicorn

    from spinetrack.config import Settings
    from spinetrack.web.app import uvicorn_options

    config = uvicorn.Config("spinetrack.web.app:create_app", factory=True, host=host, port=port,
                            log_level=log_level, **uvicorn_options(Settings()))
    uvicorn.Server(config).run(sockets=[listening_socket(host, port, reuse_port=True)])


def serve_workers(host: str, port: int, workers: int, *, log_level: str = "info") -> int:
    """Run ``workers`` server processes on ``host:port`` until SIGINT or SIGTERM; returns the exit
    status (0, or 1 when processes kept dying at start)."""
    # Held, bound but not listening, for the whole run: the address is checked before any
    # process starts (a port in use fails here, plainly), and no other user can join it.
    guard = listening_socket(host, port, reuse_port=True)
    ctx = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start(i: int) -> tuple[Any, float]:
        proc = ctx.Process(target=_worker, args=(host, port, log_level), name=f"spinetrack-worker-{i + 1}")
        proc.start()
        return proc, time.monotonic()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start(i) for i in range(workers)]
    quick_deaths, status = 0, 0
    try:
        while not stop.wait(0.5):
            for i, (proc, started) in enumerate(procs):
                if proc.is_alive():
                    continue
                quick = time.monotonic() - started < QUICK_DEATH_S
                quick_deaths = quick_deaths + 1 if quick else 0
                if quick_deaths >= MAX_QUICK_DEATHS:
                    log.error("server processes keep stopping right after they start (exit code %s); giving up",
                              proc.exitcode)
                    stop.set()
                    status = 1
                    break
                log.warning("server process %s stopped (exit code %s); starting another", proc.pid, proc.exitcode)
                procs[i] = start(i)
    finally:
        for proc, _ in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight, then exits
        deadline = time.monotonic() + STOP_GRACE_S
        for proc, _ in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        guard.close()
    return status
