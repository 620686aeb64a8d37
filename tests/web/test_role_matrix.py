"""Every /api/v1 endpoint × every role: the expected status, no leak across sites or patients,
and an audit row naming the actor for every successful read or write of patient data.

Roles: anonymous, clinician and coordinator of site A, clinician of site B, researcher,
admin, and the patient sessions of site A's and site B's invitations. Every request targets
site A's records (its patient, its episode). The endpoint list is generated from the app's
routes: a new endpoint without a row here fails ``test_matrix_covers_every_api_endpoint``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spinetrack import clock
from spinetrack.config import Settings
from spinetrack.store.access import hash_token
from spinetrack.store.tables import AuditRow, InvitationRow, PatientRow
from spinetrack.web.app import create_app
from tests.web.conftest import ACCOUNTS, World
from tests.web.test_api import (
    V1,
    api_endpoints,
    fast_password_hashing,  # noqa: F401  (autouse fixture: applies here too)
    open_patient_session,
)

ROLES = ("anonymous", "clinician", "coordinator", "other_clinician", "researcher", "admin", "patient_a", "patient_b")
TODAY = clock.today()
SURGERY = TODAY - dt.timedelta(days=40)  # the world's procedure date (conftest.build_world)


def _days(n: int) -> str:
    return (SURGERY + dt.timedelta(days=n)).isoformat()


#                    anon  clin  coord other research admin pat_a pat_b
CLINIC_READ = (401, 200, 200, 404, 403, 403, 401, 401)
CLINIC_WRITE = (401, 201, 201, 404, 403, 403, 401, 401)
OWN_SITE_READ = (401, 200, 200, 200, 403, 403, 401, 401)   # the caller's own site: no target record
OWN_SITE_WRITE = (401, 201, 201, 201, 403, 403, 401, 401)
ANY_STAFF = (401, 200, 200, 200, 200, 200, 401, 401)
AGGREGATES = (401, 200, 200, 200, 200, 403, 401, 401)
VISIT_READ = (401, 401, 401, 401, 401, 401, 200, 200)        # the session's own visit only
VISIT_WRITE = (401, 401, 401, 401, 401, 401, 201, 201)
LOGOUT = (401, 204, 204, 204, 204, 204, 401, 401)
CLINICIAN_READ = (401, 200, 403, 404, 403, 403, 401, 401)    # red-flag screening: clinicians only
CLINICIAN_WRITE = (401, 201, 403, 404, 403, 403, 401, 401)


@dataclass(frozen=True)
class Row:
    expected: tuple[int, ...]
    body: Callable[[str], Any] | None = None   # role key → JSON body
    patient_data: bool = True                   # a success must leave an audit row naming the actor
    headers: dict[str, str] = field(default_factory=dict)


def _response_body(role: str) -> dict[str, Any]:
    # each clinic role submits a different questionnaire, so that no write collides with another
    instrument, answers = {"coordinator": ("global_outcome", {"outcome": 2, "satisfaction": 1})}.get(
        role, ("nrs_leg", {"pain": 3}))
    return {"instrument": instrument, "timepoint": "6w", "collected_on": TODAY.isoformat(), "answers": answers}


# (METHOD, path) → Row. Rows run in this order; logout stays last (it ends the staff sessions).
MATRIX: dict[tuple[str, str], Row] = {
    ("POST", f"{V1}/auth/login"): Row((422,) * 8, lambda role: {"username": "", "password": ""}, False),
    ("GET", f"{V1}/auth/me"): Row(ANY_STAFF, patient_data=False),
    ("GET", f"{V1}/patients"): Row(OWN_SITE_READ),
    ("POST", f"{V1}/patients"): Row(OWN_SITE_WRITE, lambda role: {
        "birth_year": 1980, "sex": "female", "identity": {"full_name": f"Matrix {role}"}}),
    ("GET", f"{V1}/patients/{{patient_id}}"): Row(CLINIC_READ),
    ("GET", f"{V1}/patients/{{patient_id}}/episodes"): Row(CLINIC_READ),
    ("POST", f"{V1}/patients/{{patient_id}}/episodes"): Row(CLINIC_WRITE, lambda role: {
        "diagnosis_code": "M51.16", "levels": "L5-S1", "treatment": "conservative",
        "enrolled_on": TODAY.isoformat()}),
    ("GET", f"{V1}/episodes/{{episode_id}}"): Row(CLINIC_READ),
    ("POST", f"{V1}/episodes/{{episode_id}}/procedures"): Row(CLINIC_WRITE, lambda role: {
        "procedure_code": "discectomy_tubular", "performed_on": _days(0), "levels": "L4-L5", "ebl_ml": 25}),
    ("GET", f"{V1}/episodes/{{episode_id}}/procedures"): Row(CLINIC_READ),
    ("POST", f"{V1}/episodes/{{episode_id}}/complications"): Row(CLINIC_WRITE, lambda role: {
        "category": "other", "clavien_dindo": "I", "occurred_on": _days(1)}),
    ("GET", f"{V1}/episodes/{{episode_id}}/complications"): Row(CLINIC_READ),
    ("POST", f"{V1}/episodes/{{episode_id}}/readmissions"): Row(CLINIC_WRITE, lambda role: {"admitted_on": _days(3)}),
    ("POST", f"{V1}/episodes/{{episode_id}}/reoperations"): Row(CLINIC_WRITE, lambda role: {
        "performed_on": _days(5), "reason": "other"}),
    ("POST", f"{V1}/episodes/{{episode_id}}/invitations"): Row(CLINIC_WRITE, lambda role: {
        "timepoint": "3m", "instruments": ["odi"]}),
    ("GET", f"{V1}/episodes/{{episode_id}}/invitations"): Row(CLINIC_READ),
    ("POST", f"{V1}/episodes/{{episode_id}}/responses"): Row(CLINIC_WRITE, _response_body),
    ("GET", f"{V1}/episodes/{{episode_id}}/responses"): Row(CLINIC_READ),
    ("POST", f"{V1}/episodes/{{episode_id}}/screening"): Row(CLINICIAN_WRITE, lambda role: {
        "saddle_anaesthesia": "no", "suspected_fracture": "no", "imaging_concordant": "yes",
        "assessed_on": TODAY.isoformat()}),
    ("GET", f"{V1}/episodes/{{episode_id}}/screening"): Row(CLINICIAN_READ),
    ("GET", f"{V1}/patients/{{patient_id}}/decision-support"): Row(CLINICIAN_READ),
    ("GET", f"{V1}/status"): Row(ANY_STAFF, patient_data=False),
    ("GET", f"{V1}/aggregates/outcomes"): Row(AGGREGATES, patient_data=False),
    # no benchmark is saved in this world: the roles that may read it get 404 (tests/web/test_benchmark_pages.py)
    ("GET", f"{V1}/benchmark"): Row((401, 404, 404, 404, 404, 403, 401, 401), patient_data=False),
    ("GET", f"{V1}/visit"): Row(VISIT_READ),
    ("GET", f"{V1}/visit/questionnaires/{{instrument}}"): Row(VISIT_READ),
    ("PUT", f"{V1}/visit/drafts/{{instrument}}"): Row(VISIT_READ, lambda role: {"answers": {"walking": 1}}),
    ("POST", f"{V1}/visit/responses"): Row(VISIT_WRITE, lambda role: {"instrument": "nrs_back", "answers": {"pain": 5}},
                                           headers={"Idempotency-Key": "matrix-visit"}),
    ("GET", f"{V1}/visit/trajectory"): Row(VISIT_READ),
    # ending the episode's follow-up runs last but one: the clinician ends it, the coordinator then finds it ended
    ("POST", f"{V1}/episodes/{{episode_id}}/end"): Row((401, 200, 409, 404, 403, 403, 401, 401), lambda role: {
        "ended_on": TODAY.isoformat(), "reason": "withdrew"}),
    ("POST", f"{V1}/auth/logout"): Row(LOGOUT, patient_data=False),
}


def test_matrix_covers_every_api_endpoint(tmp_path: Path) -> None:
    """No database needed: the routes alone. A new endpoint needs a row; a removed one its row gone."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}"))
    endpoints = api_endpoints(app)
    assert set(MATRIX) - endpoints == set(), "rows for endpoints that no longer exist"
    assert endpoints - set(MATRIX) == set(), "endpoints without a row in the role matrix"
    assert all(len(row.expected) == len(ROLES) for row in MATRIX.values())


