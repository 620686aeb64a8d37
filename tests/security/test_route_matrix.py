"""Every route of the app × every actor × own-site, other-site and unknown targets, against a
declarative access policy written here — not read from the app — on SQLite and PostgreSQL.

Oracles
-------
* The README's "Security model": patients reach their own visit only (through the invitation
  link); clinicians and coordinators their own site's patients; red-flag screening and decision
  support are for clinicians; researchers see pseudonymised aggregates only; admins manage users
  and sites and see no patient data; another site's record is reported as not found; every
  response carries the security headers (CSP, ``X-Frame-Options: DENY``, ``nosniff``).
* OWASP ASVS 4.0, V4 Access Control: deny by default (V4.1.5: a route the policy does not
  classify fails the suite), function-level access (V4.1.1-V4.1.3: a role outside a route's
  audience gets 401/403, or the sign-in page), object-level access / IDOR (V4.2.1: another site's
  id answers exactly like an id that does not exist, 404, and no other-site data in the body).

The policy (``POLICY``) names an audience per route by method and path prefix, first match wins;
``MEMBERS`` says which actors belong to each audience. The route list comes from ``app.routes``
(every API and page route; ``/static`` and ``/vendor`` assets excepted), so a new route is
tested as soon as it exists, and fails ``test_policy_classifies_every_route`` until the policy
names its audience and, for a new path parameter, ``TARGETS`` says which ids to try.

Expected answers
----------------
allowed (own-site or no target)  2xx, 3xx (not to /login), 400, 409, 410 or 422 — never 401/403/404
other-site / unknown id          404, with none of the other site's identifiers in the body
instrument outside the visit     404, or 422 naming the visit's instruments
forbidden                        401 or 403 (a page may redirect to /login instead)
always                           never 5xx; CSP, X-Frame-Options and nosniff headers present
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack import clock
from spinetrack.config import Settings
from spinetrack.store.home import hash_link_token
from spinetrack.store.repositories import SYSTEM, Actor
from spinetrack.store.tables import EpisodeRow, PatientLinkRow, PatientRow, ScreeningAssessmentRow
from spinetrack.web.app import create_app
from tests.security.world_followup import add_followup
from tests.web.conftest import World
from tests.web.test_api import iter_routes, open_patient_session
from tests.web.test_role_matrix import MATRIX as API_ROWS

# ------------------------------------------------------------------------------------ the policy

ACTORS = ("anonymous", "patient", "clinician", "coordinator", "researcher", "admin")
STAFF = frozenset({"clinician", "coordinator", "researcher", "admin"})

#: audience → the actors it admits (README "Security model", Roles)
MEMBERS: dict[str, frozenset[str]] = {
    "public": frozenset(ACTORS),
    "staff": STAFF,                                             # any signed-in staff member
    "clinic": frozenset({"clinician", "coordinator"}),          # their own site's patients
    "clinician": frozenset({"clinician"}),                      # red flags, decision support
    "aggregates": frozenset({"clinician", "coordinator", "researcher"}),  # suppressed aggregates
    "admin": frozenset({"admin"}),                              # users, sites, audit log
    "research": frozenset({"researcher"}),                      # the latest scorecard and its report
    "fhir": frozenset({"clinician", "coordinator", "researcher"}),  # FHIR reads: identified or pseudonymised
    "patient": frozenset({"patient"}),                          # own visit, through the link
}

#: (methods, path pattern, audience): the first rule whose method and ``re.match`` fit wins.
POLICY: tuple[tuple[frozenset[str], str, str], ...] = (
    (frozenset({"GET"}), r"/(healthz|openapi\.json|docs|docs/oauth2-redirect|redoc)?$", "public"),
    (frozenset({"GET", "POST"}), r"/login(/two-factor)?$", "public"),  # the code step needs the pending sign-in
    (frozenset({"POST"}), r"/api/v1/auth/login$", "public"),
    (frozenset({"GET"}), r"/p/\{token\}$", "public"),           # the invitation link itself
    (frozenset({"POST"}), r"/(p/)?language$", "public"),       # the language switch (records only with a session)
    (frozenset({"GET"}), r"/site-logo/\{site_id\}$", "public"),  # a clinic's logo on the patient pages
    (frozenset({"GET", "POST"}), r"/p/h/\{token\}(/(new-link|stop))?$", "public"),  # a home link, its opt-out
    (frozenset({"GET", "POST"}), r"/set-password(/\{token\})?$", "public"),  # the owner's one-time link
    (frozenset({"GET", "POST"}), r"/(api/v1/auth/(me|logout)|api/v1/status|logout|account/(notices|two-factor))$",
     "staff"),
    (frozenset({"GET"}), r"/(clinic/overview|api/v1/aggregates/)", "aggregates"),
    (frozenset({"GET", "POST"}), r"/research(/|$)", "research"),
    # registry benchmarking (analysis.benchmark.view_for): clinic staff see their site named, researchers
    # every site pseudonymised; admins see no clinical data
    (frozenset({"GET"}), r"/(api/v1/)?benchmark(/|$)", "aggregates"),
    # FHIR (docs/fhir.md, docs/bulk_export.md): the CapabilityStatement is public; the system-level Bulk
    # export is the researcher's (pseudonymised), a site's (Group) the clinic's; reading and searching are
    # for clinic staff (their site, identified) and researchers (every site, pseudonymised); writing is the
    # clinic's; an export's status and files are its requester's (the clinic's or the researcher's)
    (frozenset({"GET"}), r"/fhir/metadata$", "public"),
    (frozenset({"GET", "POST"}), r"/fhir/\$export$", "research"),
    (frozenset({"GET", "POST"}), r"/fhir/Group/\{group\}/\$export$", "fhir"),
    (frozenset({"GET", "DELETE"}), r"/fhir/\$export-(status|file)/", "fhir"),
    (frozenset({"GET"}), r"/fhir/\{rtype\}", "fhir"),
    (frozenset({"POST"}), r"/fhir(/|$)", "clinic"),
    (frozenset({"GET", "POST"}), r"/(clinic|api/v1)/patients/\{patient_id\}/decision-", "clinician"),
    (frozenset({"POST"}), r"/clinic/patients/\{patient_id\}/episodes/\{episode_id\}/decision-aid$",
     "clinician"),                                              # releasing the decision aid to the patient
    (frozenset({"GET", "POST"}), r"/(clinic|api/v1)/.*/screening$", "clinician"),
    (frozenset({"GET", "POST", "PUT"}), r"/(api/v1/visit|p)(/|$)", "patient"),
    (frozenset({"GET", "POST"}), r"/admin(/|$)", "admin"),
    (frozenset({"GET", "POST"}), r"/(clinic|api/v1/patients|api/v1/episodes)(/|$)", "clinic"),
)

#: routes that are assets, not functions (README "Offline": served by the app, no data)
ASSETS = re.compile(r"/(static|vendor)(/|$)")

#: routes whose allowed caller gets 404 while there is nothing to give: the research report before any
#: ``spinetrack analyze --save``, a site's logo once the matrix's own POST .../logo/remove has taken it
#: (the sites get logos at set-up, so the logo is served before that); a refused caller still gets
#: 401/403 (checked as for every route)
NOTHING_YET = frozenset({("GET", "/research/report.html"), ("GET", "/research/report.pdf"),
                         ("GET", "/site-logo/{site_id}"), ("GET", "/api/v1/benchmark"),
                         ("GET", "/benchmark/annual-report.html"), ("GET", "/benchmark/annual-report.pdf")})

#: routes where the researcher asks by the clinic's (identified) resource ids, which name nothing in the
#: researcher's pseudonymised view (ids ``P<n>``, docs/fhir.md): every such id answers 404, like an unknown one
PSEUDONYMISED_VIEW = frozenset({("GET", "/fhir/{rtype}/{rid}")})

#: routes where the researcher may name any site (a Group export of one site, pseudonymised,
#: docs/bulk_export.md): site B's Group is theirs as much as site A's
ANY_SITE_FOR_RESEARCHER = frozenset({("GET", "/fhir/Group/{group}/$export"), ("POST", "/fhir/Group/{group}/$export")})

#: routes that end the caller's session: run last, staff on a session of their own
ENDS_SESSION = frozenset({("POST", "/api/v1/auth/logout"), ("POST", "/logout"), ("POST", "/p/leave"),
                          ("POST", "/p/home/leave")})

SECURITY_HEADERS = {"content-security-policy": "default-src 'self'", "x-content-type-options": "nosniff",
                    "x-frame-options": "DENY"}
TODAY = clock.today()
SURGERY = TODAY - dt.timedelta(days=40)  # the world's procedures (tests/web/conftest.build_world)
UNKNOWN_ID = 999_999_999


def audience(method: str, path: str) -> str | None:
    for methods, pattern, name in POLICY:
        if method in methods and re.match(pattern, path):
            return name
    return None


def app_routes(app: Any) -> list[tuple[str, str]]:
    """Every ``(METHOD, path)`` the app serves, assets excepted (HEAD is GET's twin)."""
    out = {(m, path) for path, r in iter_routes(app.routes) if not ASSETS.match(path)
           for m in getattr(r, "methods", None) or () if m != "HEAD"}
    return sorted(out, key=lambda mp: ((mp in ENDS_SESSION, mp[1].startswith("/p/")), mp[1], mp[0]))


def path_params(path: str) -> list[str]:
    return [name for _, name, _, _ in Formatter().parse(path) if name]


# ------------------------------------------------------------------------------------ targets

#: path parameter → kind: ``site`` ids belong to a site (own, other, unknown), ``visit`` names an
#: instrument inside or outside the patient's visit, ``user`` a staff account, ``token`` a fresh
#: link of the kind the route opens (``LINKS``). A new parameter name fails until it is classified here.
TARGETS = {"patient_id": "site", "episode_id": "site", "instrument": "visit", "user_id": "user", "token": "token",
           "invitation_id": "invitation", "followup_id": "followup", "site_id": "site_record",
           "pack_id": "pack", "rtype": "fhir", "rid": "fhir", "group": "group", "job_id": "job", "name": "job",
           "token_id": "api_token"}


@dataclass(frozen=True)
class Target:
    name: str        # own, other, unknown, mixed (own patient, other site's episode), none
    values: dict[str, Any]


#: route prefix → the kind of one-time link its ``{token}`` is (a new link per request)
LINKS = {"/p/h/": "home", "/p/": "invitation", "/set-password/": "password"}


def targets_for(path: str, world: World, spare_user: int, fresh_token: Callable[[str], str],
                invitations: dict[str, int] | None = None,
                followups: dict[str, int] | None = None) -> Iterator[Target]:
    """``invitations``: site key → an open visit of that site's episode (``invitation_id``);
    ``followups``: site key → that episode's open scheduled visit (``followup_id``)."""
    names = path_params(path)
    kinds = {TARGETS[n] for n in names}
    fixed: dict[str, Any] = {}
    if "user" in kinds:
        fixed["user_id"] = spare_user
    if "token" in kinds:
        link = next((kind for prefix, kind in LINKS.items() if path.startswith(prefix)), None)
        assert link is not None, f"{path}: which kind of link is its token? (LINKS)"
        fixed["token"] = fresh_token(link)
    if "site" in kinds:
        for name, site in (("own", "A"), ("other", "B")):
            yield Target(name, {**fixed, "patient_id": world.patients[site], "episode_id": world.episodes[site]})
        yield Target("unknown", {**fixed, "patient_id": UNKNOWN_ID, "episode_id": UNKNOWN_ID})
        if {"patient_id", "episode_id"} <= set(names):
            yield Target("mixed", {**fixed, "patient_id": world.patients["A"], "episode_id": world.episodes["B"]})
    elif "invitation" in kinds:
        assert invitations is not None
        yield Target("own", {**fixed, "invitation_id": invitations["A"]})
        yield Target("other", {**fixed, "invitation_id": invitations["B"]})
        yield Target("unknown", {**fixed, "invitation_id": UNKNOWN_ID})
    elif "followup" in kinds:
        assert followups is not None
        yield Target("own", {**fixed, "followup_id": followups["A"]})
        yield Target("other", {**fixed, "followup_id": followups["B"]})
        yield Target("unknown", {**fixed, "followup_id": UNKNOWN_ID})
    elif "site_record" in kinds:  # a site as the admin manages it: every site is theirs
        for key in ("A", "B"):
            yield Target("any", {**fixed, "site_id": world.sites[key]})
        yield Target("unknown", {**fixed, "site_id": UNKNOWN_ID})
    elif "pack" in kinds:  # an installed wording pack: no patient data, the admin's; none in the world
        yield Target("unknown", {**fixed, "pack_id": UNKNOWN_ID})
    elif "api_token" in kinds:  # an API token: the admin's; none in the world
        yield Target("unknown", {**fixed, "token_id": UNKNOWN_ID})
    elif "job" in kinds:  # a background export: its requester's only; none in the world
        yield Target("unknown", {**fixed, "job_id": str(uuid.UUID(int=UNKNOWN_ID)), "name": "Patient.1.ndjson"})
    elif "group" in kinds:  # a FHIR Group is a site, named by its code
        yield Target("own", {**fixed, "group": "SITE-A"})
        yield Target("other", {**fixed, "group": "SITE-B"})
        yield Target("unknown", {**fixed, "group": "SITE-NONE"})
    elif "fhir" in kinds and "rid" in names:  # a site A / site B patient by the clinic's resource id
        for name, site in (("own", "A"), ("other", "B")):
            yield Target(name, {**fixed, "rtype": "Patient", "rid": f"p-{world.patients[site]}"})
        yield Target("unknown", {**fixed, "rtype": "Patient", "rid": f"p-{UNKNOWN_ID}"})
    elif "fhir" in kinds:  # a search or a create: the caller's own site
        yield Target("none", {**fixed, "rtype": "Patient"})
    elif "visit" in kinds:
        yield Target("own", {**fixed, "instrument": "odi"})           # in the world's 6-week visit
        yield Target("other", {**fixed, "instrument": "comi_back"})   # not in it
    else:
        yield Target("none", fixed)


# ------------------------------------------------------------------------------------ requests

def _day(n: int) -> str:
    return (SURGERY + dt.timedelta(days=n)).isoformat()


#: request bodies of the page forms (valid, so that an allowed caller reaches the handler); the
#: API's bodies come from tests/web/test_role_matrix.py
FORMS: dict[tuple[str, str], Callable[[str], dict[str, Any]]] = {
    ("POST", "/clinic/enrol"): lambda actor: {
        "full_name": f"Enrolled by {actor}", "birth_year": "1971", "sex": "male", "diagnosis_code": "M51.16",
        "levels": ["L5-S1"], "treatment": "conservative", "enrolled_on": TODAY.isoformat()},
    ("POST", "/clinic/patients/{patient_id}/episodes"): lambda actor: {
        "diagnosis_code": "M51.16", "levels": ["L5-S1"], "treatment": "conservative",
        "enrolled_on": TODAY.isoformat()},
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/procedure"): lambda actor: {
        "procedure_code": "discectomy_tubular", "performed_on": _day(0), "levels": ["L4-L5"], "ebl_ml": "20"},
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/complications"): lambda actor: {
        "category": "other", "clavien_dindo": "I", "occurred_on": _day(2)},
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/invitations"): lambda actor: {
        "timepoint": "12m", "instruments": ["odi"]},
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/screening"): lambda actor: {
        "saddle_anaesthesia": "no", "assessed_on": TODAY.isoformat()},
    ("POST", "/admin/users"): lambda actor: {
        "username": f"made.by.{actor}", "display_name": "Made in the matrix", "role": "researcher",
        "password": "matrix-password-123"},
    ("POST", "/admin/sites"): lambda actor: {"code": f"SITE-{actor[:3].upper()}", "name": "Matrix site",
                                             "country": "GB"},
    ("POST", "/clinic/patients/{patient_id}/contact"): lambda actor: {
        "channel": "letter", "contact_consent": "yes", "postal_address": f"3 {actor} Lane, Exampletown"},
    ("POST", "/clinic/followup/{followup_id}/answers"): lambda actor: {
        "source": "paper", "collected_on": TODAY.isoformat(), "nrs_back.pain": "5"},
    ("POST", "/clinic/patients/{patient_id}/answers"): lambda actor: {
        "timepoint": "2w", "source": "paper", "collected_on": _day(20), "nrs_back.pain": "5"},
    ("POST", "/admin/schedules/{site_id}"): lambda actor: {
        "6w.enabled": "on", "6w.window_from_days": "29", "6w.window_to_days": "63", "6w.reminder_offsets": "0, 7",
        "6w.instruments": "nrs_back", "12m.enabled": "on", "12m.window_from_days": "274", "12m.window_to_days": "547",
        "12m.reminder_offsets": "0", "12m.instruments": "odi"},
    ("POST", "/admin/sites/{site_id}/contact"): lambda actor: {"contact_phone": "+44 20 7946 0001",
                                                              "contact_email": "clinic@example.org"},
    ("POST", "/admin/sites/{site_id}/surgeon-benchmarking"): lambda actor: {"take_part": "yes"},
    # ending an episode's follow-up: a reason the store refuses (422) after its access check, so that the
    # world's episode goes on for the routes after it (tests/store/test_end_episode.py ends one)
    ("POST", "/clinic/patients/{patient_id}/episodes/{episode_id}/end"): lambda actor: {
        "ended_on": TODAY.isoformat(), "end_reason": "not_a_reason"},
    ("POST", "/p/q/{instrument}"): lambda actor: {"step": "1", "answer": "1", "action": "save"},
    ("POST", "/p/q/{instrument}/submit"): lambda actor: {"idempotency_key": str(uuid.uuid4())},
    # a research export with a kind that does not exist: refused (422) after the role check, so that the
    # matrix starts no background export
    ("POST", "/research/exports"): lambda actor: {"kind": "not_a_kind"},
    ("POST", "/admin/tokens"): lambda actor: {"name": f"matrix {actor}", "role": "not_a_role", "days": "30"},
}


