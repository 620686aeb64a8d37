"""The edge of the app: headers on a 500, no CDN page, ids and dates out of range, strict
screening answers, the procedure form's message, proxy headers, tokens in logs, export keys.

Each test names its oracle in its docstring.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack import clock
from spinetrack.config import Settings
from spinetrack.domain.pathway import TIMEPOINTS, EpisodeRecord, check_response_timing
from spinetrack.errors import ValidationError
from spinetrack.snapshot import export_snapshot
from spinetrack.store.repositories import Actor
from spinetrack.store.tables import AuditRow
from spinetrack.web.app import MAX_ID, uvicorn_options
from spinetrack.web.logredact import RedactTokensFilter, redact, uvicorn_log_config
from tests.web.conftest import PASSWORD, World
from tests.web.test_api import iter_routes

HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
           "Cache-Control")


# ---------------------------------------------------------------------------------- 500 and /docs


def test_a_500_carries_the_security_headers(app: Any) -> None:
    """OWASP Secure Headers: every response, errors included, carries CSP, X-Frame-Options,
    nosniff and no-store; Starlette answers an unhandled exception from its outermost layer,
    outside the app's middleware, so this fails unless the 500 handler sets them too."""

    @app.get("/api/v1/boom-test")
    def boom_api() -> None:
        raise RuntimeError("boom")

    @app.get("/boom-test-page")
    def boom_page() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        for path in ("/api/v1/boom-test", "/boom-test-page"):
            r = c.get(path)
            assert r.status_code == 500
            assert "boom" not in r.text  # no internal detail
            for name in HEADERS:
                assert name in r.headers, (path, name)
            assert r.headers["X-Frame-Options"] == "DENY"


def test_no_page_loads_swagger_or_redoc_from_a_cdn(anonymous: TestClient) -> None:
    """README "Offline": no CDN. FastAPI's /docs and /redoc pages load their scripts from
    cdn.jsdelivr.net and no installed package ships them, so they are not served; the OpenAPI
    document itself is."""
    assert anonymous.get("/docs").status_code == 404
    assert anonymous.get("/redoc").status_code == 404
    r = anonymous.get("/openapi.json")
    assert r.status_code == 200 and "cdn" not in r.text.lower()


# ---------------------------------------------------------------------------------- ids and dates


def test_every_id_in_a_path_is_bounded(app: Any, world: World, client_for: Callable[[str], TestClient]) -> None:
    """SQLite INTEGER is 64-bit signed: 2^63 overflowed the driver (500) on every route with an
    id in its path (GET pages included); ids start at 1. Every ``*_id`` path parameter of every
    route answers 4xx naming the parameter, for every role that may call it."""
    clients = {role: client_for(role) for role in ("clinician", "admin")}
    checked = 0
    for path, route in iter_routes(app.routes):
        names = re.findall(r"{(\w+_id)}", path)
        if not names:
            continue
        for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}):
            for role, c in clients.items():
                for bad in (2**63, -1, MAX_ID + 1):
                    url = path.format(**{n: bad if n == names[0] else 1 for n in names}, instrument="odi",
                                      name="Patient.1.ndjson")
                    r = c.request(method, url)
                    checked += 1
                    assert 400 <= r.status_code < 500, (role, method, url, r.status_code)
                    # a patient's page says it in plain words, in the patient's language (web/errors.py)
                    assert names[0] in r.text or r.status_code in (401, 403) or path.startswith("/p/"), (
                        role, method, url, r.text[:200])
    assert checked >= 60


def test_index_date_9999_is_refused_with_the_range(client_for: Callable[[str], TestClient], world: World) -> None:
    """The app's own plausibility range (an engineering choice, not a clinical number): dates
    from 1900-01-01; an index date (a planned operation) up to today + 2 years; past events up
    to today. 9999-12-31 was stored, then every response on the episode overflowed Python's
    date arithmetic (500)."""
    c = client_for("clinician")
    base = {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": clock.today().isoformat(),
            "treatment": "mis", "treatment_family": "discectomy"}
    r = c.post(f"/api/v1/patients/{world.patients['A']}/episodes", json={**base, "index_date": "9999-12-31"})
    assert r.status_code == 422
    assert r.json()["field"] == "episode.index_date"
    latest = (clock.today() + dt.timedelta(days=730)).isoformat()
    assert f"1900-01-01 to {latest}" in r.json()["message"]
    r = c.post(f"/api/v1/patients/{world.patients['A']}/episodes", json={**base, "enrolled_on": "0001-01-01"})
    assert r.status_code == 422 and r.json()["field"] == "episode.enrolled_on"
    assert "not in the future" in r.json()["message"]