def _audit_max(app: Any) -> int:
    with app.state.engine.connect() as c:
        return int(c.execute(select(func.coalesce(func.max(AuditRow.id), 0))).scalar_one())


def _audit_since(app: Any, after: int) -> list[Any]:
    with app.state.engine.connect() as c:
        return list(c.execute(select(AuditRow.actor, AuditRow.action, AuditRow.patient_id)
                              .where(AuditRow.id > after)).all())


def test_every_endpoint_against_every_role(app: Any, client_for: Any, world: World) -> None:
    clients: dict[str, TestClient] = {role: client_for(role) for role in ROLES[:6]}
    clients["patient_a"] = open_patient_session(app, world.invitations["A"])
    clients["patient_b"] = open_patient_session(app, world.invitations["B"])
    with app.state.engine.connect() as c:
        invitation_of = {key: c.execute(select(InvitationRow.id).where(
            InvitationRow.token_hash == hash_token(world.invitations[key]))).scalar_one() for key in ("A", "B")}
    actor_name = {**{k: ACCOUNTS[k][0] for k in ROLES[1:6]}, "anonymous": None,
                  "patient_a": f"patient:invitation/{invitation_of['A']}",
                  "patient_b": f"patient:invitation/{invitation_of['B']}"}

    def allowed_patients(role: str) -> set[int]:
        """The patients whose records this role may touch (checked against the audit rows)."""
        if role in ("patient_a", "patient_b"):
            return {world.patients[role[-1].upper()]}
        site = {"clinician": "A", "coordinator": "A", "other_clinician": "B"}.get(role)
        if site is None:
            return set()
        with app.state.engine.connect() as c:
            return set(c.execute(select(PatientRow.id).where(PatientRow.site_id == world.sites[site])).scalars())

    # an id that exists nowhere answers exactly like site A's record does to these roles
    unknown = {role: clients[role].get(f"{V1}/patients/999999") for role in ("other_clinician", "researcher")}
    assert (unknown["other_clinician"].status_code, unknown["researcher"].status_code) == (404, 403)

    ids = {"patient_id": world.patients["A"], "episode_id": world.episodes["A"], "instrument": "odi"}
    mismatches: list[str] = []
    seen: dict[tuple[str, str, str], Any] = {}
    for (method, template), row in MATRIX.items():
        url = template.format(**ids)
        for role, expected in zip(ROLES, row.expected, strict=True):
            before = _audit_max(app)
            kwargs: dict[str, Any] = {"headers": row.headers}
            if row.body is not None:
                kwargs["json"] = row.body(role)
            r = clients[role].request(method, url, **kwargs)
            seen[(method, template, role)] = r
            if r.status_code != expected:
                mismatches.append(f"{method} {template} as {role}: {r.status_code} (expected {expected}) "
                                  f"{r.text[:160]}")
                continue
            new = _audit_since(app, before)
            mine = [a for a in new if a.actor == actor_name[role]]
            if 200 <= r.status_code < 300 and row.patient_data:
                wanted = {"read"} if method == "GET" else {"create", "update"}
                if not any(a.action in wanted for a in mine):
                    mismatches.append(f"{method} {template} as {role}: no {'/'.join(sorted(wanted))} audit row "
                                      f"naming {actor_name[role]} (got {new})")
                strays = {a.patient_id for a in new if a.patient_id is not None} - allowed_patients(role)
                if strays:
                    mismatches.append(f"{method} {template} as {role}: audit shows patients {strays} touched")
            elif r.status_code >= 400 and any(a.action in ("read", "create", "update") for a in mine):
                mismatches.append(f"{method} {template} as {role}: refused ({r.status_code}) but audited {mine}")
            if r.status_code >= 400 and role != "anonymous":
                assert "Patient A Example" not in r.text and "MRN-A-1" not in r.text
    assert not mismatches, "\n".join(mismatches)

    # no leak in what the successes returned
    b_list = seen[("GET", f"{V1}/patients", "other_clinician")].json()
    assert world.patients["A"] not in {i["patient_id"] for i in b_list["items"]}
    assert "Patient A Example" not in seen[("GET", f"{V1}/patients", "other_clinician")].text
    a_list = seen[("GET", f"{V1}/patients", "clinician")].json()
    assert world.patients["B"] not in {i["patient_id"] for i in a_list["items"]}
    for key, other in (("a", "B"), ("b", "A")):
        traj = seen[("GET", f"{V1}/visit/trajectory", f"patient_{key}")].json()
        assert {p["episode_id"] for p in traj["points"]} == {world.episodes[key.upper()]}
        assert world.episodes[other] not in {p["episode_id"] for p in traj["points"]}
    other_site = seen[("GET", f"{V1}/patients/{{patient_id}}", "other_clinician")].json()
    assert other_site["error"] == unknown["other_clinician"].json()["error"] == "NotFoundError"
    assert other_site["message"] == f"patient {world.patients['A']} not found"  # the same words as for 999999
    assert clients["clinician"].get(f"{V1}/patients/{world.patients['A']}").status_code == 401  # logged out
    for role in ("patient_a", "patient_b"):
        clients[role].close()


