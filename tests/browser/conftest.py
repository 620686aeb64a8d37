"""Browser fixtures: ``spinetrack serve`` as a real process on loopback, driven by Playwright in
Debian's Chromium (``/usr/bin/chromium``; a browser is never downloaded).

* ``live_server`` (session, parametrised ``sqlite`` / ``postgresql``): a fresh database loaded
  with ``spinetrack demo --patients 200 --seed 3`` (cohort and demo logins, password
  :data:`DEMO_PASSWORD`), then ``spinetrack serve --host 127.0.0.1 --port <free>`` until the
  session ends. The PostgreSQL variant makes its own database on the session's ``pg_server_url``
  server (tests/conftest.py) and is marked ``postgres``.
* ``browser`` (session): headless Chromium with the machine's launch flags.
* ``page_phone`` (390×844, mobile, touch) and ``page_desktop`` (1280×900): a fresh context per
  test (its own cookies), with ``base_url`` set to the server, so ``page.goto("/login")`` works.
  Console errors and uncaught page errors are collected in ``page.errors`` (a list of strings);
  ``assert_no_page_errors(page)`` fails on them (a CSP refusal shows up there).
* ``save_shot(page, name)``: a full-page PNG in tests/browser/artifacts/ (git-ignored).
* ``check_axe(page)``: runs axe-core (tests/browser/node_modules, ``scripts/ensure-test-assets.sh``)
  in the page with its default rule set (WCAG 2 A/AA and best practices) and fails on every
  violation, whatever its impact (minor and moderate included), listing each with its nodes.
* ``new_visit(server, ...)``: a fresh patient at a demo site with a procedure 42 days ago and an
  open 6-week invitation; returns the invitation token (``/p/<token>``) and ids.

Without Chromium the tests are skipped locally and fail under CI (``CI`` set), so a CI run can never
pass without having driven a real browser; the same holds for axe-core.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from spinetrack import clock
from spinetrack.synth.demo_access import DEMO_PASSWORD

__all__ = ["DEMO_PASSWORD", "LiveServer", "Visit", "assert_no_page_errors", "check_axe", "new_visit", "save_shot"]

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path(os.environ.get("SPINETRACK_TEST_CHROMIUM", "/usr/bin/chromium"))
# Launch flags for Debian's Chromium on this machine (the closed network refuses Chromium's own
# background connections; as root there is no sandbox). Playwright adds --headless itself.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO_PATIENTS = 200
DEMO_SEED = 3
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
START_TIMEOUT_S = 60
# axe is served to the page from this same-origin path (intercepted by the test, never reaching the
# app), so the app's Content-Security-Policy (script-src 'self') stays on during the check.
AXE_ROUTE = "/__browser-tests__/axe.min.js"


def _skip_or_fail(reason: str) -> None:
    """Skip locally; under CI (``CI`` set) fail, so CI cannot pass without the browser half."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "spinetrack.cli", *args]


