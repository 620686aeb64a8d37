"""Shared fixtures: a real PostgreSQL server for the session, and an ``engine`` per test on
each backend (embedded SQLite file and PostgreSQL), migrated to head.

The PostgreSQL server comes from Debian's packages (``make test`` installs them when absent):
``initdb`` into a temporary directory, ``pg_ctl start`` listening on 127.0.0.1 on a free port,
trust authentication for loopback only. ``SPINETRACK_TEST_PG`` (a server URL such as
``postgresql://user@127.0.0.1:5432/postgres``) uses an existing server instead. When the
binaries are missing the PostgreSQL half is skipped locally but fails under CI (``CI`` set),
so a CI run can never pass without having exercised PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import pytest
from sqlalchemy import Engine

BACKENDS = ("sqlite", "postgresql")

# One "today" for the whole run (spinetrack.clock): a run that crosses midnight would otherwise see
# the test's dates (taken at import) and the app's dates (taken per request) a day apart. Servers
# started by the tests inherit it.
os.environ.setdefault("SPINETRACK_TODAY", dt.date.today().isoformat())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class _PgServer:
    """A throw-away PostgreSQL cluster on loopback, owned by the ``postgres`` OS user when we run
    as root (``initdb`` refuses to run as root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="spinetrack-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.sock.mkdir()
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
        self.user = "postgres" if self.as_postgres else os.environ.get("USER", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "--encoding=UTF8",
                  "--locale=C.UTF-8", "--no-instructions")
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.sock} -c fsync=off -c synchronous_commit=off " \
               "-c full_page_writes=off -c max_connections=50"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "start")
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database; started once per test session."""
    override = os.environ.get("SPINETRACK_TEST_PG")
    if override:
        yield override
        return
    bindir = _pg_bindir()
    if bindir is None:
        msg = "PostgreSQL server binaries not found (make test installs Debian's postgresql package)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    server = _PgServer(bindir)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def pg_database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped after the test."""
    from sqlalchemy import create_engine, text

    from spinetrack.store.session import _normalise_url

    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_normalise_url(pg_server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        yield _normalise_url(pg_server_url).rsplit("/", 1)[0] + f"/{name}"
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'spinetrack.db'}"
    request.applymarker(pytest.mark.postgres)
    return str(request.getfixturevalue("pg_database_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database migrated to the head revision."""
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine

    eng = make_engine(db_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Any]:
    if shutil.which("java") is None:
        if os.environ.get("CI"):
            pytest.fail("Java is missing (make test installs Debian's default-jre-headless)")
        pytest.skip("Java is missing")
    from spinetrack.engines import get_engine

    eng = get_engine("spark", master="local[2]")
    yield eng
    eng.stop()