# The researcher's pages (outside /api/v1): researchers only; a clinic role or an admin is refused
# before anything is read; without a staff session (a patient's included) the sign-in page. No
# analysis is saved in this world, so the researcher's download answers 404
# (tests/web/test_research_pages.py has the rest).
#                    anon  clin  coord other research admin pat_a pat_b
RESEARCH_PAGES = {"/research": (303, 403, 403, 403, 200, 403, 303, 303),
                  "/research/report.html": (303, 403, 403, 403, 404, 403, 303, 303),
                  "/research/exports": (303, 403, 403, 403, 200, 403, 303, 303)}


def test_research_pages_against_every_role(app: Any, client_for: Any, world: World, tmp_path: Path,
                                           monkeypatch: Any) -> None:
    monkeypatch.setattr(app.state.settings, "analyses_dir", str(tmp_path / "none"))
    clients: dict[str, TestClient] = {role: client_for(role) for role in ROLES[:6]}
    clients["patient_a"] = open_patient_session(app, world.invitations["A"])
    clients["patient_b"] = open_patient_session(app, world.invitations["B"])
    got = {url: tuple(clients[role].get(url, follow_redirects=False).status_code for role in ROLES)
           for url in RESEARCH_PAGES}
    assert got == RESEARCH_PAGES
    with app.state.engine.connect() as c:
        readers = {a.actor for a in c.execute(select(AuditRow.actor).where(AuditRow.entity == "scorecard"))}
    assert readers == {ACCOUNTS["researcher"][0]}  # the refused roles read nothing
    for role in ("patient_a", "patient_b"):
        clients[role].close()