# ---------------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class LiveServer:
    """A running ``spinetrack serve`` on loopback, over a demo database."""

    backend: str          # "sqlite" or "postgresql"
    base_url: str         # http://127.0.0.1:<port>
    database_url: str
    log_path: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def load_demo(database_url: str, *, patients: int = DEMO_PATIENTS, seed: int = DEMO_SEED,
              fixed_dates: bool = False) -> None:
    """``spinetrack demo`` into ``database_url`` (cohort plus demo logins; dated relative to today
    unless ``fixed_dates``)."""
    proc = subprocess.run(_cli("demo", "--patients", str(patients), "--seed", str(seed),
                               *(["--fixed-dates"] if fixed_dates else []), "--database-url", database_url, "--json"),
                          capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"spinetrack demo failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


MODEL_PATIENTS = 3000  # enough for some option × outcome models to pass the minimum-data rule


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prediction models trained once per session (``spinetrack models train``, 20 bootstrap
    resamples) on a separate synthetic cohort, so the decision aid shows clinic-model numbers
    beside literature fall-backs; every live server reads them (SPINETRACK_MODELS_DIR)."""
    work = tmp_path_factory.mktemp("browser-models")
    db = f"sqlite:///{work / 'train.db'}"
    load_demo(db, patients=MODEL_PATIENTS, seed=11, fixed_dates=True)  # the same models whatever the date
    out = work / "models"
    proc = subprocess.run(_cli("models", "train", "--database-url", db, "--out", str(out), "--bootstrap", "20",
                               "--json"), capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"spinetrack models train failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return out


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # loopback only
        return int(r.status)


def start_server(database_url: str, backend: str, workdir: Path, models: Path | None = None
                 ) -> tuple[subprocess.Popen[bytes], LiveServer]:
    """Start ``spinetrack serve`` on 127.0.0.1 and a free port; return once /healthz answers."""
    last_error = ""
    for _attempt in range(3):  # a free port can be taken between the probe and the bind: retry
        port = _free_port()
        log_path = workdir / f"serve-{backend}-{port}.log"
        # the in-process follow-up job stays off: a test that wants the scheduler runs it itself,
        # so that no visit opens in the middle of another test
        env = {**os.environ, "SPINETRACK_DATABASE_URL": database_url, "SPINETRACK_ENV": "development",
               "PYTHONUNBUFFERED": "1", "SPINETRACK_FOLLOWUP_AUTO": "false"}
        if models is not None:
            env["SPINETRACK_MODELS_DIR"] = str(models)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(_cli("serve", "--host", "127.0.0.1", "--port", str(port)), env=env,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        server = LiveServer(backend, f"http://127.0.0.1:{port}", database_url, log_path)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if _get(server.url("/healthz")) == 200:
                    return proc, server
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        stop_server(proc)
        last_error = server.log_tail()
        if "address already in use" not in last_error.lower():
            break
    raise RuntimeError(f"spinetrack serve ({backend}) did not answer /healthz within {START_TIMEOUT_S} s:\n"
                       f"{last_error}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _create_pg_database(server_url: str) -> tuple[str, Any, str]:
    from sqlalchemy import create_engine, text

    from spinetrack.store.session import _normalise_url

    name = f"browser_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return _normalise_url(server_url).rsplit("/", 1)[0] + f"/{name}", admin, name


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``spinetrack serve`` over a fresh demo database: an SQLite file, then a PostgreSQL database."""
    workdir = tmp_path_factory.mktemp(f"browser-{request.param}")
    admin = name = None
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'spinetrack.db'}"
    else:
        url, admin, name = _create_pg_database(str(request.getfixturevalue("pg_server_url")))
    try:
        load_demo(url)
        proc, server = start_server(url, request.param, workdir, request.getfixturevalue("models_dir"))
        try:
            yield server
        finally:
            stop_server(proc)
    finally:
        if admin is not None:
            from sqlalchemy import text

            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


# ---------------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (sync API)."""
    if not CHROMIUM.exists():
        _skip_or_fail(f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium package; "
                      "scripts/ensure-system-deps.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the Python package playwright is not installed (pip install -e '.[test]')")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                               chromium_sandbox=False)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


# Requests the browser makes on its own, not the page: their failure is not the page's error.
_IGNORED_PATHS = ("/favicon.ico",)


def _collect_errors(page: Any) -> None:
    """``page.errors``: console errors, uncaught script errors and responses >= 400 (with URL)."""
    errors: list[str] = []
    page.errors = errors

    def on_console(m: Any) -> None:
        # "Failed to load resource" carries no URL; the response handler reports it with one.
        if m.type == "error" and not m.text.startswith("Failed to load resource"):
            errors.append(f"console error: {m.text}")

    def on_response(r: Any) -> None:
        if r.status >= 400 and not r.url.split("?", 1)[0].endswith(_IGNORED_PATHS) and AXE_ROUTE not in r.url:
            errors.append(f"HTTP {r.status} for {r.request.method} {r.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("response", on_response)
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.method} {r.url} ({r.failure})"))


def _page(browser: Any, server: LiveServer, **options: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=server.base_url, locale="en-GB", timezone_id="Europe/London",
                                  **options)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        _collect_errors(page)
        page.live_server = server
        yield page
    finally:
        context.close()


