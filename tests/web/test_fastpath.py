"""The PROM submission's fast path answers exactly as its documented route (spinetrack.web.fastpath).

The oracle is the documented FastAPI route itself (``submit_visit_response`` in
spinetrack.web.routes.api, its body, header and dependency validation done by FastAPI): the same
requests, good and bad, go to an app with the fast path and to one without it, each on a fresh
visit, and the status codes and bodies must be equal. A spy on the fast path's thread-pool hop
shows which path answered. On both backends (the ``engine`` fixture).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from spinetrack.config import Settings
from spinetrack.store.repositories import Actor
from spinetrack.web import fastpath
from spinetrack.web.app import create_app
from tests.web.conftest import World
from tests.web.test_api import open_patient_session

PATH = fastpath.PATH
NRS = {"pain": 4}
KEY = "k-0001"


@pytest.fixture
def documented(app: Any) -> Any:
    """An app on the same database without the fast path: its documented route answers."""
    url = app.state.engine.url.render_as_string(hide_password=False)
    twin = create_app(Settings(database_url=url), engine=app.state.engine)
    twin.router.routes[:] = [r for r in twin.router.routes
                             if not (isinstance(r, Route) and r.endpoint is fastpath.submit_visit_endpoint)]
    return twin


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Counts the fast path's thread-pool hops (the documented route uses FastAPI's own)."""
    calls: list[str] = []
    real = fastpath.run_in_threadpool

    async def spy(func: Callable[..., Any], *args: Any) -> Any:
        calls.append(getattr(func, "__name__", "?"))
        return await real(func, *args)

    monkeypatch.setattr(fastpath, "run_in_threadpool", spy)
    yield calls


def _phone(app: Any, world: World) -> TestClient:
    """A phone with the patient session of a baseline visit (NRS back, NRS leg) of a new patient at site A."""
    site = world.sites["A"]
    actor = Actor("setup", "clinician", site)
    store = app.state.store
    pid = store.add_patient(actor, site, {"birth_year": 1961, "sex": "female"})
    eid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5", "treatment": "mis",
                                         "treatment_family": "discectomy",
                                         "enrolled_on": (dt.date.today() - dt.timedelta(days=7)).isoformat()})
    _, token = app.state.access.create_invitation(actor, eid, timepoint="baseline",
                                                  instrument_codes=["nrs_back", "nrs_leg"])
    return open_patient_session(app, token)


def _answer(r: Any) -> tuple[int, Any]:
    try:
        body = r.json()
    except ValueError:
        body = r.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "response_id"}  # each app stores its own row
    return r.status_code, body


# Each case: (name, a function of the phone client that sends the request(s) and returns the last answer).
def _post(phone: TestClient, **kw: Any) -> Any:
    return phone.post(PATH, **kw)


