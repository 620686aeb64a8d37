"""``spinetrack serve --workers N`` on PostgreSQL (spinetrack.web.workers): every process gets a
share of the connections and the supervisor stops them all on SIGTERM.

Oracles: Linux's ``SO_REUSEPORT`` (socket(7): "incoming connections ... are distributed across
the listening sockets", by a hash of the connection's addresses). With 40 connections from
distinct client ports, each of two processes holds at least 8 of them unless the hash is very
uneven (a fair split falls below 8 with probability about 1e-5). uvicorn's shared socket gave one
process 9 of 10 keep-alive connections in the load bench. Then SIGTERM: the supervisor and its
processes are gone within the grace period.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from spinetrack.store.migrate import upgrade
from spinetrack.store.session import make_engine

pytestmark = pytest.mark.postgres
CONNECTIONS = 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    return [c for c in parent.children() if "spawn_main" in " ".join(c.cmdline())]


def _healthz(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_workers_share_the_connections_and_stop_together(pg_database_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_database_url)
    upgrade(engine)
    engine.dispose()
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "spinetrack.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", "2"],
                            env={**os.environ, "SPINETRACK_DATABASE_URL": pg_database_url}, stdout=log,
                            stderr=subprocess.STDOUT)
    conns: list[socket.socket] = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # both processes listening
            workers = _workers(parent)
            listening = [w for w in workers if any(c.status == "LISTEN" and c.laddr.port == port
                                                   for c in w.net_connections("tcp"))]
            if len(listening) == 2:
                break
            assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")
            time.sleep(0.3)
        else:
            pytest.fail("two listening server processes did not appear: "
                        + (tmp_path / "serve.log").read_text(errors="replace")[-2000:])
        for _ in range(CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            conns.append(s)
            assert b" 200 " in _healthz(s).split(b"\r\n", 1)[0]
        held = {w.pid: sum(1 for c in w.net_connections("tcp") if c.status == "ESTABLISHED" and c.laddr.port == port)
                for w in _workers(parent)}
        assert sum(held.values()) == CONNECTIONS, held
        assert min(held.values()) >= 8, f"connections per process: {held}"
        pids = [w.pid for w in _workers(parent)]
        for s in conns:
            s.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        time.sleep(0.5)
        assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    finally:
        for s in conns:
            s.close()
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()
        log.close()


def test_workers_are_refused_on_a_port_in_use(pg_database_url: str) -> None:
    """A port another program listens on: a plain error and a non-zero exit, not a restart loop."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "spinetrack.cli", "serve", "--host", "127.0.0.1", "--port",
                                 str(port), "--workers", "2"], env={**os.environ,
                                 "SPINETRACK_DATABASE_URL": pg_database_url}, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode != 0
    assert str(port) in result.stdout + result.stderr and "in use" in (result.stdout + result.stderr)
