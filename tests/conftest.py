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

import contextlib
import datetime as dt
import functools
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

BACKENDS = ("sqlite", "postgresql")

# One "today" for the whole run (spinetrack.clock): a run that crosses midnight would otherwise see
# the test's dates (taken at import) and the app's dates (taken per request) a day apart. Servers
# started by the tests inherit it.
os.environ.setdefault("SPINETRACK_TODAY", dt.date.today().isoformat())
# No in-process follow-up job in the apps the tests build (each TestClient runs the app's lifespan,
# and forty clients at once started forty scheduler threads); the tests of the job ask for it.
os.environ.setdefault("SPINETRACK_FOLLOWUP_AUTO", "false")


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


@contextlib.contextmanager
def _pg_database(server_url: str, template: str | None = None) -> Iterator[str]:
    """A new database on the test server (a copy of ``template`` when given), dropped on exit."""
    from sqlalchemy import create_engine, text

    from spinetrack.store.session import _normalise_url

    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_normalise_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        yield _normalise_url(server_url).rsplit("/", 1)[0] + f"/{name}"
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _migrated(url: str) -> None:
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine

    eng = make_engine(url)
    try:
        upgrade(eng)
    finally:
        eng.dispose()


@pytest.fixture(scope="session")
def _sqlite_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to the head revision once per session; ``engine`` copies it."""
    path = tmp_path_factory.mktemp("template") / "head.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_head(pg_server_url: str) -> str:
    """The name of a PostgreSQL database migrated to the head revision once per session;
    ``engine``'s databases are created from it (``CREATE DATABASE … TEMPLATE``)."""
    from sqlalchemy import create_engine, text

    from spinetrack.store.session import _normalise_url

    name = f"head_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_normalise_url(pg_server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    _migrated(_normalise_url(pg_server_url).rsplit("/", 1)[0] + f"/{name}")
    return name


@pytest.fixture(scope="session")
def pg_new_database(pg_server_url: str) -> Callable[..., AbstractContextManager[str]]:
    """``with pg_new_database(template=None) as url:`` a new database on the test server (a copy
    of the database named ``template`` when given: how a module builds its data once and hands
    each test its own copy), dropped on exit."""
    return functools.partial(_pg_database, pg_server_url)


@pytest.fixture
def pg_database_url(request: pytest.FixtureRequest, pg_server_url: str) -> Iterator[str]:
    """A fresh database on the test server, dropped after the test: empty, or — when the test
    also asks for ``engine`` — already at the head revision (copied from a migrated template,
    which is what ``engine`` would otherwise build by migrating)."""
    template = request.getfixturevalue("_pg_head") if "engine" in request.fixturenames else None
    with _pg_database(pg_server_url, template) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: an SQLite file, then a PostgreSQL database (empty unless the test
    also asks for ``engine``, which needs it migrated)."""
    if request.param == "sqlite":
        path = tmp_path / "spinetrack.db"
        if "engine" in request.fixturenames:
            shutil.copyfile(request.getfixturevalue("_sqlite_head"), path)
        return f"sqlite:///{path}"
    return str(request.getfixturevalue("pg_database_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database at the head revision (a copy of a database migrated once
    per session: the migrations themselves are tested in tests/store/test_migrations.py)."""
    from spinetrack.store.migrate import current_revision, head_revision
    from spinetrack.store.session import make_engine

    eng = make_engine(db_url)
    try:
        assert current_revision(eng) == head_revision()
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




_NEEDS = {"pg_server_url": "postgres", "pg_database_url": "postgres", "_pg_head": "postgres", "spark_engine": "spark"}


# Modules that build a synthetic cohort, a snapshot or trained models, run the whole scorecard,
# print a PDF or drive the command line in subprocesses: each takes 10 s or more (measured with
# ``--durations`` on this 2-core machine), so ``make test-fast`` leaves them to ``make test``.
_SLOW_MODULES = frozenset({
    "analysis/test_augmented_overlap.py", "analysis/test_outcome_definitions.py", "analysis/test_run.py",
    "cli/test_analyze_cli.py", "cli/test_demo_cli.py", "cli/test_models_cli.py", "cli/test_score_cli.py",
    "cli/test_serve.py", "predict/test_decision.py", "predict/test_models.py", "predict/test_profile.py",
    "predict/test_validation.py", "reports/test_report.py", "reports/test_report_literature.py",
    "security/test_bad_input.py", "security/test_route_matrix.py", "synth/test_cohort.py",
    "synth/test_relative_dates.py", "followup/test_crash.py",
    # registry benchmarking and the annual report: synthetic registries of up to 20,000 patients
    "analysis/test_benchmark.py", "analysis/test_annual.py", "reports/test_annual.py", "cli/test_report_annual.py",
    "web/test_benchmark_pages.py",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what a test needs from what it asks for, so ``-m`` can leave it out at collection:
    a PostgreSQL server or Spark through its fixtures, Chromium for everything under
    tests/browser. (``make test-fast`` runs ``-m "not slow and not postgres and not spark and not
    browser"``.)"""
    tests_dir = Path(__file__).parent
    for item in items:
        for fixture, marker in _NEEDS.items():
            if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None:
                item.add_marker(getattr(pytest.mark, marker))
        parts = Path(str(item.path)).relative_to(tests_dir).parts
        if "/".join(parts) in _SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        if parts[0] == "browser":
            item.add_marker(pytest.mark.browser)
