"""The REST API under /api/v1: happy paths with real values, field-named validation errors,
idempotent PROM submission under a retried Idempotency-Key, the patient-visit API, and the
OpenAPI document.

Runs on SQLite and PostgreSQL (the ``engine`` fixture behind ``app``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spinetrack import clock
from spinetrack.config import Settings
from spinetrack.errors import ConflictError
from spinetrack.store import reads
from spinetrack.store.repositories import SYSTEM, Actor
from spinetrack.store.tables import AuditRow, PromResponseRow
from spinetrack.web.app import create_app
from tests.web.conftest import ODI_ITEMS, World

TODAY = clock.today()
SURGERY = TODAY - dt.timedelta(days=40)  # the world's procedures (conftest.build_world)
V1 = "/api/v1"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost while the world's accounts are made and signed in: these tests
    are about the API, not the KDF (tests/store/test_access.py checks the real parameters).
    Autouse, so it is in place before the ``world`` fixture creates the accounts."""
    monkeypatch.setattr("spinetrack.store.signin._HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def _odi(*values: int) -> dict[str, int]:
    """ODI answers: the values cycled over the ten items (score = 2 × sum)."""
    return {item: values[i % len(values)] for i, item in enumerate(ODI_ITEMS)}


def _count(app: Any, *where: Any) -> int:
    with app.state.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(PromResponseRow).where(*where)).scalar_one())