CASES: list[tuple[str, Callable[[TestClient], Any]]] = [
    ("stored", lambda p: _post(p, json={"instrument": "nrs_back", "answers": NRS}, headers={"Idempotency-Key": KEY})),
    ("replayed", lambda p: (_post(p, json={"instrument": "nrs_back", "answers": NRS}, headers={"Idempotency-Key": KEY}),
                            _post(p, json={"instrument": "nrs_back", "answers": NRS},
                                  headers={"Idempotency-Key": KEY}))[1]),
    ("key reused, other answers", lambda p: (
        _post(p, json={"instrument": "nrs_back", "answers": NRS}, headers={"Idempotency-Key": KEY}),
        _post(p, json={"instrument": "nrs_back", "answers": {"pain": 9}}, headers={"Idempotency-Key": KEY}))[1]),
    ("last questionnaire closes the visit", lambda p: (
        _post(p, json={"instrument": "nrs_back", "answers": NRS}),
        _post(p, json={"instrument": "nrs_leg", "answers": NRS}))[1]),
    ("closed visit, new submission", lambda p: (
        _post(p, json={"instrument": "nrs_back", "answers": NRS}),
        _post(p, json={"instrument": "nrs_leg", "answers": NRS}),
        _post(p, json={"instrument": "nrs_leg", "answers": NRS}, headers={"Idempotency-Key": "late"}))[2]),
    ("no key", lambda p: _post(p, json={"instrument": "nrs_back", "answers": NRS})),
    ("answer out of range", lambda p: _post(p, json={"instrument": "nrs_back", "answers": {"pain": 11}})),
    ("unknown item", lambda p: _post(p, json={"instrument": "nrs_back", "answers": {"pain": 3, "extra": 1}})),
    ("instrument not in the visit", lambda p: _post(p, json={"instrument": "odi", "answers": NRS})),
    ("unknown instrument", lambda p: _post(p, json={"instrument": "nope", "answers": NRS})),
    ("instrument missing", lambda p: _post(p, json={"answers": NRS})),
    ("answers missing", lambda p: _post(p, json={"instrument": "nrs_back"})),
    ("answers not an object", lambda p: _post(p, json={"instrument": "nrs_back", "answers": [4]})),
    ("instrument not text", lambda p: _post(p, json={"instrument": 7, "answers": NRS})),
    ("extra field", lambda p: _post(p, json={"instrument": "nrs_back", "answers": NRS, "timepoint": "1y"})),
    ("body is a list", lambda p: _post(p, json=[{"instrument": "nrs_back"}])),
    ("body is a number", lambda p: _post(p, content=b"42", headers={"Content-Type": "application/json"})),
    ("empty body", lambda p: _post(p, content=b"", headers={"Content-Type": "application/json"})),
    ("invalid JSON", lambda p: _post(p, content=b'{"instrument": ', headers={"Content-Type": "application/json"})),
    ("not JSON content type", lambda p: _post(p, content=b'{"instrument": "nrs_back", "answers": {"pain": 4}}',
                                              headers={"Content-Type": "text/plain"})),
    ("no content type", lambda p: _post(p, content=b'{"instrument": "nrs_back", "answers": {"pain": 4}}')),
    ("vendor JSON content type", lambda p: _post(p, content=b'{"instrument": "nrs_back", "answers": {"pain": 4}}',
                                                 headers={"Content-Type": "application/vnd.x+json; charset=utf-8"})),
    ("NUL in the instrument", lambda p: _post(p, json={"instrument": "nrs\x00back", "answers": NRS})),
    ("lone surrogate in an answer", lambda p: _post(
        p, content=b'{"instrument": "nrs_back", "answers": {"pain": "\\ud800"}}',
        headers={"Content-Type": "application/json"})),
    ("key too long", lambda p: _post(p, json={"instrument": "nrs_back", "answers": NRS},
                                     headers={"Idempotency-Key": "k" * (fastpath.KEY_MAX + 1)})),
    ("key empty", lambda p: _post(p, json={"instrument": "nrs_back", "answers": NRS}, headers={"Idempotency-Key": ""})),
    ("key too long and body wrong", lambda p: _post(p, json={"instrument": "nrs_back"},
                                                    headers={"Idempotency-Key": "k" * 200})),
    ("wrong CSRF token", lambda p: _post(p, json={"instrument": "nrs_back", "answers": NRS},
                                         headers={"X-CSRF-Token": "forged"})),
    ("no CSRF token", lambda p: (p.headers.pop("X-CSRF-Token"), _post(
        p, json={"instrument": "nrs_back", "answers": NRS}))[1]),
    ("no session cookie", lambda p: (p.cookies.clear(), _post(p, json={"instrument": "nrs_back", "answers": NRS}))[1]),
    ("no session cookie, invalid JSON", lambda p: (p.cookies.clear(), _post(
        p, content=b"{", headers={"Content-Type": "application/json"}))[1]),
    ("no session cookie, wrong body", lambda p: (p.cookies.clear(), _post(p, json={"instrument": 1}))[1]),
    ("unknown session", lambda p: (p.cookies.set("st_patient", "not-a-session"), _post(
        p, json={"instrument": "nrs_back", "answers": NRS}))[1]),
]


@pytest.mark.parametrize("name,send", CASES, ids=[c[0] for c in CASES])
def test_fast_path_answers_as_the_documented_route(app: Any, documented: Any, world: World, fast_calls: list[str],
                                                    name: str, send: Callable[[TestClient], Any]) -> None:
    expected = _answer(send(_phone(documented, world)))
    assert not fast_calls, "the documented app must not take the fast path"
    got = _answer(send(_phone(app, world)))
    assert got == expected, name
    if expected[0] in (200, 201, 409):  # the request reached the store: through the fast path's one hop
        assert fast_calls, "the app must answer through its fast path"


def test_fast_path_is_first_and_the_documented_route_stays_in_the_openapi(app: Any) -> None:
    first = app.router.routes[0]
    assert isinstance(first, Route) and first.path == PATH and first.endpoint is fastpath.submit_visit_endpoint
    spec = TestClient(app).get("/openapi.json").json()
    op = spec["paths"][PATH]["post"]
    assert {"201", "200", "409", "422"} <= set(op["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["schema"]["anyOf"][0]["maxLength"] == fastpath.KEY_MAX
               for p in op["parameters"])


def test_other_methods_on_the_path_are_refused_as_before(app: Any) -> None:
    """Oracle: HTTP's 405 for a path without that method (RFC 9110 §15.5.6), as before the fast path."""
    assert TestClient(app).get(PATH).status_code == 405
