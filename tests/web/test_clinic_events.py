"""The clinic patient page's summary, event forms and corrections (SQLite and PostgreSQL).

Reference values:
- ODI 2.1a scoring (Fairbank JC, Pynsent PB. Spine 2000;25(22):2940-52): the sum of the ten items
  (0-5 each) over 50, as a percentage: all items 3 -> 60, all items 1 -> 20.
- MCID (Ostelo RW et al., Spine 2008;33(1):90-94; instruments/data/thresholds.csv, STANDARDS.md):
  ODI 10 points, NRS back and leg pain 2 points; no EQ-5D-5L MCID is shipped.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from spinetrack import clock
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.i18n import format_date
from spinetrack.store import corrections
from spinetrack.store.repositories import Actor
from spinetrack.store.tables import (
    AuditRow,
    CorrectionRow,
    EpisodeRow,
    FollowupRow,
    PatientIdentityRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
)
from tests.web.conftest import ODI_ITEMS, World

Client = Callable[[str], TestClient]
TODAY = clock.today()
WINDOWS = {tp.code: tp for tp in TIMEPOINTS}
SURGERY = TODAY - dt.timedelta(days=40)  # the world's procedure date (tests/web/conftest.py)


def post(c: TestClient, url: str, data: dict[str, Any]) -> Any:
    return c.post(url, data={**data, "csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)


def count(app: Any, table: Any, *where: Any) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def text_of(page: Any) -> str:
    """The page's visible text, tags removed and whitespace collapsed."""
    body = re.sub(r"<script.*?</script>", " ", page.text, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def section(page: Any, element_id: str) -> str:
    """The visible text of the element with this id (up to its matching closing tag)."""
    source = page.text if hasattr(page, "text") else page
    m = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"', source)
    assert m, element_id
    tag, depth, pos = m.group(1), 0, m.start()
    for t in re.finditer(rf"<(/?){tag}\b[^>]*>", source[pos:]):
        depth += -1 if t.group(1) else 1
        if depth == 0:
            chunk = source[pos:pos + t.end()]
            return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", chunk)))
    raise AssertionError(f"{element_id} is not closed")


def _actor(world: World) -> Actor:
    return Actor("setup", "clinician", world.sites["A"])


def _follow_up_scores(app: Any, world: World) -> None:
    """Site A's patient: ODI 60 -> 20, NRS back 7 -> 6, NRS leg 8 -> 5, EQ-5D-5L at 6 weeks only."""
    store, eid = app.state.store, world.episodes["A"]
    before = (SURGERY - dt.timedelta(days=10)).isoformat()
    for code, value in (("nrs_back", 7), ("nrs_leg", 8)):
        store.submit_response(_actor(world), eid, {"instrument": code, "timepoint": "baseline",
                                                   "collected_on": before, "answers": {"pain": value}})
    at_6w = TODAY.isoformat()
    store.submit_response(_actor(world), eid, {"instrument": "odi", "timepoint": "6w", "collected_on": at_6w,
                                               "answers": dict.fromkeys(ODI_ITEMS, 1)})
    for code, value in (("nrs_back", 6), ("nrs_leg", 5)):
        store.submit_response(_actor(world), eid, {"instrument": code, "timepoint": "6w", "collected_on": at_6w,
                                                   "answers": {"pain": value}})


# ---------------------------------------------------------------------------------- summary


def test_summary_shows_labels_and_the_mcid_verdicts_with_their_source(
        app: Any, world: World, client_for: Client) -> None:
    _follow_up_scores(app, world)
    c = client_for("clinician")
    page = c.get(f"/clinic/patients/{world.patients['A']}")
    assert page.status_code == 200
    facts = section(page, "summary-facts")
    assert "Intervertebral disc disorder with radiculopathy - lumbar (M51.16)" in facts
    assert "Tubular / microendoscopic discectomy (minimally invasive, tubular)" in facts
    assert "discectomy_tubular" not in text_of(page) and "MIS tubular" not in facts
    assert "no reoperation" in section(page, "summary-reoperations")
    assert "not screened yet" in section(page, "summary-red-flags")
    scores = section(page, "summary-scores")
    odi = re.search(r"ODI .*? 60\.0 20\.0 \(6 weeks\) -40\.0 yes : improved by 40 points, MCID 10 points "
                    r"Source: Ostelo RW et al\. Spine 2008;33\(1\):90-94", scores)
    assert odi, scores
    # NRS back 7 -> 6: 1 point, below the MCID of 2; NRS leg 8 -> 5: 3 points, reached
    assert re.search(r"Back pain \(NRS\) .*? 7\.0 6\.0 \(6 weeks\) -1\.0 no \(change smaller than the MCID "
                     r"of 2 points\)", scores), scores
    assert re.search(r"Leg pain \(NRS\) .*? 8\.0 5\.0 \(6 weeks\) -3\.0 yes : improved by 3 points, MCID 2 points",
                     scores), scores
    assert re.search(r"EQ-5D-5L index .*? no MCID shipped for this questionnaire", scores), scores
    # stale text is gone; the sections have their table of contents
    assert "until the analytics" not in page.text
    toc = section(page, "toc")
    for anchor in ("#summary", "#timeline", "#events", "#screening", "#followup", "#invitations", "#contact"):
        assert f'href="{anchor}"' in page.text, anchor
    assert "Summary" in toc and "Procedure and events" in toc


def test_summary_links_an_open_visit_to_the_paper_or_phone_answers_form(
        app: Any, world: World, client_for: Client) -> None:
    """The 6-week visit (window open: due) links to the coordinator's answers form; the 3-month
    visit (not open yet) is named as the next one once the 6-week visit is done."""
    eid = world.episodes["A"]
    ids = {}
    now = dt.datetime(2026, 1, 1)
    with app.state.store.transaction() as s:
        for tp in ("6w", "3m"):
            w = WINDOWS[tp]
            row = FollowupRow(episode_id=eid, timepoint=tp, due_on=SURGERY + dt.timedelta(w.target_days),
                              opens_on=SURGERY + dt.timedelta(w.window_from_days),
                              closes_on=SURGERY + dt.timedelta(w.window_to_days),
                              status="open" if tp == "6w" else "pending", reminders_sent=0, unreachable=False,
                              created_at=now, updated_at=now)
            s.add(row)
            s.flush()
            ids[tp] = row.id
    c = client_for("coordinator")
    page = c.get(f"/clinic/patients/{world.patients['A']}")
    closes = SURGERY + dt.timedelta(WINDOWS["6w"].window_to_days)
    follow = section(page, "summary-followup")
    assert "6 weeks open until" in follow and format_date(closes) in follow
    assert f'href="/clinic/followup/{ids["6w"]}/answers"' in page.text
    assert c.get(f"/clinic/followup/{ids['6w']}/answers").status_code == 200  # the link leads to the form
    with app.state.store.transaction() as s:
        s.execute(update(FollowupRow).where(FollowupRow.id == ids["6w"]).values(status="completed"))
    follow = section(c.get(f"/clinic/patients/{world.patients['A']}"), "summary-followup")
    opens = SURGERY + dt.timedelta(WINDOWS["3m"].window_from_days)
    assert f"next: 3 months, opens on {format_date(opens)}" in follow, follow


# ---------------------------------------------------------------------------------- events


def test_reoperation_form_records_it_and_the_summary_says_reoperated(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("coordinator")  # coordinators record events too
    pid, eid = world.patients["A"], world.episodes["A"]
    url = f"/clinic/patients/{pid}/episodes/{eid}/reoperations"
    when = SURGERY + dt.timedelta(days=20)
    r = post(c, url, {"performed_on": when.isoformat(), "reason": "recurrent_herniation", "levels": ["L4-L5"]})
    assert r.status_code == 303
    assert r.headers["location"] == f"/clinic/patients/{pid}?episode={eid}&notice=reoperation-saved#events"
    with app.state.engine.connect() as conn:
        row = conn.execute(select(ReoperationRow)).one()
        audit = conn.execute(select(AuditRow).where(AuditRow.entity == "reoperation")).one()
    assert (row.episode_id, row.performed_on, row.reason, row.levels) == (eid, when, "recurrent_herniation", "L4-L5")
    assert (audit.action, audit.entity_id, audit.patient_id, audit.actor) == (
        "create", str(row.id), pid, "a.coordinator")
    page = c.get(r.headers["location"])
    assert "Reoperation recorded." in page.text
    summary = section(page, "summary-reoperations")
    assert "reoperated on" in summary and "Recurrent disc herniation" in summary
    table = section(page, "reoperations-table")
    assert "Recurrent disc herniation" in table and "L4-L5" in table and "recurrent_herniation" not in table


def test_reoperation_form_lists_every_problem_at_once_and_keeps_what_was_typed(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    pid, eid = world.patients["A"], world.episodes["A"]
    before_surgery = (SURGERY - dt.timedelta(days=3)).isoformat()
    r = post(c, f"/clinic/patients/{pid}/episodes/{eid}/reoperations",
             {"performed_on": before_surgery, "reason": "bad_luck", "levels": ["L1-L2"]})
    assert r.status_code == 422
    assert count(app, ReoperationRow) == 0
    page = r.text
    # three messages, each beside its field (aria-describedby), all in the summary box at once
    for name in ("performed_on", "reason", "levels"):
        assert f'id="reop-{name}-error"' in page, name
        assert f'aria-describedby="reop-{name}-error"' in page, name
    assert "Please correct 3 fields" in page
    errors = section(r, "reop-errors")
    assert f"after the index procedure date {SURGERY.isoformat()}" in errors
    assert "recurrent_herniation" in errors  # the allowed values are named
    assert "L1-L2 is not one of this episode's levels (L4-L5)" in errors
    assert f'value="{before_surgery}"' in page  # what was typed is kept
    assert re.search(r'id="reop-reoperation-form" open|id="reoperation-form" open', page)


def test_readmission_form_records_it_and_refuses_a_date_before_surgery(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    pid, eid = world.patients["A"], world.episodes["A"]
    url = f"/clinic/patients/{pid}/episodes/{eid}/readmissions"
    bad = post(c, url, {"admitted_on": (SURGERY - dt.timedelta(days=1)).isoformat(), "reason": "wound"})
    assert bad.status_code == 422 and 'id="readm-admitted_on-error"' in bad.text
    assert f"after the procedure date {SURGERY.isoformat()}" in section(bad, "readm-errors")
    assert 'value="wound"' in bad.text and count(app, ReadmissionRow) == 0
    future = post(c, url, {"admitted_on": "2999-01-01", "reason": ""})
    assert future.status_code == 422 and "not in the future" in section(future, "readm-errors")
    ok = post(c, url, {"admitted_on": (SURGERY + dt.timedelta(days=5)).isoformat(), "reason": "wound oozing"})
    assert ok.status_code == 303
    with app.state.engine.connect() as conn:
        row = conn.execute(select(ReadmissionRow)).one()
    assert (row.episode_id, row.admitted_on, row.reason) == (eid, SURGERY + dt.timedelta(days=5), "wound oozing")
    assert count(app, AuditRow, AuditRow.entity == "readmission", AuditRow.action == "create") == 1
    assert "wound oozing" in section(c.get(f"/clinic/patients/{pid}"), "readmissions-table")


@pytest.mark.parametrize("path", ["reoperations", "readmissions"])
def test_event_forms_refuse_other_roles_other_sites_and_a_missing_csrf_token(
        app: Any, world: World, client_for: Client, path: str) -> None:
    pid, eid = world.patients["A"], world.episodes["A"]
    url = f"/clinic/patients/{pid}/episodes/{eid}/{path}"
    data = {"performed_on": (SURGERY + dt.timedelta(days=9)).isoformat(), "reason": "restenosis",
            "admitted_on": (SURGERY + dt.timedelta(days=9)).isoformat()}
    data = {k: v for k, v in data.items() if (k == "admitted_on") == (path == "readmissions") or k == "reason"}
    table = ReoperationRow if path == "reoperations" else ReadmissionRow
    assert post(client_for("researcher"), url, data).status_code == 403
    assert post(client_for("admin"), url, data).status_code == 403
    assert post(client_for("other_clinician"), url, data).status_code == 404  # another site's: not found
    # site B's patient with site A's episode id: not found either
    assert post(client_for("clinician"), f"/clinic/patients/{world.patients['B']}/episodes/{eid}/{path}",
                data).status_code == 404
    no_token = client_for("clinician")
    no_token.headers.pop("X-CSRF-Token")
    r = no_token.post(url, data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert count(app, table) == 0


def test_conversion_to_open_through_the_page_and_the_api_agree(app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    actor = _actor(world)
    store = app.state.store
    pid = store.add_patient(actor, world.sites["A"], {"birth_year": 1970, "sex": "male"},
                            identity={"full_name": "Cy Converted"})
    eids = [store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5", "treatment": "mis",
                                           "treatment_family": "discectomy",
                                           "enrolled_on": (TODAY - dt.timedelta(days=30)).isoformat()})
            for _ in range(2)]
    day = (TODAY - dt.timedelta(days=3)).isoformat()
    form = {"procedure_code": "discectomy_tubular", "performed_on": day, "levels": ["L4-L5"],
            "converted_to_open": "yes"}
    assert 'name="converted_to_open"' in c.get(f"/clinic/patients/{pid}?episode={eids[0]}").text
    assert post(c, f"/clinic/patients/{pid}/episodes/{eids[0]}/procedure", form).status_code == 303
    api = c.post(f"/api/v1/episodes/{eids[1]}/procedures", json={
        "procedure_code": "discectomy_tubular", "performed_on": day, "levels": "L4-L5", "converted_to_open": True})
    assert api.status_code == 201 and api.json()["converted_to_open"] is True
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(ProcedureRow.episode_id, ProcedureRow.approach, ProcedureRow.converted_to_open)
                            .where(ProcedureRow.episode_id.in_(eids)).order_by(ProcedureRow.episode_id)).all()
    assert [tuple(r) for r in rows] == [(eids[0], "mis", True), (eids[1], "mis", True)]  # still MIS: ITT
    listed = c.get(f"/api/v1/episodes/{eids[0]}/procedures").json()["items"]
    assert listed[0]["converted_to_open"] is True
    page = c.get(f"/clinic/patients/{pid}?episode={eids[0]}")
    assert "converted to open" in section(page, "summary-procedure")
    assert "intention to treat" in section(page, "summary-procedure")
    # an open procedure cannot be "converted to open"
    oeid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5", "treatment": "open",
                                          "treatment_family": "discectomy",
                                          "enrolled_on": (TODAY - dt.timedelta(days=30)).isoformat()})
    refused = c.post(f"/api/v1/episodes/{oeid}/procedures", json={
        "procedure_code": "discectomy_open", "performed_on": day, "levels": "L4-L5", "converted_to_open": True})
    assert refused.status_code == 422 and "procedure.converted_to_open" in refused.text
    assert count(app, ProcedureRow, ProcedureRow.episode_id == oeid) == 0


# ---------------------------------------------------------------------------------- corrections


def _procedure_id(app: Any, world: World) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(ProcedureRow.id).where(ProcedureRow.episode_id == world.episodes["A"]))
                   .scalar_one())