def iter_routes(routes: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, route)`` of every route, looking inside included routers (FastAPI ≥ 0.16x keeps
    them as wrappers in ``app.routes``; older versions flatten them)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context", None)
            yield from iter_routes(original.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif getattr(route, "path", None) is not None:
            yield prefix + route.path, route


def api_endpoints(app: Any) -> set[tuple[str, str]]:
    """Every ``(METHOD, path)`` under /api/v1."""
    return {(m, path) for path, r in iter_routes(app.routes) if path.startswith(V1)
            for m in getattr(r, "methods", None) or () if m != "HEAD"}


def open_patient_session(app: Any, token: str) -> TestClient:
    """A phone's client with the patient session of invitation ``token`` and its CSRF token.

    Uses the patient page ``/p/{token}`` when the app has it, otherwise opens the invitation
    through the store and sets the ``st_patient`` cookie itself."""
    client = TestClient(app, base_url="http://testserver")
    if any(path == "/p/{token}" for path, _ in iter_routes(app.routes)):
        client.get(f"/p/{token}")
    else:
        session, _ = app.state.access.open_invitation(token)
        client.cookies.set("st_patient", session)
    visit = client.get(f"{V1}/visit")
    assert visit.status_code == 200, visit.text
    client.headers["X-CSRF-Token"] = visit.json()["csrf_token"]
    return client


# ------------------------------------------------------------------------------ patients


def test_patients_enrol_search_filter_and_read_with_identity(client_for: Any, world: World) -> None:
    c = client_for("clinician")
    r = c.post(f"{V1}/patients", json={
        "birth_year": 1975, "sex": "male", "bmi": 31.2, "smoking": "current", "asa_grade": 2,
        "work_status": "employed", "symptom_duration_weeks": 14,
        "identity": {"full_name": "Tomas Lindqvist", "mrn": "MRN-A-77", "email": "t.l@example.org"}})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["site_id"] == world.sites["A"] and p["birth_year"] == 1975 and p["bmi"] == 31.2
    assert p["pseudo_id"].startswith("ST-") and p["identity"]["full_name"] == "Tomas Lindqvist"

    got = c.get(f"{V1}/patients/{p['id']}").json()
    assert got["identity"] == {"full_name": "Tomas Lindqvist", "mrn": "MRN-A-77", "email": "t.l@example.org",
                               "phone": None}
    assert got["smoking"] == "current" and got["work_status"] == "employed"

    listing = c.get(f"{V1}/patients").json()
    ids = {i["patient_id"] for i in listing["items"]}
    assert ids == {world.patients["A"], p["id"]} and listing["total"] == 2  # never site B's patient
    found = c.get(f"{V1}/patients", params={"q": "lindq"}).json()
    assert [i["patient_id"] for i in found["items"]] == [p["id"]] and found["items"][0]["mrn"] == "MRN-A-77"
    by_mrn = c.get(f"{V1}/patients", params={"q": "mrn-a-1"}).json()
    assert [i["patient_id"] for i in by_mrn["items"]] == [world.patients["A"]]
    mis = c.get(f"{V1}/patients", params={"treatment": "mis",
                                          "diagnosis_group": "disc_herniation_radiculopathy"}).json()
    assert [i["episode_id"] for i in mis["items"]] == [world.episodes["A"]]
    assert c.get(f"{V1}/patients", params={"treatment": "open"}).json()["total"] == 0
    # the world's 6-week window (days 29-63 after surgery) is open and no 6w ODI is in: due
    due = c.get(f"{V1}/patients", params={"followup": "due"}).json()
    assert [i["patient_id"] for i in due["items"]] == [world.patients["A"]]
    # ... and the 2-week window closed on day 28 without a 2w ODI: overdue too (the new patient has no episode)
    overdue = c.get(f"{V1}/patients", params={"followup": "overdue"}).json()
    assert [i["patient_id"] for i in overdue["items"]] == [world.patients["A"]]
    page = c.get(f"{V1}/patients", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and page["limit"] == 1 and [i["patient_id"] for i in page["items"]] == \
        [world.patients["A"]]  # newest first


# ------------------------------------------------------------------------------ episodes and events


def test_episode_procedure_complication_readmission_reoperation(client_for: Any, world: World) -> None:
    c = client_for("coordinator")
    pid = world.patients["A"]
    enrolled = TODAY - dt.timedelta(days=30)
    r = c.post(f"{V1}/patients/{pid}/episodes", json={
        "diagnosis_code": "M48.062", "levels": ["L4-L5", "L3-L4"], "treatment": "open",
        "treatment_family": "decompression", "enrolled_on": enrolled.isoformat(),
        "conservative_care": ["physiotherapy", "medication"], "conservative_care_weeks": 12,
        "imaging_findings": [{"level": "L4-L5", "kind": "central_stenosis", "stenosis_grade": "C"}]})
    assert r.status_code == 201, r.text
    ep = r.json()
    assert ep["diagnosis_group"] == "stenosis_with_claudication" and ep["levels"] == "L3-L4,L4-L5"
    assert ep["n_levels"] == 2 and ep["conservative_care"] == "physiotherapy,medication"
    assert ep["imaging_findings"] == [{"level": "L4-L5", "kind": "central_stenosis", "morphology": None,
                                       "zone": None, "pfirrmann": None, "stenosis_grade": "C", "meyerding": None}]
    eid = ep["id"]
    episodes = c.get(f"{V1}/patients/{pid}/episodes").json()
    assert episodes["total"] == 2 and [e["id"] for e in episodes["items"]] == [world.episodes["A"], eid]
    assert c.get(f"{V1}/episodes/{eid}").json()["treatment"] == "open"

    surgery = TODAY - dt.timedelta(days=10)
    r = c.post(f"{V1}/episodes/{eid}/procedures", json={
        "procedure_code": "decompression_open", "performed_on": surgery.isoformat(), "levels": "L3-L4,L4-L5",
        "incision_mm": 80, "ebl_ml": 250, "op_time_min": 135, "fluoro_s": 12.5, "los_days": 3,
        "transfusion": False})
    assert r.status_code == 201, r.text
    proc = r.json()
    assert (proc["approach"], proc["family"], proc["technique"]) == ("open", "decompression", None)
    assert (proc["ebl_ml"], proc["incision_mm"], proc["op_time_min"], proc["los_days"]) == (250, 80, 135, 3)
    assert c.get(f"{V1}/episodes/{eid}").json()["index_date"] == surgery.isoformat()  # set by the procedure
    assert [p["id"] for p in c.get(f"{V1}/episodes/{eid}/procedures").json()["items"]] == [proc["id"]]

    r = c.post(f"{V1}/episodes/{eid}/complications", json={
        "category": "dural_tear", "clavien_dindo": "I", "occurred_on": surgery.isoformat(),
        "detail": "repaired primarily"})
    assert r.status_code == 201, r.text
    comp = r.json()
    assert comp["procedure_id"] == proc["id"] and comp["clavien_dindo"] == "I" and comp["category"] == "dural_tear"
    listed = c.get(f"{V1}/episodes/{eid}/complications").json()
    assert listed["total"] == 1 and listed["items"][0]["detail"] == "repaired primarily"

    r = c.post(f"{V1}/episodes/{eid}/readmissions", json={
        "admitted_on": (surgery + dt.timedelta(days=5)).isoformat(), "reason": "wound check"})
    assert r.status_code == 201 and r.json()["admitted_on"] == (surgery + dt.timedelta(days=5)).isoformat()
    r = c.post(f"{V1}/episodes/{eid}/reoperations", json={
        "performed_on": (surgery + dt.timedelta(days=7)).isoformat(), "reason": "complication", "levels": "L4-L5"})
    assert r.status_code == 201, r.text
    assert (r.json()["reason"], r.json()["levels"]) == ("complication", "L4-L5")


# ------------------------------------------------------------------------------ validation


def test_validation_errors_are_422_naming_the_field(app: Any, client_for: Any, world: World) -> None:
    c = client_for("clinician")
    eid, pid = world.episodes["A"], world.patients["A"]

    def field_of(method: str, url: str, **kw: Any) -> str:
        r = c.request(method, url, **kw)
        assert r.status_code == 422, (url, r.status_code, r.text)
        body = r.json()
        assert body["field"] in body["message"]
        return str(body["field"])

    proc = {"procedure_code": "discectomy_tubular", "performed_on": SURGERY.isoformat(), "levels": "L4-L5"}
    assert field_of("POST", f"{V1}/episodes/{eid}/procedures", json={**proc, "ebl_ml": -5}) == "procedure.ebl_ml"
    assert field_of("POST", f"{V1}/episodes/{eid}/procedures", json={**proc, "op_time_min": "long"}) == \
        "procedure.op_time_min"
    assert field_of("POST", f"{V1}/episodes/{eid}/procedures", json={**proc, "procedure_code": "fusion_open_tlif"}
                    ) == "procedure.procedure_code"  # does not match the episode's MIS discectomy
    assert field_of("POST", f"{V1}/episodes/{eid}/procedures", json={**proc, "blood": 5}) == "blood"
    assert field_of("POST", f"{V1}/patients", json={"birth_year": 1970, "sex": "female",
                                                   "identity": {"mrn": "X1"}}) == "identity.full_name"
    assert field_of("POST", f"{V1}/patients", json={"birth_year": 1970, "sex": "robot"}) == "patient.sex"
    assert field_of("POST", f"{V1}/patients/{pid}/episodes", json={
        "diagnosis_code": "Z99.9", "levels": "L4-L5", "enrolled_on": TODAY.isoformat()}) == "episode.diagnosis_code"
    assert field_of("POST", f"{V1}/episodes/{eid}/complications", json={
        "category": "dural_tear", "clavien_dindo": "VI", "occurred_on": SURGERY.isoformat()}) == \
        "complication.clavien_dindo"
    assert field_of("POST", f"{V1}/episodes/{eid}/responses", json={
        "instrument": "odi", "timepoint": "6w", "collected_on": TODAY.isoformat(),
        "answers": {**_odi(1), "walking": 9}}) == "odi.walking"
    assert field_of("POST", f"{V1}/episodes/{eid}/responses", json={
        "instrument": "odi", "timepoint": "12m", "collected_on": TODAY.isoformat(), "answers": _odi(1)}) == \
        "response.collected_on"  # 40 days after surgery is not in the 12-month window
    assert field_of("POST", f"{V1}/episodes/{eid}/responses", json={
        "instrument": "odi", "timepoint": "6w", "collected_on": TODAY.isoformat(), "answers": [1, 2]}) == \
        "response.answers"
    assert field_of("POST", f"{V1}/episodes/{eid}/responses", headers={"Idempotency-Key": "k" * 129}, json={
        "instrument": "odi", "timepoint": "6w", "collected_on": TODAY.isoformat(), "answers": _odi(1)}
    ).endswith("Idempotency-Key")
    # PostgreSQL cannot store NUL: refused up front on both backends, naming the field
    assert field_of("POST", f"{V1}/patients", json={"birth_year": 1970, "sex": "female",
                                                   "identity": {"full_name": "Ann\u0000"}}) == "identity.full_name"
    assert field_of("POST", f"{V1}/episodes/{eid}/complications", json={
        "category": "other", "clavien_dindo": "I", "occurred_on": SURGERY.isoformat(), "detail": "a\u0000"}) == \
        "complication.detail"
    assert field_of("GET", f"{V1}/patients", params={"q": "\u0000"}) == "q"
    assert field_of("POST", f"{V1}/episodes/{eid}/invitations", json={"timepoint": "6w", "instruments": "odi"}) \
        == "invitation.instruments"
    assert field_of("POST", f"{V1}/episodes/{eid}/invitations", json={"timepoint": "6w", "instruments": ["sf36"]}) \
        == "invitation.instruments"
    assert field_of("POST", f"{V1}/episodes/{eid}/invitations", json={
        "timepoint": "6w", "instruments": ["odi"], "valid_days": 365}) == "invitation.valid_days"
    assert field_of("GET", f"{V1}/patients", params={"limit": 0}) == "limit"
    assert field_of("GET", f"{V1}/patients", params={"offset": -1}) == "offset"
    assert field_of("GET", f"{V1}/patients", params={"followup": "soon"}) == "followup"
    assert field_of("GET", f"{V1}/patients/{2**40}") == "patient_id"
    r = c.post(f"{V1}/patients", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "ValidationError"
    assert _count(app) == 2  # nothing was stored by any refused request (the world's two baselines)


# ------------------------------------------------------------------------------ invitations


def test_invitation_returns_token_and_link_once_and_the_link_opens_the_visit(app: Any, client_for: Any,
                                                                             world: World) -> None:
    c = client_for("clinician")
    eid = world.episodes["A"]
    r = c.post(f"{V1}/episodes/{eid}/invitations", json={"timepoint": "6w", "instruments": ["nrs_leg", "odi"],
                                                       "valid_days": 7})
    assert r.status_code == 201, r.text
    inv = r.json()
    assert inv["link"] == f"/p/{inv['token']}" and len(inv["token"]) >= 40
    assert inv["instruments"] == ["nrs_leg", "odi"] and inv["status"] == "open" and inv["created_by"] == "a.clinician"
    expires = dt.datetime.fromisoformat(inv["expires_at"]) - dt.datetime.fromisoformat(inv["created_at"])
    assert expires == dt.timedelta(days=7)

    listed = c.get(f"{V1}/episodes/{eid}/invitations").json()
    assert listed["total"] == 2  # the world's and this one
    assert all("token" not in i and "link" not in i for i in listed["items"])
    assert inv["token"] not in c.get(f"{V1}/episodes/{eid}/invitations").text

    phone = open_patient_session(app, inv["token"])
    visit = phone.get(f"{V1}/visit").json()
    assert visit["timepoint"] == "6w" and visit["due"] == ["nrs_leg", "odi"] and visit["done"] is False
    statuses = {i["id"]: i["status"] for i in c.get(f"{V1}/episodes/{eid}/invitations").json()["items"]}
    assert statuses[inv["id"]] == "opened"
    phone.close()


# ------------------------------------------------------------------------------ PROM responses


def test_response_is_scored_on_submit_and_listed(client_for: Any, world: World) -> None:
    c = client_for("clinician")
    eid = world.episodes["A"]
    r = c.post(f"{V1}/episodes/{eid}/responses", json={
        "instrument": "odi", "timepoint": "6w", "collected_on": TODAY.isoformat(), "answers": _odi(1, 2)})
    assert r.status_code == 201, r.text
    resp = r.json()
    # ODI = sum of item scores / (5 × items answered) × 100 = 15 / 50 × 100 (Fairbank 2000)
    assert resp["score"] == pytest.approx(30.0) and resp["valid"] is True and resp["days_from_index"] == 40
    assert resp["source"] == "clinician" and resp["answers"] == _odi(1, 2)
    r = c.post(f"{V1}/episodes/{eid}/responses", json={
        "instrument": "eq5d5l", "timepoint": "6w", "collected_on": TODAY.isoformat(),
        "answers": {"MO": 1, "SC": 1, "UA": 1, "PD": 1, "AD": 1, "vas": 90}})
    assert r.status_code == 201 and r.json()["score"] == pytest.approx(1.0)  # 11111 is full health
    listed = c.get(f"{V1}/episodes/{eid}/responses").json()
    assert [(i["timepoint"], i["instrument"], i["score"]) for i in listed["items"]] == [
        ("baseline", "odi", pytest.approx(60.0)), ("6w", "odi", pytest.approx(30.0)),
        ("6w", "eq5d5l", pytest.approx(1.0))]
    assert all("idempotency_key" not in i for i in listed["items"])


def test_retried_submission_with_the_same_idempotency_key_stores_one_row(app: Any, client_for: Any,
                                                                         world: World) -> None:
    c = client_for("clinician")
    eid = world.episodes["A"]
    body = {"instrument": "nrs_back", "timepoint": "6w", "collected_on": TODAY.isoformat(), "answers": {"pain": 4}}
    key = {"Idempotency-Key": "9b2f4c1e-flaky-phone"}
    first = c.post(f"{V1}/episodes/{eid}/responses", json=body, headers=key)
    retry = c.post(f"{V1}/episodes/{eid}/responses", json=body, headers=key)  # the answer was lost; resend
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["id"] == retry.json()["id"] and retry.json()["score"] == 4
    assert _count(app, PromResponseRow.episode_id == eid, PromResponseRow.instrument == "nrs_back") == 1
    other = c.post(f"{V1}/episodes/{eid}/responses", json={**body, "answers": {"pain": 5}}, headers=key)
    assert other.status_code == 409 and other.json()["field"] == "idempotency_key"
    again = c.post(f"{V1}/episodes/{eid}/responses", json=body)  # no key: a second 6w NRS is a duplicate
    assert again.status_code == 409 and again.json()["field"] == "response.timepoint"
    assert _count(app, PromResponseRow.episode_id == eid, PromResponseRow.instrument == "nrs_back") == 1
    # keys are per client: a colleague's identical key is a different key, not a conflict
    colleague = client_for("coordinator").post(f"{V1}/episodes/{eid}/responses", headers=key, json={
        **body, "instrument": "nrs_leg", "answers": {"pain": 6}})
    assert colleague.status_code == 201 and colleague.json()["id"] != first.json()["id"]

    # two retries racing: the loser's insert hits the key's unique constraint and is answered as a replay
    store, actor = app.state.store, Actor("a.clinician", "clinician", world.sites["A"])
    data = {"instrument": "global_outcome", "timepoint": "6w", "collected_on": TODAY.isoformat(),
            "answers": {"outcome": 1, "satisfaction": 1}}
    calls: list[str | None] = []

    def submit(k: str | None) -> int:
        calls.append(k)
        if len(calls) == 1:  # the concurrent twin commits first, then our insert is refused
            store.submit_response(actor, eid, data, idempotency_key=k)
            raise ConflictError("the database refused the record")
        return int(store.submit_response(actor, eid, data, idempotency_key=k))

    rid, created = reads.submit_idempotent(submit, store, actor, "race-key")
    stored_key = reads.scoped_idempotency_key(actor, "race-key")
    assert created is False and calls == [stored_key, stored_key]
    assert _count(app, PromResponseRow.idempotency_key == stored_key) == 1
    assert _count(app, PromResponseRow.id == rid, PromResponseRow.instrument == "global_outcome") == 1


# ------------------------------------------------------------------------------ patient visit


def test_patient_visit_pause_resume_submit_retry_and_trajectory(app: Any, world: World) -> None:
    phone = open_patient_session(app, world.invitations["A"])
    visit = phone.get(f"{V1}/visit").json()
    assert visit["due"] == ["odi", "nrs_back", "eq5d5l"] and visit["timepoint_label"] == "6 weeks"
    q = phone.get(f"{V1}/visit/questionnaires/odi").json()
    assert [i["code"] for i in q["definition"]["items"]] == list(ODI_ITEMS) and q["draft"] == {}
    assert q["definition"]["items"][0]["options"][5]["value"] == 5
    assert phone.get(f"{V1}/visit/questionnaires/rmdq").status_code == 404  # not part of this visit

    r = phone.put(f"{V1}/visit/drafts/odi", json={"answers": {"pain_intensity": 2, "walking": 1}})
    assert r.status_code == 200 and r.json()["answers"] == {"pain_intensity": 2, "walking": 1}
    bad = phone.put(f"{V1}/visit/drafts/odi", json={"answers": {"walking": 7}})
    assert bad.status_code == 422 and bad.json()["field"] == "odi.walking"
    assert phone.get(f"{V1}/visit/questionnaires/odi").json()["draft"] == {"pain_intensity": 2, "walking": 1}
    no_csrf = phone.put(f"{V1}/visit/drafts/odi", json={"answers": {}}, headers={"X-CSRF-Token": "forged"})
    assert no_csrf.status_code == 401

    answers = {"odi": _odi(1), "nrs_back": {"pain": 3}, "eq5d5l": {"MO": 2, "SC": 1, "UA": 2, "PD": 2, "AD": 1,
                                                                   "vas": 70}}
    ids = {}
    for n, (instrument, given) in enumerate(answers.items()):
        r = phone.post(f"{V1}/visit/responses", json={"instrument": instrument, "answers": given},
                       headers={"Idempotency-Key": f"visit-A-{instrument}"})
        assert r.status_code == 201, r.text
        ids[instrument] = r.json()["response_id"]
        assert r.json()["due"] == list(answers)[n + 1:] and r.json()["done"] is (n == 2)
    # the phone lost the last answer and resends it after the visit closed: same id, no duplicate
    retry = phone.post(f"{V1}/visit/responses", json={"instrument": "eq5d5l", "answers": answers["eq5d5l"]},
                       headers={"Idempotency-Key": "visit-A-eq5d5l"})
    assert retry.status_code == 200 and retry.json()["response_id"] == ids["eq5d5l"] and retry.json()["done"]
    assert _count(app, PromResponseRow.episode_id == world.episodes["A"], PromResponseRow.timepoint == "6w") == 3
    late = phone.post(f"{V1}/visit/responses", json={"instrument": "odi", "answers": _odi(2)},
                      headers={"Idempotency-Key": "visit-A-new"})
    assert late.status_code == 401  # a closed visit accepts only replays
    assert phone.get(f"{V1}/visit/questionnaires/odi").status_code == 401  # and no more questionnaires

    done = phone.get(f"{V1}/visit").json()
    assert done["done"] is True and done["completed"] == ["odi", "nrs_back", "eq5d5l"]
    traj = phone.get(f"{V1}/visit/trajectory").json()
    odi = [(p["timepoint"], p["score"]) for p in traj["points"] if p["instrument"] == "odi"]
    assert odi == [("baseline", pytest.approx(60.0)), ("6w", pytest.approx(20.0))]
    assert {p["episode_id"] for p in traj["points"]} == {world.episodes["A"]}
    scales = {s["instrument"]: s for s in traj["scales"]}
    assert scales["odi"]["mcid"] == 10.0 and scales["odi"]["higher_is_better"] is False
    assert scales["nrs_back"]["mcid"] == 2.0 and scales["eq5d5l"]["mcid"] is None
    phone.close()


# ------------------------------------------------------------------------------ status and aggregates


def _add_baseline_odi(store: Any, site_id: int, n: int, values: tuple[int, ...]) -> None:
    actor = Actor("loader", "clinician", site_id)
    pid = store.add_patient(actor, site_id, {"birth_year": 1960 + n, "sex": "male"})
    eid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L5-S1", "treatment": "mis",
                                         "treatment_family": "discectomy",
                                         "enrolled_on": (TODAY - dt.timedelta(days=5)).isoformat()})
    store.submit_response(SYSTEM, eid, {"instrument": "odi", "timepoint": "baseline",
                                        "collected_on": (TODAY - dt.timedelta(days=5)).isoformat(),
                                        "answers": _odi(*values)}, source="import")


def test_status_counts_and_outcome_aggregates_with_small_cell_suppression(app: Any, client_for: Any,
                                                                           world: World) -> None:
    store = app.state.store
    # site A baseline ODI scores: the world's 60, plus 20, 40, 50, 70 (ODI = 2 × sum of the ten items)
    for n, values in enumerate([(1,), (2,), (2, 3), (3, 4)]):
        _add_baseline_odi(store, world.sites["A"], n, values)

    status = client_for("researcher").get(f"{V1}/status").json()
    assert (status["sites"], status["patients"], status["episodes"], status["procedures"]) == (2, 6, 6, 2)
    assert status["prom_responses_by_instrument"] == {"odi": 6} and status["episodes_by_treatment"] == {"mis": 6}
    baseline = status["followup_completeness"][0]
    assert baseline == {"timepoint": "baseline", "eligible": 6, "completed": 6, "completeness": 1.0}

    site_a = client_for("clinician").get(f"{V1}/aggregates/outcomes").json()
    assert site_a["scope"] == "site" and site_a["site_id"] == world.sites["A"] and site_a["min_cell_size"] == 5
    [cell] = site_a["cells"]
    # [20, 40, 50, 60, 70]: quartiles by linear interpolation (R quantile type 7)
    assert (cell["treatment"], cell["timepoint"], cell["instrument"], cell["n"]) == ("mis", "baseline", "odi", 5)
    assert (cell["mean"], cell["median"], cell["q1"], cell["q3"]) == pytest.approx((48.0, 50.0, 40.0, 60.0))

    everyone = client_for("researcher").get(f"{V1}/aggregates/outcomes").json()
    [cell] = everyone["cells"]
    # [20, 40, 50, 60, 60, 70]: q1 at position 1.25 → 40 + 0.25 × 10; q3 at 3.75 → 60
    assert everyone["scope"] == "all_sites" and cell["n"] == 6
    assert (cell["mean"], cell["median"], cell["q1"], cell["q3"]) == pytest.approx((50.0, 55.0, 42.5, 60.0))
    text = client_for("researcher").get(f"{V1}/aggregates/outcomes").text
    assert "Patient A" not in text and "MRN" not in text and "ST-" not in text

    site_b = client_for("other_clinician").get(f"{V1}/aggregates/outcomes").json()
    assert site_b["cells"] == [{"treatment": "mis", "timepoint": "baseline", "instrument": "odi", "suppressed": True,
                                "n": None, "mean": None, "median": None, "q1": None, "q3": None}]  # n = 1 < 5
    with app.state.engine.connect() as conn:
        actors = set(conn.execute(select(AuditRow.actor).where(AuditRow.entity == "outcome_aggregates")).scalars())
    assert actors == {"a.clinician", "researcher", "b.clinician"}


# ------------------------------------------------------------------------------ OpenAPI


def test_openapi_lists_every_api_path_with_documented_schemas(tmp_path: Path) -> None:
    """The document needs no database: one run, not one per backend."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'openapi.db'}"))
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    routes = api_endpoints(app)
    assert len(routes) >= 25 and ("POST", f"{V1}/episodes/{{episode_id}}/responses") in routes
    assert all(method.lower() in paths.get(path, {}) for method, path in routes)
    for path in ("/api/v1/patients", "/api/v1/patients/{patient_id}", "/api/v1/episodes/{episode_id}/procedures",
                 "/api/v1/episodes/{episode_id}/responses", "/api/v1/episodes/{episode_id}/invitations",
                 "/api/v1/status", "/api/v1/aggregates/outcomes", "/api/v1/visit/responses"):
        assert path in paths
    schemas = doc["components"]["schemas"]
    proc = schemas["ProcedureCreate"]
    assert proc["properties"]["ebl_ml"]["type"] == "number" and "mL" in proc["properties"]["ebl_ml"]["description"]
    assert "discectomy_tubular" in proc["properties"]["procedure_code"]["enum"]
    assert set(proc["required"]) == {"procedure_code", "performed_on", "levels"}
    assert schemas["PatientCreate"]["additionalProperties"] is False
    post = paths["/api/v1/episodes/{episode_id}/responses"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    assert {"200", "201", "409", "422"} <= set(post["responses"])
    assert {t for p in paths.values() for op in p.values() for t in op.get("tags", [])} >= {
        "patients", "episodes", "procedures", "complications", "invitations", "responses", "status", "visit"}