@pytest.fixture
def page_phone(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A phone-sized page (390×844, mobile, touch) in a fresh browser context."""
    yield from _page(browser, live_server, viewport=PHONE, screen=PHONE, is_mobile=True, has_touch=True,
                     device_scale_factor=2)


@pytest.fixture
def page_desktop(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A desktop-sized page (1280×900) in a fresh browser context."""
    yield from _page(browser, live_server, viewport=DESKTOP)


# ---------------------------------------------------------------------------------- helpers


def save_shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as tests/browser/artifacts/<name>.png (name made file-safe)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_no_page_errors(page: Any) -> None:
    """Fail on console errors, uncaught script errors and failed requests seen so far (CSP
    refusals included); ``/favicon.ico`` is ignored."""
    errors = list(getattr(page, "errors", []))
    assert not errors, "errors in the page:\n" + "\n".join(errors)


def check_axe(page: Any, *, context: Any = None, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run axe-core in ``page`` and fail on any violation, whatever its impact (minor, moderate,
    serious or critical): the page must have 0. Each violation is printed and named in the failure
    with its rule, impact, node count and first targets; returns axe's list (empty when it passes).

    ``context`` / ``options`` go to ``axe.run``; a rule that truly does not apply to one element
    may be left out there (``context={"exclude": [...]}``) only with a comment saying why, never
    for a whole page or the whole suite."""
    if not AXE_JS.exists():
        _skip_or_fail(f"axe-core not found at {AXE_JS} (run scripts/ensure-test-assets.sh: npm ci in tests/browser)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # page.add_script_tag(path=...) inlines the file, which the app's CSP (script-src 'self')
        # refuses; so axe is served from a same-origin URL that the test itself answers.
        page.route(f"**{AXE_ROUTE}", lambda route: route.fulfill(path=str(AXE_JS), content_type="text/javascript"))
        try:
            page.add_script_tag(url=AXE_ROUTE)
        finally:
            page.unroute(f"**{AXE_ROUTE}")
    assert page.evaluate("() => typeof window.axe !== 'undefined'"), "axe-core did not load into the page"
    result = page.evaluate("([ctx, opts]) => axe.run(ctx || document, opts || {})", [context, options])
    violations: list[dict[str, Any]] = result["violations"]
    where = page.url
    lines = []
    for v in violations:
        targets = "; ".join(" ".join(map(str, n.get("target", []))) for n in v["nodes"][:5])
        lines.append(f"axe {v['impact']}: {v['id']} — {v['help']} ({len(v['nodes'])} nodes: {targets}) on {where}")
        print(lines[-1])
    assert not violations, f"axe-core: {len(violations)} violation(s) on {where}:\n" + "\n".join(lines)
    return violations


@dataclass(frozen=True)
class Visit:
    token: str
    invitation_id: int
    patient_id: int
    episode_id: int
    site_id: int

    @property
    def path(self) -> str:
        return f"/p/{self.token}"


def new_visit(server: LiveServer, *, site_code: str = "DEMO-N", instruments: Sequence[str] = ("odi", "nrs_back",
              "eq5d5l"), timepoint: str = "6w", today: dt.date | None = None) -> Visit:
    """A fresh patient at ``site_code`` (with a synthetic name), a tubular discectomy 42 days ago
    and an open invitation for ``timepoint``; made directly in the database the server uses."""
    from sqlalchemy import select

    from spinetrack.store.access import Access
    from spinetrack.store.repositories import Actor, Store
    from spinetrack.store.session import make_engine
    from spinetrack.store.tables import SiteRow

    today = today or clock.today()
    surgery = today - dt.timedelta(days=42)
    engine = make_engine(server.database_url)
    try:
        store = Store(engine)
        access = Access(store)
        with engine.connect() as c:
            site_id = c.execute(select(SiteRow.id).where(SiteRow.code == site_code)).scalar_one()
        actor = Actor("browser-tests", "clinician", site_id)
        n = uuid.uuid4().hex[:8]
        pid = store.add_patient(actor, site_id, {"birth_year": 1970, "sex": "female", "bmi": 26.0,
                                                 "smoking": "never", "diabetes": False, "asa_grade": 2},
                                identity={"full_name": f"Browser Test {n}", "mrn": f"BT-{n}"})
        eid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5",
                                             "enrolled_on": (surgery - dt.timedelta(days=20)).isoformat(),
                                             "treatment": "mis", "treatment_family": "discectomy"})
        store.add_procedure(actor, eid, {"procedure_code": "discectomy_tubular", "performed_on": surgery.isoformat(),
                                         "levels": "L4-L5", "ebl_ml": 30, "incision_mm": 20, "op_time_min": 75,
                                         "los_days": 1, "transfusion": False})
        inv_id, token = access.create_invitation(actor, eid, timepoint=timepoint, instrument_codes=list(instruments))
        return Visit(token, inv_id, pid, eid, site_id)
    finally:
        engine.dispose()