def test_correcting_blood_loss_keeps_the_old_value_in_corrections_and_audit(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    pid, proc = world.patients["A"], _procedure_id(app, world)
    url = f"/clinic/patients/{pid}/corrections"
    form = {"entity": "procedure", "entity_id": str(proc), "field": "ebl_ml", "new_value": "300",
            "reason": "Typing error: the anaesthetic chart says 300 mL", "episode": str(world.episodes["A"])}
    r = post(c, url, form)
    assert r.status_code == 303 and "notice=corrected" in r.headers["location"]
    with app.state.engine.connect() as conn:
        assert conn.execute(select(ProcedureRow.ebl_ml).where(ProcedureRow.id == proc)).scalar_one() == 300.0
        fix = conn.execute(select(CorrectionRow)).one()
        audit = conn.execute(select(AuditRow).where(AuditRow.entity == "procedure", AuditRow.action == "update")).one()
    assert (fix.entity, fix.entity_id, fix.patient_id, fix.field, fix.old_value, fix.new_value, fix.reason,
            fix.corrected_by) == ("procedure", proc, pid, "ebl_ml", 30.0, 300, form["reason"], "a.clinician")
    assert audit.detail["old"] == 30.0 and audit.detail["new"] == 300 and audit.detail["field"] == "ebl_ml"
    assert audit.detail["reason"] == form["reason"] and audit.patient_id == pid
    page = c.get(r.headers["location"])
    history = section(page, f"history-procedure-{proc}")
    assert "corrected" in history and "Blood loss (mL): 30 → 300" in history
    assert form["reason"] in history and "a.clinician" in history


def test_a_correction_needs_a_reason_and_a_valid_value_and_stores_nothing_otherwise(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("coordinator")
    pid, proc = world.patients["A"], _procedure_id(app, world)
    url = f"/clinic/patients/{pid}/corrections"
    no_reason = post(c, url, {"entity": "procedure", "entity_id": str(proc), "field": "los_days", "new_value": "2",
                              "reason": "  "})
    assert no_reason.status_code == 422
    assert "Please give the reason for the correction" in no_reason.text
    assert f'aria-describedby="corr-procedure-{proc}-reason-error"' in no_reason.text
    assert 'value="2"' in no_reason.text  # the typed value is kept
    bad = post(c, url, {"entity": "procedure", "entity_id": str(proc), "field": "los_days", "new_value": "400",
                        "reason": "wrong"})
    assert bad.status_code == 422 and "0 to 365 days" in bad.text
    open_conv = post(c, url, {"entity": "procedure", "entity_id": str(proc), "field": "performed_on",
                              "new_value": (TODAY + dt.timedelta(days=400)).isoformat(), "reason": "wrong"})
    assert open_conv.status_code == 422
    with app.state.engine.connect() as conn:
        assert conn.execute(select(ProcedureRow.los_days).where(ProcedureRow.id == proc)).scalar_one() == 1.0
    assert count(app, CorrectionRow) == 0
    assert count(app, AuditRow, AuditRow.entity == "procedure", AuditRow.action == "update") == 0
    # another site's clinician: not found, nothing stored
    other = post(client_for("other_clinician"), url, {"entity": "procedure", "entity_id": str(proc),
                                                      "field": "los_days", "new_value": "2", "reason": "x"})
    assert other.status_code == 404 and count(app, CorrectionRow) == 0
    assert post(client_for("researcher"), url, {"entity": "procedure", "entity_id": str(proc), "field": "los_days",
                                                "new_value": "2", "reason": "x"}).status_code == 403


def test_correcting_the_procedure_date_moves_the_index_date_and_days_from_index(app: Any, world: World) -> None:
    store, eid, proc = app.state.store, world.episodes["A"], _procedure_id(app, world)
    new = SURGERY - dt.timedelta(days=2)
    fix = corrections.correct(store, _actor(world), "procedure", proc, "performed_on", new.isoformat(),
                              "date of the operating list")
    assert (fix.old_value, fix.new_value) == (SURGERY.isoformat(), new.isoformat())
    with app.state.engine.connect() as conn:
        assert conn.execute(select(EpisodeRow.index_date).where(EpisodeRow.id == eid)).scalar_one() == new
        base = conn.execute(select(PromResponseRow.days_from_index).where(PromResponseRow.episode_id == eid)).one()
    assert base[0] == -8  # collected 10 days before the old date = 8 days before the new one


def test_correcting_a_complication_and_the_episode_diagnosis(app: Any, world: World, client_for: Client) -> None:
    store, pid, eid = app.state.store, world.patients["A"], world.episodes["A"]
    cid = store.add_complication(_actor(world), eid, {"category": "dural_tear", "clavien_dindo": "I",
                                                      "occurred_on": SURGERY.isoformat()})
    c = client_for("clinician")
    url = f"/clinic/patients/{pid}/corrections"
    bad = post(c, url, {"entity": "complication", "entity_id": str(cid), "field": "clavien_dindo",
                        "new_value": "VI", "reason": "graded again"})
    assert bad.status_code == 422 and "IIIa" in bad.text  # the allowed grades are named
    assert post(c, url, {"entity": "complication", "entity_id": str(cid), "field": "clavien_dindo",
                         "new_value": "IIIb", "reason": "repaired under general anaesthesia"}).status_code == 303
    assert post(c, url, {"entity": "episode", "entity_id": str(eid), "field": "diagnosis_code",
                         "new_value": "M51.17", "reason": "MRI report: lumbosacral"}).status_code == 303
    with app.state.engine.connect() as conn:
        assert conn.execute(select(EpisodeRow.diagnosis_code).where(EpisodeRow.id == eid)).scalar_one() == "M51.17"
        fixes = conn.execute(select(CorrectionRow.entity, CorrectionRow.old_value, CorrectionRow.new_value)
                             .order_by(CorrectionRow.id)).all()
    assert [tuple(f) for f in fixes] == [("complication", "I", "IIIb"), ("episode", "M51.16", "M51.17")]
    page = c.get(f"/clinic/patients/{pid}")
    assert "Grade I → Grade IIIb" in section(page, f"history-complication-{cid}")
    assert "(M51.16) → " in section(page, f"history-episode-{eid}")


# ---------------------------------------------------------------------------------- language


def test_the_contact_form_records_the_patients_language(app: Any, world: World, client_for: Client) -> None:
    c = client_for("coordinator")
    pid = world.patients["A"]
    url = f"/clinic/patients/{pid}/contact"
    base = {"channel": "letter", "contact_consent": "yes", "postal_address": "1 High Street"}
    bad = post(c, url, {**base, "language": "fr"})
    assert bad.status_code == 422
    assert "contact.language: 'fr' is not allowed; allowed: en, es" in html.unescape(bad.text)
    with app.state.engine.connect() as conn:
        assert conn.execute(select(PatientIdentityRow.language).where(
            PatientIdentityRow.patient_id == pid)).scalar_one() is None
    assert post(c, url, {**base, "language": "es"}).status_code == 303
    with app.state.engine.connect() as conn:
        assert conn.execute(select(PatientIdentityRow.language).where(
            PatientIdentityRow.patient_id == pid)).scalar_one() == "es"
        audit = conn.execute(select(AuditRow).where(AuditRow.entity == "patient_language",
                                                  AuditRow.action == "update")).one()
    assert audit.detail == {"changes": {"language": [None, "es"]}} and audit.patient_id == pid
    assert "Language: Spanish (español)." in section(c.get(f"/clinic/patients/{pid}"), "contact-summary")
