"""Bad input on every write endpoint (API and forms), on SQLite and PostgreSQL: never a 5xx,
always a 4xx whose message names the field, and nothing stored.

The endpoints are not listed by hand: every route with POST, PUT, PATCH or DELETE in
``app.routes`` is tested, and ``test_every_write_endpoint_has_a_valid_baseline`` fails for a new
one until ``BASELINES`` holds a valid request for it (the fields of an API body come from its
OpenAPI schema; a form's from its baseline). Each bad value replaces one field of that valid
request, so that the answer can only be about that field.

Classes and their oracles
-------------------------
lone surrogate ``"\\ud800"``   RFC 8259 §8.2 and Unicode §3.9: a lone surrogate is not a Unicode
                               scalar value; it cannot be encoded as UTF-8, so neither database
                               can store it. (API only: the WHATWG URL-encoded parser turns the
                               invalid UTF-8 bytes a form could carry into U+FFFD, a valid character.)
NUL byte                       PostgreSQL text cannot hold U+0000; SQLite would store it, so a form
                               and the API must refuse it alike.
100 kB string                  every text field has a documented limit (at most 2,000 characters).
ids 2^63 and -1 in the path    SQLite INTEGER is 64-bit signed (2^63 overflows the driver), ids
                               start at 1; the app's id columns are 32-bit (1 … 2,147,483,647).
dates 0001-01-01, 9999-12-31   the app's own plausibility range: 1900-01-01 to today (today + 2
                               years for a planned index date); Python's date arithmetic overflows
                               near year 9999.
JSON ``true`` / a number       RFC 8259 types: where the schema says string, another JSON type is
                               refused, not coerced (``true`` is not "yes").
wrong content type             RFC 9110 §15.5.16: a body the endpoint cannot read is refused (4xx).

About 430 requests per backend; ~25 s on SQLite (two shared cores).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, table

from spinetrack import clock
from tests.security.world_followup import add_followup
from tests.web.conftest import ACCOUNTS, World, login
from tests.web.test_api import iter_routes

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SURROGATE, NUL, LONG = "\ud800", "a\x00b", "x" * 100_000
TEXT_CLASSES = {"lone surrogate": SURROGATE, "NUL byte": NUL, "100 kB string": LONG}
DATE_CLASSES = ("0001-01-01", "9999-12-31")
ID_CLASSES = (2**63, -1)
NOT_TEXT_CLASSES = {"JSON true": True, "a number": 12345}
# Tables a refused request may still write: the audit trail (failed sign-ins, reads), sessions
# and sign-in throttling.
NOT_COUNTED = re.compile(r"audit|session|login|throttle|attempt|alembic")


def _today() -> dt.date:
    return clock.today()


def _day(days: int) -> str:
    return (_today() + dt.timedelta(days=days)).isoformat()


ODI = {"pain_intensity": 1, "personal_care": 1, "lifting": 1, "walking": 1, "sitting": 1, "standing": 1,
       "sleeping": 1, "sex_life": 1, "social_life": 1, "travelling": 1}
NO_FLAGS = {q: "no" for q in ("saddle_anaesthesia", "bladder_bowel_dysfunction", "bilateral_leg_symptoms",
                              "suspected_infection", "suspected_malignancy", "suspected_fracture",
                              "progressive_motor_deficit", "severe_motor_deficit")}
EPISODE_FORM = {"diagnosis_code": "M51.16", "levels": "L4-L5", "treatment": "mis", "treatment_family": "discectomy",
                "enrolled_on": _day(-10), "index_date": _day(-5)}


@dataclass(frozen=True)
class Baseline:
    """A valid request of one endpoint: who sends it, and its body (API JSON or form fields)."""

    actor: str  # clinician, admin, researcher, patient, anonymous
    body: dict[str, Any] | None


BASELINES: dict[tuple[str, str], Baseline] = {
    # API (JSON bodies)
    ("POST", "/api/v1/auth/login"): Baseline("anonymous", {"username": "nobody", "password": "wrong-password-123"}),
    ("POST", "/api/v1/auth/logout"): Baseline("clinician", None),
    ("POST", "/api/v1/patients"): Baseline("clinician", {
        "birth_year": 1970, "sex": "female", "smoking": "never", "work_status": "employed",
        "identity": {"full_name": "Bad Input", "mrn": "MRN-BAD-1", "email": "bad@example.org", "phone": "0123"}}),
    ("POST", "/api/v1/patients/{patient_id}/episodes"): Baseline("clinician", {
        **EPISODE_FORM, "levels": ["L4-L5"], "conservative_care": ["physiotherapy"],
        "imaging_findings": [{"level": "L4-L5", "kind": "disc_herniation", "morphology": "protrusion",
                              "zone": "foraminal"}]}),
    ("POST", "/api/v1/episodes/{episode_id}/procedures"): Baseline("clinician", {
        "procedure_code": "discectomy_tubular", "performed_on": _day(-40), "levels": "L4-L5", "ebl_ml": 30}),
    ("POST", "/api/v1/episodes/{episode_id}/complications"): Baseline("clinician", {
        "category": "dural_tear", "clavien_dindo": "I", "occurred_on": _day(-30), "detail": "small tear"}),
    ("POST", "/api/v1/episodes/{episode_id}/readmissions"): Baseline("clinician", {
        "admitted_on": _day(-30), "reason": "pain"}),
    ("POST", "/api/v1/episodes/{episode_id}/reoperations"): Baseline("clinician", {
        "performed_on": _day(-20), "reason": "recurrent_herniation", "levels": "L4-L5"}),
    ("POST", "/api/v1/episodes/{episode_id}/invitations"): Baseline("clinician", {
        "timepoint": "3m", "instruments": ["odi"], "valid_days": 14}),
    ("POST", "/api/v1/episodes/{episode_id}/responses"): Baseline("clinician", {
        "instrument": "nrs_back", "timepoint": "6w", "collected_on": _day(0), "answers": {"nrs_back": 3}}),
    ("POST", "/api/v1/episodes/{episode_id}/screening"): Baseline("clinician", {
        **NO_FLAGS, "assessed_on": _day(0), "imaging_concordant": "yes"}),
    ("POST", "/api/v1/episodes/{episode_id}/end"): Baseline("clinician", {"ended_on": _day(0), "reason": "withdrew"}),
    ("PUT", "/api/v1/visit/drafts/{instrument}"): Baseline("patient", {"answers": {"pain_intensity": 1}}),
    ("POST", "/api/v1/visit/responses"): Baseline("patient", {"instrument": "odi", "answers": ODI}),
    # forms
    ("POST", "/login"): Baseline("anonymous", {"username": "nobody", "password": "wrong-password-123", "next": ""}),
    ("POST", "/logout"): Baseline("clinician", {}),
    ("POST", "/clinic/enrol"): Baseline("clinician", {
        "full_name": "Bad Input", "mrn": "MRN-BAD-2", "email": "bad@example.org", "phone": "0123",
        "birth_year": "1970", "sex": "female", **EPISODE_FORM}),
    ("POST", "/clinic/patients/{patient_id}/episodes"): Baseline("clinician", dict(EPISODE_FORM)),
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/procedure"): Baseline("clinician", {
        "procedure_code": "discectomy_tubular", "performed_on": _day(-40), "levels": "L4-L5", "ebl_ml": "30"}),
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/complications"): Baseline("clinician", {
        "category": "dural_tear", "clavien_dindo": "I", "occurred_on": _day(-30), "detail": "small tear"}),
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/invitations"): Baseline("clinician", {
        "timepoint": "3m", "instruments": "odi"}),
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/screening"): Baseline("clinician", {
        **NO_FLAGS, "assessed_on": _day(0)}),
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/end"): Baseline("clinician", {
        "ended_on": _day(0), "end_reason": "moved_away"}),
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/end/undo"): Baseline("clinician", {}),
    ("POST", "/admin/users"): Baseline("admin", {
        "username": "new.user", "display_name": "New User", "role": "clinician", "site_id": "{site_id}"}),
    ("POST", "/admin/users/{user_id}/deactivate"): Baseline("admin", {}),
    ("POST", "/admin/users/{user_id}/reset-password"): Baseline("admin", {}),
    ("POST", "/admin/users/{user_id}/link"): Baseline("admin", {}),
    ("POST", "/admin/users/{user_id}/reset-two-factor"): Baseline("admin", {}),
    ("POST", "/admin/roles/two-factor"): Baseline("admin", {"role": "researcher", "require": "yes"}),
    ("POST", "/login/two-factor"): Baseline("anonymous", {"code": "123456", "next": ""}),
    ("POST", "/account/two-factor"): Baseline("clinician", {"code": "123456", "next": ""}),
    ("POST", "/admin/users/{user_id}/role"): Baseline("admin", {"role": "clinician", "site_id": "{site_id}"}),
    ("POST", "/set-password"): Baseline("anonymous", {"password": "a-long-password-123",
                                                      "password_again": "a-long-password-123"}),
    ("POST", "/admin/users/{user_id}/activate"): Baseline("admin", {}),
    ("POST", "/admin/sites"): Baseline("admin", {"code": "SITE-BAD", "name": "Bad Site", "country": "GB"}),
    ("POST", "/p/q/{instrument}"): Baseline("patient", {"step": "1", "answer": "1", "action": "save"}),
    ("POST", "/p/q/{instrument}/submit"): Baseline("patient",
                                                  {"idempotency_key": "5f0c6c1e-2b1a-4f4e-9a57-3d2f8a0b9c11"}),
    ("POST", "/p/leave"): Baseline("patient", {}),
    ("POST", "/p/language"): Baseline("anonymous", {"language": "es", "next": "/p/visit"}),
    ("POST", "/language"): Baseline("anonymous", {"language": "es", "next": "/clinic"}),
    # the patient home (its id cases are refused before the session is looked at)
    ("POST", "/p/h/{token}/new-link"): Baseline("anonymous", {}),
    ("POST", "/p/h/{token}/stop"): Baseline("anonymous", {}),
    ("POST", "/p/home/visit/{invitation_id}"): Baseline("patient", {}),
    ("POST", "/p/home/stop"): Baseline("patient", {}),
    ("POST", "/p/home/leave"): Baseline("patient", {}),
    # patient page: contact preferences (the hidden "episode" field the page sends), the decision aid
    ("POST", "/clinic/patients/{patient_id}/contact"): Baseline("clinician", {
        "channel": "letter", "contact_consent": "yes", "postal_address": "2 Example Road, Exampletown",
        "opted_out": "no", "episode": "{episode_id}"}),
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/decision-aid"): Baseline("clinician", {}),
    # the coordinator's worklist (on the world's open 6-week visit, tests/security/conftest.add_followup); the
    # back_* fields are the worklist's filters, which the page's action forms carry back
    ("POST", "/clinic/followup/{followup_id}/resend"): Baseline("clinician", {
        "back_site": "{site_id}", "back_timepoint": "6w", "back_status": "due"}),
    ("POST", "/clinic/followup/{followup_id}/unreachable"): Baseline("clinician", {
        "back_site": "{site_id}", "back_timepoint": "6w", "back_status": "due"}),
    ("POST", "/clinic/followup/{followup_id}/answers"): Baseline("clinician", {
        "source": "phone", "collected_on": _day(0), "nrs_back.pain": "4"}),
    # admin: a site's schedule (the rows switched on; see test_bad_input_on_every_write_endpoint) and contact
    ("POST", "/admin/schedules/{site_id}"): Baseline("admin", {
        "6w.enabled": "on", "6w.window_from_days": "29", "6w.window_to_days": "63", "6w.reminder_offsets": "0, 7",
        "6w.instruments": "nrs_back", "12m.enabled": "on", "12m.window_from_days": "274",
        "12m.window_to_days": "547", "12m.reminder_offsets": "0, 7, 14", "12m.instruments": "odi"}),
    ("POST", "/admin/sites/{site_id}/contact"): Baseline("admin", {
        "contact_phone": "+44 20 7946 0000", "contact_email": "clinic@example.org"}),
    # issue 19: events and corrections on the patient page, the clinic's logo, licensed wording (the
    # uploads' file fields are left out: each bad value goes in a text field), what matters most
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/readmissions"): Baseline("clinician", {
        "admitted_on": _day(-20), "reason": "wound check"}),
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/reoperations"): Baseline("clinician", {
        "performed_on": _day(-10), "reason": "recurrent_herniation", "levels": "L4-L5"}),
    ("POST", "/clinic/patients/{patient_id}/corrections"): Baseline("clinician", {
        "entity": "episode", "entity_id": "{episode_id}", "field": "levels", "new_value": "L4-L5",
        "reason": "typing error", "episode": "{episode_id}"}),
    ("POST", "/admin/sites/{site_id}/logo"): Baseline("admin", {}),
    # issue 21: a site takes part in surgeon-level benchmarking (yes) or stops (no)
    ("POST", "/admin/sites/{site_id}/surgeon-benchmarking"): Baseline("admin", {"take_part": "yes"}),
    ("POST", "/admin/sites/{site_id}/logo/remove"): Baseline("admin", {}),
    ("POST", "/admin/wording"): Baseline("admin", {}),
    ("POST", "/admin/wording/{pack_id}/deactivate"): Baseline("admin", {}),
    ("POST", "/p/home/decision-aid/preferences"): Baseline("patient", {"pain_relief": "4", "avoid_surgery": "1"}),
    # questionnaires from paper or phone at an unscheduled visit (the 2-week window, days 1-28, has closed)
    ("POST", "/clinic/patients/{patient_id}/answers"): Baseline("clinician", {
        "episode": "{episode_id}", "timepoint": "2w", "source": "paper", "collected_on": _day(-20),
        "nrs_back.pain": "4"}),
    # issue 20: API tokens (admin), the research exports (researcher), FHIR writes and Bulk Data kick-offs
    # (JSON; a kick-off without "Prefer: respond-async" is refused, so no bad case starts an export)
    ("POST", "/admin/tokens"): Baseline("admin", {"name": "bad input client", "role": "researcher",
                                                  "scopes": "read", "days": "30"}),
    ("POST", "/admin/tokens/{token_id}/revoke"): Baseline("admin", {}),
    ("POST", "/research/exports"): Baseline("researcher", {"kind": "csv", "rekey": "a-secret-of-twenty-chars"}),
    ("POST", "/research/exports/{job_id}/delete"): Baseline("researcher", {}),
    ("POST", "/fhir/{rtype}"): Baseline("clinician", {"resourceType": "Patient", "gender": "female",
                                                      "birthDate": "1970", "name": [{"text": "Bad Input"}]}),
    ("POST", "/fhir"): Baseline("clinician", {"resourceType": "Bundle", "type": "transaction", "entry": []}),
    ("POST", "/fhir/"): Baseline("clinician", {"resourceType": "Bundle", "type": "transaction", "entry": []}),
    ("POST", "/fhir/$export"): Baseline("researcher", {"resourceType": "Parameters", "parameter": []}),
    ("POST", "/fhir/Group/{group}/$export"): Baseline("clinician", {"resourceType": "Parameters", "parameter": []}),
    ("DELETE", "/fhir/$export-status/{job_id}"): Baseline("researcher", None),
}
#: FHIR bodies have no OpenAPI schema (a resource is read as FHIR JSON): the fields each bad class goes in
FHIR_FIELDS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("POST", "/fhir/{rtype}"): {"text": ("gender",), "date": ("birthDate",)},
    ("POST", "/fhir"): {"text": ("type",), "date": ()},
    ("POST", "/fhir/"): {"text": ("type",), "date": ()},
}
# Endpoints whose refusal of a bad body may be an authentication answer (no field named): sign-in
# says only "wrong user name or password", by design; setting a password without its link says so.
SIGN_IN = {("POST", "/api/v1/auth/login"), ("POST", "/login"), ("POST", "/set-password"), ("POST", "/login/two-factor"),
           ("POST", "/account/two-factor")}
# Form fields whose bad value the page re-renders with the message (a patient page speaks of
# "your answer", one question per page, not of a field name).
PATIENT_FORMS = ("/p/",)


def write_endpoints(app: Any) -> list[tuple[str, str, Any]]:
    out = []
    for path, route in iter_routes(app.routes):
        for method in sorted(set(getattr(route, "methods", None) or ()) & set(WRITE_METHODS)):
            out.append((method, path, route))
    return out


def test_every_write_endpoint_has_a_valid_baseline(app: Any) -> None:
    """Deny by default (OWASP ASVS V5.1.3, input validation on every input): a write endpoint
    without a baseline here would go untested, so its absence fails the suite."""
    found = {(m, p) for m, p, _ in write_endpoints(app)}
    assert found - set(BASELINES) == set(), "add a valid request to BASELINES for these endpoints"
    assert set(BASELINES) - found == set(), "BASELINES names endpoints the app no longer has"


# ---------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    method: str
    path: str            # template
    kind: str            # api or form
    label: str           # bad-input class
    field: str | None    # dotted field replaced (None: the class concerns the whole request)
    value: Any
    path_override: dict[str, Any] | None = None
    content_type: str | None = None


def _schema_fields(openapi: dict[str, Any], method: str, path: str) -> dict[str, dict[str, Any]]:
    """``{dotted field: schema}`` of an API body from the OpenAPI document (nested objects one level)."""
    op = openapi["paths"].get(path, {}).get(method.lower(), {})
    content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
    if not content:
        return {}
    schemas = openapi["components"]["schemas"]

    def resolve(s: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in s:
            return resolve(schemas[s["$ref"].rsplit("/", 1)[-1]])
        for alt in s.get("anyOf", ()):
            if "$ref" in alt:
                return resolve(alt)
        return s

    out: dict[str, dict[str, Any]] = {}
    for name, prop in resolve(content["schema"]).get("properties", {}).items():
        target = resolve(prop)
        if target.get("type") == "object" and target.get("properties"):
            for sub, sub_prop in target["properties"].items():
                out[f"{name}.{sub}"] = resolve(sub_prop)
        else:
            out[name] = prop
    return out


def _types(schema: dict[str, Any]) -> set[str]:
    types: set[str] = set()
    t = schema.get("type")
    types.update([t] if isinstance(t, str) else t or [])
    if schema.get("format") == "date":
        types.add("date")
    for alt in schema.get("anyOf", ()):
        types |= _types(alt)
    return types


def _string_like(schema: dict[str, Any]) -> bool:
    return bool(_types(schema) & {"string", "date"}) or (schema.get("type") == "array" and
                                                          "string" in _types(schema.get("items", {})))


def api_cases(openapi: dict[str, Any], method: str, path: str) -> Iterator[Case]:
    for field, schema in _schema_fields(openapi, method, path).items():
        types = _types(schema)
        if _string_like(schema):
            for label, value in TEXT_CLASSES.items():
                yield Case(method, path, "api", label, field, value)
        if "date" in types:
            for value in DATE_CLASSES:
                yield Case(method, path, "api", f"date {value}", field, value)
        if ("string" in types or "date" in types) and not types & {"boolean", "integer", "number", "array"}:
            for label, value in NOT_TEXT_CLASSES.items():
                yield Case(method, path, "api", label, field, value)
    yield Case(method, path, "api", "wrong content type", None, None, content_type="text/plain")


DATE_FIELDS = ("enrolled_on", "index_date", "performed_on", "occurred_on", "assessed_on", "admitted_on",
               "collected_on", "ended_on")


def fhir_cases(method: str, path: str) -> Iterator[Case]:
    fields = FHIR_FIELDS.get((method, path), {"text": (), "date": ()})
    for field in fields["text"]:
        for label, value in {**TEXT_CLASSES, **NOT_TEXT_CLASSES}.items():
            yield Case(method, path, "api", label, field, value)
    for field in fields["date"]:
        for value in DATE_CLASSES:
            yield Case(method, path, "api", f"date {value}", field, value)
    yield Case(method, path, "api", "wrong content type", None, None, content_type="text/plain")


def form_cases(method: str, path: str, body: dict[str, Any]) -> Iterator[Case]:
    for field in body:
        for label, value in TEXT_CLASSES.items():
            if label != "lone surrogate":  # see the module docstring: a form cannot carry one
                yield Case(method, path, "form", label, field, value)
        if field in DATE_FIELDS:
            for value in DATE_CLASSES:
                yield Case(method, path, "form", f"date {value}", field, value)
    if body:
        yield Case(method, path, "form", "wrong content type", None, None, content_type="application/json")


def id_cases(method: str, path: str, kind: str) -> Iterator[Case]:
    for name in re.findall(r"{(\w+_id)}", path):
        for value in ID_CLASSES:
            yield Case(method, path, kind, f"id {value}", name, value, path_override={name: value})


# ---------------------------------------------------------------------------------- sending


def _set(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(body))
    target = out
    *parents, leaf = dotted.split(".")
    for p in parents:
        target = target.setdefault(p, {})
    current = target.get(leaf)
    target[leaf] = [value] if isinstance(current, list) and isinstance(value, str) else value
    return out


def _path(template: str, world: World, override: dict[str, Any] | None, followups: dict[str, int]) -> str:
    values = {"patient_id": world.patients["A"], "episode_id": world.episodes["A"],
              "user_id": world.users["coordinator"], "instrument": "odi", "followup_id": followups["A"],
              "site_id": world.sites["A"], "pack_id": 1, "token_id": 1, "job_id": "no-such-export", "rtype": "Patient",
              "group": "SITE-A", **(override or {})}
    return template.format(**values)


def _counts(engine: Any) -> dict[str, int]:
    names = [n for n in inspect(engine).get_table_names() if not NOT_COUNTED.search(n)]
    with engine.connect() as c:
        return {n: c.execute(select(func.count()).select_from(table(n))).scalar_one() for n in names}


def _message(response: Any) -> str:
    """The error message of a response: the JSON problem's message and field, or the text of
    the page's alert (role="alert")."""
    if response.headers.get("content-type", "").startswith("application/fhir+json"):
        issues = response.json().get("issue") or []  # an OperationOutcome: each issue's text and element
        return " ".join(f"{i.get('diagnostics', '')} {' '.join(i.get('expression') or [])}" for i in issues)
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        return f"{body.get('field', '')} {body.get('message', '')} {json.dumps(body.get('details', ''))}"
    # the whole alert element: a form's summary (web/forms.FormErrors) lists each problem with a link
    # to its field (href="#<field>") after its heading paragraph
    alerts = re.findall(r'<(div|p|section)\b[^>]*role="alert"[^>]*>(.*?)</\1>', response.text, re.S)
    return " ".join(body for _tag, body in alerts)