def test_response_timing_against_a_stored_year_9999_index_date_is_a_4xx() -> None:
    """Python's date range ends at 9999-12-31: index date + window overflowed (OverflowError,
    a 500). A record stored before dates were bounded now gives a ValidationError instead."""
    six_weeks = next(tp for tp in TIMEPOINTS if tp.code == "6w")
    with pytest.raises(ValidationError, match="out of range"):
        check_response_timing(six_weeks, dt.date(2025, 1, 1), dt.date(9999, 12, 1))


@pytest.mark.parametrize("field,value", [("enrolled_on", "0001-01-01"), ("enrolled_on", "9999-12-31"),
                                         ("index_date", "1899-12-31"), ("index_date", "9999-12-31")])
def test_domain_dates_are_bounded(field: str, value: str) -> None:
    """The same bounds for a form and the API: the domain record refuses them, naming the field."""
    data = {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2020-01-01", "treatment": "mis",
            "treatment_family": "discectomy", field: value}
    with pytest.raises(ValidationError, match=f"episode.{field}.*1900-01-01"):
        EpisodeRecord.create(data)


# ---------------------------------------------------------------------------------- screening, forms


def test_screening_api_refuses_json_true(client_for: Callable[[str], TestClient], world: World) -> None:
    """RFC 8259 types: the answers are the strings yes, no, unknown; a JSON ``true`` was read
    as "yes" (a red flag the client may not have meant). Strict now: refused, naming the field."""
    c = client_for("clinician")
    url = f"/api/v1/episodes/{world.episodes['A']}/screening"
    r = c.post(url, json={"saddle_anaesthesia": True})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "screening.saddle_anaesthesia" and body["allowed"] == "yes, no, unknown"
    assert c.get(url).json()["recorded"] is False


def test_a_refused_procedure_form_shows_its_message(client_for: Callable[[str], TestClient], world: World) -> None:
    """The page's own contract (routes/clinic.py): a refused form is shown again with the
    store's message naming the field. The procedure form answered 422 with no message when the
    episode already had a procedure (the form, and its error box, are hidden then)."""
    c = client_for("clinician")
    url = f"/clinic/patients/{world.patients['A']}/episodes/{world.episodes['A']}/procedure"
    r = c.post(url, data={"csrf_token": c.headers["X-CSRF-Token"], "procedure_code": "discectomy_tubular",
                          "performed_on": (clock.today() - dt.timedelta(days=40)).isoformat(), "levels": "L4-L5",
                          "ebl_ml": "-5"})
    assert r.status_code == 422
    # every problem in the form's summary (role=alert; web/forms.FormErrors), the blood-loss field
    # named in plain words: shown even when the form itself is hidden (the episode has a procedure)
    alert = re.search(r'role="alert"[^>]*>(.*?)</div>', r.text, re.S)
    assert alert is not None and "Blood loss" in alert.group(1), r.text[:800]


def test_a_form_with_a_nul_byte_is_refused_like_the_api(client_for: Callable[[str], TestClient], world: World,
                                                        app: Any) -> None:
    """PostgreSQL text cannot hold U+0000 and the API refused it, but the HTML forms stored it on
    SQLite (5 fields): one check now, naming the field, nothing stored."""
    c = client_for("clinician")
    url = f"/clinic/patients/{world.patients['A']}/episodes/{world.episodes['A']}/complications"
    r = c.post(url, data={"csrf_token": c.headers["X-CSRF-Token"], "category": "dural_tear", "clavien_dindo": "I",
                          "occurred_on": (clock.today() - dt.timedelta(days=30)).isoformat(), "detail": "a\x00b"})
    assert r.status_code == 422 and "detail" in r.text
    api = c.post(f"/api/v1/episodes/{world.episodes['A']}/complications",
                 json={"category": "dural_tear", "clavien_dindo": "I", "detail": "a\x00b",
                       "occurred_on": (clock.today() - dt.timedelta(days=30)).isoformat()})
    assert api.status_code == 422 and api.json()["field"] == "complication.detail"
    assert c.get(f"/api/v1/episodes/{world.episodes['A']}/complications").json()["total"] == 0


# ---------------------------------------------------------------------------------- proxy headers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(app: Any, settings: Settings, **overrides: Any) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    options = {**uvicorn_options(settings), **overrides}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _failed_sign_in_client(app: Any, base: str) -> str:
    with httpx.Client(base_url=base) as h:
        r = h.post("/api/v1/auth/login", json={"username": "a.clinician", "password": "not-the-password"},
                   headers={"X-Forwarded-For": "203.0.113.99"})
        assert r.status_code == 401
    with app.state.engine.connect() as c:
        detail = c.execute(select(AuditRow.detail).where(AuditRow.action.like("%login%"))
                           .order_by(AuditRow.id.desc())).scalars().first()
    return str((detail or {}).get("client"))