#: API bodies that differ from tests/web/test_role_matrix.py's (which ends the episode for real)
JSON_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/episodes/{episode_id}/end"): {"ended_on": TODAY.isoformat(), "reason": "not_a_reason"},
    # FHIR: a new patient of the caller's site; an empty transaction (nothing stored, all or nothing)
    ("POST", "/fhir/{rtype}"): {"resourceType": "Patient", "gender": "female", "birthDate": "1975",
                                "name": [{"text": "Matrix Example"}]},
    ("POST", "/fhir"): {"resourceType": "Bundle", "type": "transaction", "entry": []},
    ("POST", "/fhir/"): {"resourceType": "Bundle", "type": "transaction", "entry": []},
}


def request_kwargs(method: str, path: str, actor: str) -> dict[str, Any]:
    if (method, path) in FORMS:
        return {"data": FORMS[(method, path)](actor)}
    if (method, path) in JSON_BODIES:
        return {"json": JSON_BODIES[(method, path)]}
    row = API_ROWS.get((method, path))
    if row is None:
        return {}
    kwargs: dict[str, Any] = {"headers": dict(row.headers)}
    if row.body is not None:
        kwargs["json"] = row.body({"patient": "patient_a"}.get(actor, actor))
    return kwargs


# ------------------------------------------------------------------------------------ verdicts