def _send(client: TestClient, case: Case, world: World, base: Baseline, followups: dict[str, int]) -> Any:
    url = _path(case.path, world, case.path_override, followups)
    body = dict(base.body or {})
    if "site_id" in body:
        body["site_id"] = str(world.sites["A"])
    own = {"{site_id}": str(world.sites["A"]), "{episode_id}": str(world.episodes["A"])}
    body = {k: own.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    if case.field is not None and case.path_override is None:
        if case.kind == "api":
            body = _set(body, case.field, case.value)
        else:  # a form's field names are flat, dots and all ("6w.enabled", "nrs_back.pain")
            body[case.field] = case.value
    headers = {}
    if case.kind == "api":
        if case.content_type:
            return client.request(case.method, url, content=json.dumps(body),
                                  headers={"content-type": case.content_type})
        content = json.dumps(body) if base.body is not None else None  # ensure_ascii: "\ud800" escape
        if content is not None:
            headers["content-type"] = "application/json"
        return client.request(case.method, url, content=content, headers=headers)
    if case.content_type:
        return client.request(case.method, url, content=json.dumps(body), headers={"content-type": case.content_type})
    form = {k: v for k, v in body.items()}
    csrf = client.headers.get("X-CSRF-Token") or client.cookies.get("st_prelogin")
    if csrf:
        form["csrf_token"] = csrf
    return client.request(case.method, url, data=form)


def _clients(app: Any, world: World) -> dict[str, TestClient]:
    """Clients that answer a server error with its 500 (rather than raising), so that every
    mishandled request is counted."""

    def client() -> TestClient:
        return TestClient(app, base_url="http://testserver", raise_server_exceptions=False)

    anonymous = client()
    anonymous.get("/login")
    clinician, admin, patient, researcher = client(), client(), client(), client()
    login(clinician, ACCOUNTS["clinician"][0])
    login(admin, ACCOUNTS["admin"][0])
    login(researcher, ACCOUNTS["researcher"][0])
    assert patient.get(f"/p/{world.invitations['A']}").status_code in (200, 303)
    patient.headers["X-CSRF-Token"] = patient.get("/api/v1/visit").json()["csrf_token"]
    return {"clinician": clinician, "admin": admin, "patient": patient, "anonymous": anonymous,
            "researcher": researcher}


def test_bad_input_on_every_write_endpoint(app: Any, world: World) -> None:
    """Every bad-input class on every field of every write endpoint: 4xx naming the field, never
    5xx, nothing stored (oracles in the module docstring)."""
    followups = add_followup(app, world)
    clients = _clients(app, world)
    openapi = app.openapi()
    engine = app.state.engine
    failures: list[str] = []
    n = 0
    for method, path, _route in write_endpoints(app):
        base = BASELINES[(method, path)]
        kind = "api" if path.startswith(("/api/", "/fhir")) else "form"
        cases = list(id_cases(method, path, kind))
        if path.startswith("/fhir"):
            cases += list(fhir_cases(method, path))
        else:
            cases += list(api_cases(openapi, method, path)) if kind == "api" else list(
                form_cases(method, path, base.body or {}))
        if kind == "api" and base.body is None:
            cases = [c for c in cases if c.label != "wrong content type"]
        before = _counts(engine)
        for case in cases:
            n += 1
            client = clients[base.actor]
            r = _send(client, case, world, base, followups)
            what = f"{method} {path} [{case.label}] {case.field or ''}"
            if r.status_code >= 500 or not 400 <= r.status_code < 500:
                failures.append(f"{what}: {r.status_code}")
                continue
            message = _message(r)
            if not message.strip():
                failures.append(f"{what}: {r.status_code} without a message")
            elif case.field is not None and (method, path) not in SIGN_IN and not path.startswith(PATIENT_FORMS):
                leaf = case.field.rsplit(".", 1)[-1]
                if leaf not in message:
                    failures.append(f"{what}: {r.status_code} message does not name {leaf}: {message[:160]!r}")
        after = _counts(engine)
        if after != before:
            changed = {t: (before[t], after[t]) for t in after if after[t] != before.get(t)}
            failures.append(f"{method} {path}: rows stored by refused requests {changed}")
    for c in clients.values():
        c.close()
    assert failures == [], f"{len(failures)} of {n} bad requests mishandled:\n" + "\n".join(failures[:80])
    assert n > 400  # every class reached the endpoints (429 requests in December 2026)


FOLLOWUP_BASELINES = [k for k in BASELINES if "/followup/" in k[1] or k[1].endswith(("/contact", "/decision-aid"))
                      or k[1].startswith("/admin/schedules/")]


def test_the_follow_up_baselines_are_accepted_as_they_are(app: Any, world: World) -> None:
    """The follow-up baselines are valid requests (each answers with its redirect, 303), so that a
    refusal in the test above is about the one field it changed. The decision aid is released
    after a screening, as the patient page allows it."""
    followups = add_followup(app, world)
    clients = _clients(app, world)
    clients["clinician"].post(f"/clinic/patients/{world.patients['A']}/episodes/{world.episodes['A']}/screening",
                              data={**NO_FLAGS, "assessed_on": _day(0),
                                    "csrf_token": clients["clinician"].headers["X-CSRF-Token"]})
    assert len(FOLLOWUP_BASELINES) == 7
    # the answers complete the visit, and a complete visit is not marked unreachable: the answers last
    order = sorted(FOLLOWUP_BASELINES, key=lambda k: k[1].endswith("/answers"))
    for method, path in order:
        base = BASELINES[(method, path)]
        client = clients[base.actor]
        url = _path(path, world, None, followups)
        form = {k: {"{site_id}": str(world.sites["A"]), "{episode_id}": str(world.episodes["A"])}.get(v, v)
                for k, v in (base.body or {}).items()}
        r = client.request(method, url, data={**form, "csrf_token": client.headers["X-CSRF-Token"]},
                           follow_redirects=False)
        assert r.status_code == 303, f"{method} {path}: {r.status_code} {_message(r)[:300]}"
    for c in clients.values():
        c.close()


def test_every_write_endpoint_refuses_a_request_without_its_csrf_token(app: Any, world: World) -> None:
    """OWASP ASVS V4.2.2 / V3.5.3 (README: a per-session CSRF token on every form and in the API's
    header): each signed-in actor's valid request, sent without the token, is refused (401, 403,
    or a page's redirect to sign in) and stores nothing. Sign-in and the links a patient opens
    (anonymous actors) carry no session yet and are left out."""
    followups = add_followup(app, world)
    clients = _clients(app, world)
    engine = app.state.engine
    failures: list[str] = []
    checked = 0
    for method, path, _route in write_endpoints(app):
        base = BASELINES[(method, path)]
        if base.actor == "anonymous" or (method, path) in SIGN_IN:
            continue
        if path.startswith("/p/home"):  # a home session of its own (the route matrix covers it), not the visit's
            continue
        checked += 1
        client = clients[base.actor]
        token = client.headers.pop("X-CSRF-Token")
        try:
            before = _counts(engine)
            case = Case(method, path, "api" if path.startswith(("/api/", "/fhir")) else "form", "no CSRF token",
                        None, None)
            r = _send(client, case, world, base, followups)
            after = _counts(engine)
        finally:
            client.headers["X-CSRF-Token"] = token
        refused = r.status_code in (401, 403) or (r.status_code == 200 and str(r.url.path) == "/login")
        if not refused:
            failures.append(f"{method} {path}: {r.status_code} {str(r.url)[:80]}")
        if after != before:
            failures.append(f"{method} {path}: stored {[t for t in after if after[t] != before.get(t)]}")
    for c in clients.values():
        c.close()
    assert failures == [], "\n".join(failures)
    assert checked >= 30
