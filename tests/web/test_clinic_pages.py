"""Clinician pages end to end through the TestClient (SQLite and PostgreSQL): enrolment,
procedure and complication forms, invitation links, the patient timeline against the cohort
band (numpy oracle), the clinic overview, and who may see what."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spinetrack import clock
from spinetrack.store.repositories import SYSTEM, Actor
from spinetrack.store.tables import AuditRow, ComplicationRow, EpisodeRow, InvitationRow, PatientRow, ProcedureRow
from tests.store.test_queries import build_cohort, odi_answers
from tests.web.conftest import World

Client = Callable[[str], TestClient]
TODAY = clock.today()


def post(c: TestClient, url: str, data: dict[str, Any]) -> Any:
    return c.post(url, data={**data, "csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)


def count(app: Any, table: Any) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def plot(html: str, plot_id: str) -> dict[str, Any]:
    m = re.search(rf'<script type="application/json" id="{re.escape(plot_id)}">(.*?)</script>', html, re.S)
    assert m, plot_id
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def trace(fig: dict[str, Any], meta: str) -> dict[str, Any]:
    found = [t for t in fig["data"] if t.get("meta") == meta]
    assert len(found) == 1, (meta, [t.get("meta") for t in fig["data"]])
    return found[0]


def quartiles(values: list[float]) -> tuple[float, float, float]:
    a = np.asarray(values, dtype=float)
    return float(np.percentile(a, 25)), float(np.median(a)), float(np.percentile(a, 75))


ENROL = {
    "full_name": "Ada Example", "mrn": "MRN-NEW-7", "email": "ada@example.org", "phone": "+44 20 7946 0000",
    "birth_year": "1971", "sex": "female", "bmi": "31.5", "smoking": "former", "diabetes": "yes", "asa_grade": "2",
    "work_status": "sick_leave", "symptom_duration_weeks": "26", "prior_spine_surgery": "no",
    "diagnosis_code": "M48.062", "levels": ["L3-L4", "L4-L5"], "finding0_level": "L4-L5",
    "finding0_kind": "central_stenosis", "finding0_stenosis_grade": "C", "finding1_level": "L3-L4",
    "finding1_kind": "disc_degeneration", "finding1_pfirrmann": "IV", "finding2_kind": "",
    "conservative_care": ["physiotherapy", "injection"], "conservative_care_weeks": "12", "treatment": "open",
    "treatment_family": "decompression", "enrolled_on": "2025-03-01",
}


def test_enrol_stores_patient_identity_and_episode_with_audit(app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    form = c.get("/clinic/enrol")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text and 'value="M48.062"' in form.text
    r = post(c, "/clinic/enrol", ENROL)
    assert r.status_code == 303, r.text
    m = re.fullmatch(r"/clinic/patients/(\d+)\?episode=(\d+)&notice=enrolled", r.headers["location"])
    assert m
    pid, eid = int(m.group(1)), int(m.group(2))
    store, access = app.state.store, app.state.access
    p = store.get_patient(SYSTEM, pid)
    assert (p["site_id"], p["birth_year"], p["sex"], p["bmi"], p["smoking"], p["diabetes"], p["asa_grade"],
            p["work_status"], p["symptom_duration_weeks"], p["prior_spine_surgery"]) == (
        world.sites["A"], 1971, "female", 31.5, "former", True, 2, "sick_leave", 26, False)
    assert access.get_identity(Actor("t", "clinician", world.sites["A"]), pid) == {
        "full_name": "Ada Example", "mrn": "MRN-NEW-7", "email": "ada@example.org", "phone": "+44 20 7946 0000"}
    ep = store.get_episode(SYSTEM, eid)
    assert (ep["patient_id"], ep["diagnosis_code"], ep["diagnosis_group"], ep["levels"], ep["conservative_care"],
            ep["conservative_care_weeks"], ep["treatment"], ep["treatment_family"], ep["enrolled_on"]) == (
        pid, "M48.062", "stenosis_with_claudication", "L3-L4,L4-L5", "physiotherapy,injection", 12, "open",
        "decompression", dt.date(2025, 3, 1))
    assert sorted((f["level"], f["kind"], f["stenosis_grade"], f["pfirrmann"]) for f in ep["imaging_findings"]) == [
        ("L3-L4", "disc_degeneration", None, "IV"), ("L4-L5", "central_stenosis", "C", None)]
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(AuditRow.action, AuditRow.entity).where(
            AuditRow.actor == "a.clinician", AuditRow.patient_id == pid).order_by(AuditRow.id)).all()
    assert [tuple(r) for r in rows][:2] == [("create", "patient"), ("create", "episode")]
    page = c.get(r.headers["location"])
    assert page.status_code == 200
    assert "Ada Example" in page.text and "MRN-NEW-7" in page.text and "Patient enrolled" in page.text
    found = c.get("/clinic", params={"q": "ada"})
    assert "Ada Example" in found.text and "Patient A Example" not in found.text


BAD_ENROLMENTS = [
    ({"bmi": "200"}, "patient.bmi"),
    ({"birth_year": "nineteen"}, "patient.birth_year"),
    ({"full_name": ""}, "identity.full_name"),
    ({"levels": []}, "episode.levels"),
    ({"finding0_kind": "disc_herniation", "finding0_stenosis_grade": ""}, "episode.imaging_findings[0].morphology"),
    ({"treatment": "mis", "treatment_family": ""}, "episode.treatment_family"),
    ({"enrolled_on": "01/03/2025"}, "episode.enrolled_on"),
    ({"mrn": "MRN-A-1"}, "identity.mrn"),  # already used at site A
]


def test_enrol_refuses_bad_input_naming_the_field_and_stores_nothing(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("coordinator")
    before = (count(app, PatientRow), count(app, EpisodeRow))
    for change, field in BAD_ENROLMENTS:
        r = post(c, "/clinic/enrol", {**ENROL, **change})
        assert r.status_code == 422, field
        text = r.text.replace("&#39;", "'")
        name = field.rsplit(".", 1)[-1].replace("imaging_findings[0].", "")
        name = "finding0_morphology" if "imaging_findings" in field else name
        assert f'<li><a href="#{name}">' in text, field  # in the summary of problems (tests/web/test_enrol_form.py)
        assert re.search(rf'name="{re.escape(name)}"[^>]*aria-invalid="true"', text) or \
            re.search(r'aria-invalid="true"[^>]*>\s*<legend>', text), field
        if field != "identity.full_name":
            assert 'value="Ada Example"' in text  # the form keeps what was typed
        assert (count(app, PatientRow), count(app, EpisodeRow)) == before, field


def test_forms_refuse_a_post_without_the_csrf_token(app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    c.headers.pop("X-CSRF-Token")
    before = count(app, PatientRow)
    r = c.post("/clinic/enrol", data=ENROL, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert count(app, PatientRow) == before


def _unoperated_episode(app: Any, world: World) -> tuple[int, int]:
    actor = Actor("setup", "clinician", world.sites["A"])
    pid = app.state.store.add_patient(actor, world.sites["A"], {"birth_year": 1980, "sex": "male"},
                                      identity={"full_name": "Bo Operated"})
    eid = app.state.store.add_episode(actor, pid, {
        "diagnosis_code": "M51.17", "levels": "L4-L5,L5-S1", "treatment": "mis", "treatment_family": "discectomy",
        "enrolled_on": (TODAY - dt.timedelta(days=30)).isoformat()})
    return pid, eid


def test_procedure_and_complication_forms_store_real_values_and_refuse_bad_ones(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    pid, eid = _unoperated_episode(app, world)
    page = c.get(f"/clinic/patients/{pid}")
    assert 'value="discectomy_tubular"' in page.text and 'value="discectomy_open"' not in page.text  # MIS only
    url = f"/clinic/patients/{pid}/episodes/{eid}/procedure"
    surgery = TODAY - dt.timedelta(days=10)
    good = {"procedure_code": "discectomy_endoscopic_tf", "performed_on": surgery.isoformat(), "levels": ["L5-S1"],
            "incision_mm": "8", "ebl_ml": "12.5", "op_time_min": "95", "fluoro_s": "41", "fluoro_dose_mgy": "3.2",
            "los_days": "0", "transfusion": "no"}
    for change, field in [({"ebl_ml": "-5"}, "ebl_ml"), ({"op_time_min": "abc"}, "op_time_min"),
                          ({"incision_mm": "5000"}, "incision_mm"),
                          ({"procedure_code": "discectomy_open"}, "procedure_code"),
                          ({"levels": ["L2-L3"]}, "levels")]:
        r = post(c, url, {**good, **change})
        assert r.status_code == 422, change
        assert f'id="{field}-error"' in r.text, field  # the message beside the field
        assert count(app, ProcedureRow) == 2  # only the world's two
    # every problem at once, each beside its field, what was typed kept
    r = post(c, url, {**good, "ebl_ml": "-5", "op_time_min": "abc", "incision_mm": "5000"})
    assert r.status_code == 422
    for field in ("ebl_ml", "op_time_min", "incision_mm"):
        assert f'id="{field}-error"' in r.text and re.search(rf'name="{field}"[^>]*aria-invalid="true"', r.text), field
    assert 'value="abc"' in r.text and 'value="5000"' in r.text
    r = post(c, url, good)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/clinic/patients/{pid}?episode={eid}")
    with app.state.engine.connect() as conn:
        row = conn.execute(select(ProcedureRow).where(ProcedureRow.episode_id == eid)).one()
    assert (row.procedure_code, row.approach, row.technique, row.performed_on, row.levels, row.incision_mm, row.ebl_ml,
            row.op_time_min, row.fluoro_s, row.fluoro_dose_mgy, row.los_days, row.transfusion) == (
        "discectomy_endoscopic_tf", "mis", "full_endoscopic_transforaminal", surgery, "L5-S1", 8.0, 12.5, 95.0, 41.0,
        3.2, 0.0, False)
    curl = f"/clinic/patients/{pid}/episodes/{eid}/complications"
    day_after = (surgery + dt.timedelta(days=1)).isoformat()
    ok = {"category": "dural_tear", "clavien_dindo": "IIIa", "occurred_on": day_after, "detail": "repaired"}
    for change, field in [({"clavien_dindo": "VI"}, "clavien_dindo"),
                          ({"category": "headache"}, "category"),
                          ({"occurred_on": (surgery - dt.timedelta(days=1)).isoformat()}, "occurred_on")]:
        r = post(c, curl, {**ok, **change})
        assert r.status_code == 422 and f'id="{field}-error"' in r.text, field
    both = post(c, curl, {**ok, "clavien_dindo": "VI", "category": "headache"})
    assert 'id="clavien_dindo-error"' in both.text and 'id="category-error"' in both.text
    assert count(app, ComplicationRow) == 0
    assert post(c, curl, ok).status_code == 303
    with app.state.engine.connect() as conn:
        comp = conn.execute(select(ComplicationRow)).one()
    assert (comp.episode_id, comp.category, comp.clavien_dindo, comp.occurred_on, comp.detail) == (
        eid, "dural_tear", "IIIa", surgery + dt.timedelta(days=1), "repaired")
    page = c.get(f"/clinic/patients/{pid}")
    assert "<td>Dural tear</td>" in page.text and "IIIa" in page.text and "12.5" in page.text
    # another site's clinician cannot write to this episode, and learns nothing
    other = client_for("other_clinician")
    assert post(other, curl, ok).status_code == 404
    assert post(other, url, good).status_code == 404
    assert count(app, ComplicationRow) == 1


def test_invitation_link_is_shown_once_and_opens_the_right_visit(app: Any, world: World, client_for: Client) -> None:
    """POST/redirect/GET: the link is shown once on the page the redirect leads to; reloading
    that page shows no link and creates none."""
    c = client_for("clinician")
    pid, eid = world.patients["A"], world.episodes["A"]
    url = f"/clinic/patients/{pid}/episodes/{eid}/invitations"
    # procedure 40 days ago; the default schedule (baseline, 3, 6, 12, 24 months): baseline closed, 3 months
    # opens on day 64 (within the look-ahead), 6 months on day 137 (beyond it)
    form = c.get(f"/clinic/patients/{pid}").text
    offered = re.findall(r'<option value="([\w]+)"[^>]*>[^<]*(?:open now|opens \w+ \d{1,2}, \d{4})', form)
    assert offered == ["3m"]
    bad = post(c, url, {"timepoint": "3m", "instruments": []})
    assert bad.status_code == 422 and "invitation.instruments" in bad.text
    bad = post(c, url, {"timepoint": "9m", "instruments": ["odi"]})
    assert bad.status_code == 422 and "invitation.timepoint" in bad.text
    bad = post(c, url, {"timepoint": "baseline", "instruments": ["odi"]})  # the baseline window closed
    assert bad.status_code == 422 and "invitation.timepoint" in bad.text
    before = count(app, InvitationRow)
    r = post(c, url, {"timepoint": "3m", "instruments": ["odi", "nrs_leg"]})
    assert r.status_code == 303 and r.headers["location"] == (
        f"/clinic/patients/{pid}?episode={eid}&notice=link-created#new-link")
    assert "/p/" not in r.headers["location"]
    assert count(app, InvitationRow) == before + 1
    shown = c.get(r.headers["location"])
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    tokens = set(re.findall(r"https?://[^\s\"<]+/p/([A-Za-z0-9_\-]{20,})", shown.text))
    assert len(tokens) == 1
    token = tokens.pop()
    assert "It waits until the window opens on" in shown.text
    reload = c.get(r.headers["location"])  # the reload: no link shown, none created
    assert token not in reload.text and "shown once" in reload.text
    assert count(app, InvitationRow) == before + 1
    opens = dt.datetime.combine(TODAY + dt.timedelta(days=24), dt.time(9))  # day 64: the 3-month window opens
    _, view = app.state.access.open_invitation(token, now=opens)  # before that day the link waits
    assert (view.episode_id, view.patient_id, view.timepoint, view.instruments) == (
        eid, pid, "3m", ("odi", "nrs_leg"))
    again = c.get(f"/clinic/patients/{pid}")
    assert token not in again.text and "3 months" in again.text  # listed, but the link is not shown again


def test_timeline_json_holds_the_patients_scores_and_the_cohort_band_equals_numpy(
        app: Any, world: World, client_for: Client) -> None:
    store = app.state.store
    actor = Actor("setup", "clinician", world.sites["A"])
    eid = world.episodes["A"]
    surgery = TODAY - dt.timedelta(days=40)
    store.submit_response(actor, eid, {"instrument": "odi", "timepoint": "6w", "collected_on": TODAY.isoformat(),
                                       "answers": odi_answers(12)})
    for tp, day, pain in (("baseline", surgery - dt.timedelta(days=10), 7), ("6w", TODAY, 3)):
        store.submit_response(actor, eid, {"instrument": "nrs_leg", "timepoint": tp, "collected_on": day.isoformat(),
                                           "answers": {"pain": pain}})
    cohort = build_cohort(store, world.sites)
    html = client_for("clinician").get(f"/clinic/patients/{world.patients['A']}").text
    odi = plot(html, "plot-odi")
    me = trace(odi, "patient")
    assert me["x"] == [-10, 40] and me["y"] == [60.0, 24.0]
    world_mis = {"baseline": [60.0, 60.0], "6w": [24.0], "12m": []}  # the world's two patients
    expected = {tp: cohort.values("odi", "mis", tp) + extra for tp, extra in world_mis.items()}
    assert [len(v) for v in expected.values()] == [12, 10, 6]
    med, q1, q3 = trace(odi, "cohort_median"), trace(odi, "cohort_q1"), trace(odi, "cohort_q3")
    assert med["x"] == q1["x"] == q3["x"] == [0, 42, 365]
    for i, tp in enumerate(("baseline", "6w", "12m")):
        lo, mid, hi = quartiles(expected[tp])
        assert (q1["y"][i], med["y"][i], q3["y"][i]) == (pytest.approx(lo), pytest.approx(mid), pytest.approx(hi))
    mcid = trace(odi, "mcid")
    assert mcid["y"] == [50.0, 50.0] and "Ostelo" in mcid["name"] and "2008" in mcid["name"]
    assert "MCID" in json.dumps(odi["layout"]["annotations"])
    assert odi["layout"]["xaxis"]["title"]["text"].startswith("Days from the index date")
    assert "ODI" in odi["layout"]["yaxis"]["title"]["text"]
    # distinguishable without colour: different dash and marker symbol
    assert me["line"].get("dash", "solid") != med["line"]["dash"] != mcid["line"]["dash"]
    assert me["marker"]["symbol"] != med["marker"]["symbol"]
    leg = plot(html, "plot-nrs_leg")
    assert trace(leg, "patient")["y"] == [7.0, 3.0] and trace(leg, "mcid")["y"] == [5.0, 5.0]
    leg_base = [*cohort.values("nrs_leg", "mis", "baseline"), 7.0]
    assert trace(leg, "cohort_median")["x"] == [0]  # 6 weeks: one patient → suppressed, left out
    assert trace(leg, "cohort_median")["y"][0] == pytest.approx(float(np.median(leg_base)))
    eq = plot(html, "plot-eq5d5l")
    assert not [t for t in eq["data"] if t.get("meta") in ("patient", "mcid")]  # no scores, no shipped MCID
    assert "-36.0" in html and "improved" in html  # the data table: change from baseline vs Ostelo MCID
    assert '<script src="/vendor/plotly.min.js"></script>' in html and "https://" not in html


def test_overview_shows_completeness_outcomes_and_complications_by_role(
        app: Any, world: World, client_for: Client) -> None:
    cohort = build_cohort(app.state.store, world.sites)
    clin = client_for("clinician").get("/clinic/overview")
    assert clin.status_code == 200
    lo, mid, hi = quartiles(cohort.values("odi", "mis", "6w", site="A"))
    assert f"{mid:.1f} [{lo:.1f}–{hi:.1f}] (6)" in clin.text  # site A only, every cell
    odi = plot(clin.text, "plot-outcome-odi")
    mis = trace(odi, "mis")
    i = [round(x) for x in mis["x"]].index(2)  # the third timepoint, 6 weeks
    assert mis["y"][i] == pytest.approx(mid) and mis["error_y"]["array"][i] == pytest.approx(hi - mid)
    assert mis["error_y"]["arrayminus"][i] == pytest.approx(mid - lo)
    assert mis["marker"]["symbol"] != trace(odi, "open")["marker"]["symbol"]
    assert trace(odi, "open")["line"]["dash"] != mis["line"]["dash"]
    table = re.search(r'<table class="data complication-table" id="complications-mis">(.*?)</table>', clin.text, re.S)
    assert table and re.search(r"dural tear</th>\s*<td class=\"num\">5</td>", table.group(1))
    assert "Patient A Example" not in clin.text
    res = client_for("researcher").get("/clinic/overview")
    assert res.status_code == 200
    assert "Patient A Example" not in res.text and "MRN-A-1" not in res.text and "ST-" not in res.text
    lo, mid, hi = quartiles(cohort.values("odi", "open", "12m"))
    assert f"{mid:.1f} [{lo:.1f}–{hi:.1f}] (7)" in res.text  # registry-wide
    assert "n &lt; 5" in res.text  # conservative arm: 2 patients
    opened = re.search(r'id="complications-open">(.*?)</table>', res.text, re.S)
    assert opened and "ssi deep</th>" in opened.group(1) and "&lt;5" in opened.group(1)
    assert client_for("admin").get("/clinic/overview").status_code == 403


def test_who_may_see_the_patient_pages(app: Any, world: World, client_for: Client) -> None:
    a_page = f"/clinic/patients/{world.patients['A']}"
    clin = client_for("clinician")
    listing = clin.get("/clinic")
    assert "Patient A Example" in listing.text and "Patient B Example" not in listing.text
    assert clin.get(a_page).status_code == 200
    assert clin.get(f"/clinic/patients/{world.patients['B']}").status_code == 404
    other = client_for("other_clinician")
    r = other.get(a_page)
    assert r.status_code == 404 and "Patient A Example" not in r.text
    researcher = client_for("researcher")
    assert researcher.get(a_page).status_code == 403
    assert researcher.get("/clinic").status_code == 403
    assert researcher.get("/clinic/enrol").status_code == 403
    assert client_for("admin").get(a_page).status_code == 403
    anon = client_for("anonymous")
    r = anon.get(a_page, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_patient_list_searches_filters_and_pages(app: Any, world: World, client_for: Client) -> None:
    store = app.state.store
    actor = Actor("setup", "clinician", world.sites["A"])
    for i in range(26):
        pid = store.add_patient(actor, world.sites["A"], {"birth_year": 1950 + i, "sex": "female"},
                                identity={"full_name": f"Listed {i:02d}", "mrn": f"L-{i:02d}"})
        store.add_episode(actor, pid, {"diagnosis_code": "M54.50", "levels": "L4-L5", "treatment": "conservative",
                                       "enrolled_on": TODAY.isoformat()})
    c = client_for("clinician")
    first = c.get("/clinic")
    assert "27 matches · page 1 of 2" in first.text and first.text.count('href="/clinic/patients/') == 25
    second = c.get("/clinic", params={"page": 2})
    assert second.text.count('href="/clinic/patients/') == 2 and "Patient A Example" in second.text
    assert 'href="/clinic?page=1"' in second.text
    by_mrn = c.get("/clinic", params={"q": "l-07"})
    assert "Listed 07" in by_mrn.text and "1 match" in by_mrn.text
    cons = c.get("/clinic", params={"treatment": "conservative", "page": 2})
    assert "26 matches" in cons.text and "Patient A Example" not in cons.text
    assert 'href="/clinic?treatment=conservative&amp;page=1"' in cons.text  # filters kept across pages
    disc = c.get("/clinic", params={"diagnosis_group": "disc_herniation_radiculopathy"})
    assert "1 match" in disc.text and "Patient A Example" in disc.text
    due = c.get("/clinic", params={"followup": "due"})  # surgery 40 days ago: the 6-week window is open
    assert "Patient A Example" in due.text and "Listed" not in due.text
    assert c.get("/clinic", params={"treatment": "surgery"}).status_code == 422