def _to_login(r: Any) -> bool:
    """The sign-in page a staff page sends an anonymous caller to (not the one after sign-out)."""
    return 300 <= r.status_code < 400 and r.headers.get("location", "").startswith("/login?next=")


def verdict(r: Any, expected: str, public: bool) -> str | None:
    """Why the response breaks the expectation, or None."""
    status = r.status_code
    if status >= 500:
        return "server error"
    if expected == "forbidden":
        return None if status in (401, 403) or _to_login(r) else "not refused"
    if expected == "not_found":
        return None if status == 404 else "not 404"
    if expected == "outside_visit":
        return None if status in (404, 422) else "not 404/422"
    if status in (401, 403, 404) or (_to_login(r) and not public):
        return "refused an allowed caller"
    if not (200 <= status < 400 or status in (400, 409, 410, 422)):
        return "unexpected status"
    return None


def missing_headers(r: Any) -> list[str]:
    return [h for h, v in SECURITY_HEADERS.items() if v not in r.headers.get(h, "")]


def _normalised(text: str, ids: dict[str, Any]) -> str:
    """A 404 body with the ids it was asked about (and the per-request tokens) blanked."""
    for value in sorted({str(v) for v in ids.values()}, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(value)}\b", "<id>", text)
    return re.sub(r'(name="csrf_token" value=")[^"]*', r"\1", text)