def test_x_forwarded_for_is_ignored_unless_a_proxy_is_configured(app: Any, world: World) -> None:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default (``forwarded_allow_ips``), so a
    client on the same host could forge the address the audit log records. spinetrack passes
    ``proxy_headers=False`` unless SPINETRACK_FORWARDED_ALLOW_IPS names the proxy."""
    assert uvicorn_options(Settings())["proxy_headers"] is False
    for base in _serve(app, Settings(), log_config=None):
        assert _failed_sign_in_client(app, base) == "127.0.0.1"
    # positive control: with the proxy configured, its header is believed
    for base in _serve(app, Settings(forwarded_allow_ips="127.0.0.1"), log_config=None):
        assert _failed_sign_in_client(app, base) == "203.0.113.99"


# ---------------------------------------------------------------------------------- tokens in logs


def test_invitation_tokens_are_redacted_from_the_access_log(app: Any, world: World) -> None:
    """The invitation token is a bearer credential stored only as a hash; the access log wrote
    it in clear (11 logged tokens still opened a session). Through a real uvicorn with
    spinetrack's log configuration: the line says /p/[redacted], and the link's answer sends the
    phone on to a token-free address (303 to /p/visit), so the address bar and history hold no token."""
    token = world.invitations["A"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactTokensFilter())
    config = uvicorn_log_config()
    loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate, list(lg.filters)) for lg in loggers]
    try:
        for base in _serve(app, Settings(), log_config=config):
            logging.getLogger("uvicorn.access").addHandler(handler)
            with httpx.Client(base_url=base) as h:
                r = h.get(f"/p/{token}?token={token}", follow_redirects=False)
                assert r.status_code == 303 and r.headers["location"] == "/p/visit"
                assert token not in r.headers["location"]
            time.sleep(0.05)
    finally:
        for lg, handlers, level, propagate, filters in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
            lg.filters[:] = filters
    logged = stream.getvalue()
    assert "/p/[redacted]" in logged and "token=[redacted]" in logged, logged
    assert token not in logged
    assert {"redact_tokens"} <= set(config["filters"]) and all(
        "redact_tokens" in h["filters"] for h in config["handlers"].values())


def test_redaction_of_other_log_lines() -> None:
    """Any ``token=`` value and any 256-bit URL-safe token in a path (set-password links), while
    the patient pages and ordinary ids stay readable."""
    t = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"
    assert redact(f"GET /set-password/{t} HTTP/1.1") == "GET /set-password/[redacted] HTTP/1.1"
    assert redact("/p/q/odi?step=3") == "/p/q/odi?step=3"
    assert redact("/clinic/patients/12/episodes/3") == "/clinic/patients/12/episodes/3"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("1.2.3.4:5", "GET", f"/p/{t}", "1.1", 303), None)
    RedactTokensFilter().filter(record)
    assert t not in record.getMessage() and "/p/[redacted]" in record.getMessage()


# ---------------------------------------------------------------------------------- export keys


def test_a_typed_pseudonymous_id_never_reaches_a_snapshot(app: Any, world: World, tmp_path: Path,
                                                          client_for: Callable[[str], TestClient]) -> None:
    """README "Identity apart from clinical data": a client could choose ``pseudo_id``
    (``MRN-4471930``) and the snapshot exported it verbatim as ``patient_key``. The API no longer
    takes one (the store draws it), and a snapshot without --rekey carries the store's own key
    (``P<row id>``), so even a value typed before this change never leaves."""
    c = client_for("clinician")
    r = c.post("/api/v1/patients", json={"pseudo_id": "MRN-4471930", "birth_year": 1970, "sex": "male"})
    assert r.status_code == 422 and r.json()["field"] == "pseudo_id"
    store = app.state.store
    pid = store.add_patient(Actor("legacy", "clinician", world.sites["A"]), world.sites["A"],
                            {"pseudo_id": "MRN-4471930", "birth_year": 1970, "sex": "male"})
    result = export_snapshot(app.state.engine, tmp_path / "snap")
    found = []
    for f in sorted(result.path.glob("*")):
        data = f.read_bytes() if f.suffix != ".parquet" else str(pq.read_table(f).to_pylist()).encode()
        if b"4471930" in data:
            found.append(f.name)
    assert found == []
    keys = pq.read_table(result.path / "patients.parquet").column("patient_key").to_pylist()
    assert f"P{pid}" in keys and all(re.fullmatch(r"P\d+", k) for k in keys)
    assert PASSWORD  # the world's accounts exist (fixture used)