# ------------------------------------------------------------------------------------ tests

def test_policy_classifies_every_route(tmp_path: Path) -> None:
    """Deny by default (ASVS V4.1.5): every route and every path parameter has a classification."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}"))
    routes = app_routes(app)
    assert len(routes) > 50
    unclassified = [f"{m} {p}" for m, p in routes if audience(m, p) is None]
    assert not unclassified, f"routes the access policy does not classify: {unclassified}"
    unknown_params = {f"{m} {p}: {n}" for m, p in routes for n in path_params(p) if n not in TARGETS}
    assert not unknown_params, f"path parameters without a target kind: {sorted(unknown_params)}"
    # the policy's own sanity: every audience exists, every API route named by the web matrix exists
    assert {name for _, _, name in POLICY} <= set(MEMBERS)
    assert set(API_ROWS) <= set(routes)


def test_every_route_against_every_actor(app: Any, world: World, client_for: Any) -> None:
    """Every route × actor × target: allowed, refused or not found as the policy says, never a
    5xx, no other site's identifiers, security headers on every answer (module docstring)."""
    access = app.state.access
    spare_user = access.create_user(SYSTEM, username="spare.user", display_name="Spare", role="researcher",
                                    password="spare-password-123")
    site_a = Actor("setup", "clinician", world.sites["A"])
    accounts = itertools.count(1)

    def fresh_token(link: str) -> str:
        if link == "password":  # a new account's set-password link, as an admin hands it out
            n = next(accounts)
            return access.invite_user(SYSTEM, username=f"invited.{n}", display_name=f"Invited {n}",
                                      role="researcher")[1]
        if link == "home":  # a link as the scheduler sends it
            token = secrets.token_urlsafe(32)
            with app.state.store.transaction() as s:
                s.add(PatientLinkRow(token_hash=hash_link_token(token), episode_id=world.episodes["A"],
                                     purpose="message", created_by="matrix", created_at=clock.utcnow(), revoked=False))
            return token
        return access.create_invitation(site_a, world.episodes["A"], timepoint="3m", instrument_codes=["odi"])[1]

    # the patient home: a second open visit per site to start from it (the world's own visit keeps
    # the patient's session), the decision aid released after a screening, a home session
    invitations = {key: access.create_invitation(Actor("setup", "clinician", world.sites[key]), world.episodes[key],
                                                 timepoint="6w", instrument_codes=["nrs_back"])[0] for key in "AB"}
    with app.state.store.transaction() as s:
        s.get(EpisodeRow, world.episodes["A"]).decision_aid_released_at = clock.utcnow()  # type: ignore[union-attr]
        s.add(ScreeningAssessmentRow(episode_id=world.episodes["A"], assessed_on=clock.today(), assessed_by="setup",
                                     answers={}))

    # the follow-up: an open 6-week visit per site with a letter queued (tests/security/world_followup.py)
    followups = add_followup(app, world)
    # each site's logo (the public logo route answers 404 for a site without one)
    from spinetrack.store.logos import set_site_logo
    from tests.store.test_logos import png
    for key in ("A", "B"):
        set_site_logo(app.state.store, Actor("setup", "admin", None), world.sites[key], png())

    with app.state.engine.connect() as c:
        pseudo = dict(c.execute(select(PatientRow.id, PatientRow.pseudo_id)).all())
    secrets_of = {site: (f"Patient {site} Example", f"MRN-{site}-1", pseudo[world.patients[site]])
                  for site in ("A", "B")}
    sees = {"clinician": {"A"}, "coordinator": {"A"}, "patient": {"A"}}  # whose identifiers an actor may see

    clients: dict[str, TestClient] = {key: client_for(key) for key in ("anonymous", *sorted(STAFF))}
    clients["patient"] = open_patient_session(app, world.invitations["A"])
    home = TestClient(app, base_url="http://testserver")  # the patient's home, with its own CSRF token
    page = home.get(f"/p/h/{fresh_token('home')}")
    home.headers["X-CSRF-Token"] = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[0]

    failures: list[str] = []
    cells = 0
    for method, path in app_routes(app):
        group = audience(method, path)
        assert group is not None, f"{method} {path} is not classified (test_policy_classifies_every_route)"
        public = group == "public"
        for actor in ACTORS:
            allowed = actor in MEMBERS[group]
            not_found: dict[str, Any] = {}
            for target in targets_for(path, world, spare_user, fresh_token, invitations, followups):
                cells += 1
                url = path.format(**target.values)
                expected = "forbidden" if not allowed else "allowed" if target.name in ("own", "none", "any") else (
                    "outside_visit" if "instrument" in target.values else "not_found")
                if allowed and actor == "researcher" and (method, path) in PSEUDONYMISED_VIEW:
                    expected = "not_found"  # a clinic's id names nothing in the researcher's view
                if (allowed and actor == "researcher" and (method, path) in ANY_SITE_FOR_RESEARCHER
                        and target.name == "other"):
                    expected = "allowed"
                client = home if actor == "patient" and path.startswith("/p/home") else clients[actor]
                if (method, path) in ENDS_SESSION and actor in STAFF:
                    client = client_for(actor)  # a session of its own: the shared one must live on
                elif "token" in target.values:  # opening a link must not change the caller's session
                    client = TestClient(app, base_url="http://testserver", cookies=dict(client.cookies))
                where = f"{method} {url} [{path}] as {actor}, {target.name} target"
                try:
                    r = client.request(method, url, follow_redirects=False,
                                       **request_kwargs(method, path, actor))
                except Exception as exc:  # the app raised: a 500 for the client
                    failures.append(f"{where}: raised {type(exc).__name__}: {exc} (a 500)")
                    continue
                why = verdict(r, expected, public)
                if why and r.status_code == 404 and (method, path) in NOTHING_YET:
                    why = None  # nothing to give (NOTHING_YET)
                if why:
                    failures.append(f"{where}: {r.status_code} ({why}; expected {expected}) {r.text[:160]!r}")
                if missing_headers(r):
                    failures.append(f"{where}: {r.status_code} without {missing_headers(r)}")
                leaked = [s for site, values in secrets_of.items() if site not in sees.get(actor, set())
                          for s in values if s in r.text]
                if leaked:
                    failures.append(f"{where}: {r.status_code} shows {leaked}")
                if expected == "not_found" and r.status_code == 404:
                    not_found[target.name] = (_normalised(r.text, target.values), r.text)
            # another site's id answers word for word like an id that exists nowhere
            if "other" in not_found and "unknown" in not_found and not_found["other"][0] != not_found["unknown"][0]:
                failures.append(f"{method} {path} as {actor}: other site's id answers unlike an unknown id: "
                                f"{not_found['other'][1][:160]!r} vs {not_found['unknown'][1][:160]!r}")
    assert not failures, f"{len(failures)} failures in {cells} cells:\n" + "\n".join(failures)
