"""Decision-support pages and API (``spinetrack.web.routes.decision``) through the TestClient.

These tests check the web layer only: routing, roles, what each page shows for each kind of
document, the PDF download and the API's response model. The decision-support document itself
is built by ``spinetrack.predict.decision.build_decision_support``; here it is replaced (with
``monkeypatch``) by a stand-in that returns the hand-made documents of
``tests/reports/test_decision_aid.py``. That is a legitimate way to unit-test rendering: the
stand-in keeps the real function's contract where the web layer depends on it — it reads the
patient through the store as the signed-in user, so that another site's patient is a 404 and the
read is audited, and only then returns the document. The real builder is tested with its own
module, and end to end by tests/browser/test_decision_aid.py.

Roles: clinicians only. Coordinators, researchers and admins get 403. Without a staff session
(anonymous, or a patient's questionnaire session, which is the only way a patient signs in)
pages redirect to the sign-in page and the API answers 401, as on every other clinic route; a
patient has no staff role that could be refused with 403.
"""

from __future__ import annotations

import copy
import html as htmllib
import importlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack.store.tables import AuditRow, EpisodeRow
from tests.reports.test_decision_aid import fixture
from tests.web.conftest import World
from tests.web.test_api import open_patient_session

Client = Callable[[str], TestClient]
MODULE = "spinetrack.predict.decision"
PAGES = ("/clinic/patients/{pid}/decision-aid", "/clinic/patients/{pid}/decision-aid.pdf",
         "/clinic/patients/{pid}/decision-support")
API = "/api/v1/patients/{pid}/decision-support"


class StandIn:
    """Replaces ``build_decision_support(store, actor, patient_id, *, models_dir, episode_id=None,
    today=None)``: reads the patient through the store (authorised, audited) and returns a copy of
    ``document`` for that patient."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.calls: list[tuple[int, str, int | None]] = []
        self.models_dirs: list[Any] = []

    def __call__(self, store: Any, actor: Any, patient_id: int, *, models_dir: Any, episode_id: int | None = None,
                 today: Any = None) -> dict[str, Any]:
        store.get_patient(actor, patient_id)  # 404 for another site's patient; audits the read
        self.calls.append((patient_id, actor.name, episode_id))
        self.models_dirs.append(models_dir)
        doc = copy.deepcopy(self.document)
        doc["patient"]["id"] = patient_id
        if doc.get("episode"):  # the patient's real episode, as the builder gives (the pages read its preferences)
            with store.transaction() as s:  # test plumbing: not a read the pages make, so not audited
                newest = s.execute(select(EpisodeRow.id).where(EpisodeRow.patient_id == patient_id)
                                   .order_by(EpisodeRow.id.desc()).limit(1)).scalar()
            doc["episode"]["id"] = episode_id or newest or doc["episode"]["id"]
        return doc


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], StandIn]:
    """``serve(name)`` makes ``build_decision_support`` return fixture ``name``."""

    def install(name: str) -> StandIn:
        stand_in = StandIn(fixture(name))
        module = importlib.import_module(MODULE)  # a broken module fails here, loudly
        monkeypatch.setattr(module, "build_decision_support", stand_in)
        return stand_in

    return install


def _text(html: str) -> str:
    main = re.search(r"<main[^>]*>(.*)</main>", html, re.DOTALL)
    assert main
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", main.group(1))))


def _offline(html: str) -> None:
    assert not re.search(r'(src|href)="(https?:)?//', html)


# ---------------------------------------------------------------------------------- the patient version


def test_patient_version_of_a_normal_patient(client_for: Client, world: World, serve: Any) -> None:
    stand_in = serve("normal")
    c = client_for("clinician")
    pid = world.patients["A"]
    r = c.get(f"/clinic/patients/{pid}/decision-aid")
    assert r.status_code == 200, r.text
    html = r.text
    _offline(html)
    assert '<link rel="stylesheet" href="/static/decision.css">' in html
    assert 'class="decision-aid"' in html
    assert f'href="/clinic/patients/{pid}/decision-support"' in html            # back to the clinician view
    assert f'href="/clinic/patients/{pid}/decision-aid.pdf"' in html
    text = _text(html)
    assert "Your choices for a slipped disc pressing on a nerve" in text
    assert "Out of 100 people like you, about 62 feel clearly better in daily life after one year." in text
    assert "We are fairly sure it is between 55 and 69." in text
    assert "This comes from this clinic's patients." in text
    assert len(re.findall(r'<svg class="icon-array"[^>]*role="img"', html)) == 8
    assert '<table class="aid-grid">' in html
    assert "c_statistic" not in html and "0.71" not in html                       # no model numbers here
    assert stand_in.calls == [(pid, "a.clinician", None)]
    assert stand_in.models_dirs == [c.app.state.settings.models_dir]
    assert c.get("/static/decision.css").status_code == 200


def test_patient_version_of_a_red_flag_patient_shows_only_the_urgent_message(
        client_for: Client, world: World, serve: Any) -> None:
    serve("red_flag")
    html = client_for("clinician").get(f"/clinic/patients/{world.patients['A']}/decision-aid").text
    text = _text(html)
    assert "a doctor needs to check your back today" in text and 'role="alert"' in html
    for word in ("Keyhole", "Open surgery", "without surgery", "Out of 100", "Red flag"):
        assert word not in text
    assert not re.search(r"\d", text), text
    assert "<svg" not in html and "<table" not in html


def test_patient_version_of_an_unscreened_patient_asks_for_screening_first(
        client_for: Client, world: World, serve: Any) -> None:
    serve("unscreened")
    text = _text(client_for("clinician").get(f"/clinic/patients/{world.patients['A']}/decision-aid").text)
    assert "Safety questions first" in text and "safety questions about your back" in text
    assert "Keyhole" not in text and "Out of 100" not in text


def test_pdf_download(client_for: Client, world: World, serve: Any) -> None:
    serve("normal")
    r = client_for("clinician").get(f"/clinic/patients/{world.patients['A']}/decision-aid.pdf")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == 'attachment; filename="decision-aid-P-0012.pdf"'
    assert r.headers["cache-control"] == "no-store"
    assert r.content.startswith(b"%PDF-")


# ---------------------------------------------------------------------------------- the clinician version


def test_clinician_version_of_a_normal_patient(client_for: Client, world: World, serve: Any) -> None:
    serve("normal")
    pid = world.patients["A"]
    html = client_for("clinician").get(f"/clinic/patients/{pid}/decision-support").text
    _offline(html)
    text = _text(html)
    assert 'id="screening-warning"' not in html and 'id="urgent-message"' not in html
    assert f'href="/clinic/patients/{pid}/decision-aid"' in html
    row = re.search(r'<tr id="outcome-odi_mcid_12m">(.*?)</tr>', html, re.DOTALL)
    assert row
    cells = _text("<main>" + row.group(1) + "</main>")
    assert "62.0% 95% CI of the average 55.0% to 69.0% clinic model n = 412 · discectomy.odi_mcid_12m" in cells
    assert "41.0% 95% CI of the average 34.0% to 48.0% clinic model n = 388" in cells
    # a score shows the range of one patient beside the interval of the average
    odi = re.search(r'<tr id="outcome-odi_12m">(.*?)</tr>', html, re.DOTALL)
    assert odi and "18.2 95% CI of the average 15.6 to 20.9 90% of patients like this: 3.4 to 33.0" in _text(
        "<main>" + odi.group(1) + "</main>")
    assert 'id="baseline-warning"' not in html and "ds-mixed" not in html
    # the age the predictions use is the episode's, shown beside today's
    assert re.search(r'<dd id="age-at-baseline">47 on 2026-11-02, the start of this episode', html)
    los = re.search(r'<tr id="outcome-los_days">(.*?)</tr>', html, re.DOTALL)
    assert los and "does not apply" in los.group(1)
    models = re.search(r'<table class="data ds-models" id="models-table">(.*?)</table>', html, re.DOTALL)
    assert models
    assert re.search(r"discectomy\.odi_mcid_12m</th><td class=\"num\">713</td>\s*<td class=\"num\">0\.71</td>"
                     r"<td class=\"num\">0\.69</td><td class=\"num\">0\.01</td><td class=\"num\">0\.97</td>"
                     r"<td class=\"num\">0\.93</td><td class=\"num\">0\.200</td>", models.group(1))
    assert html.count('<div class="ds-svg"><div role="img" aria-label="Reliability diagram of ') == 1
    assert "<?xml" not in html
    assert "Suspected cauda equina syndrome" in text and "absent" in text
    assert "Is leg pain worse than back pain?" in text and "not met" in text and "not answered" in text
    assert "NICE NG59" in text and "NASS Evidence-Based Clinical Guidelines" in text


def test_clinician_version_of_a_red_flag_patient_shows_only_the_urgent_message(
        client_for: Client, world: World, serve: Any) -> None:
    serve("red_flag")
    html = client_for("clinician").get(f"/clinic/patients/{world.patients['A']}/decision-support").text
    assert 'id="urgent-message"' in html and 'role="alert"' in html
    assert "Red flag: suspected cauda equina syndrome." in html
    for marker in ('id="outcomes-table"', 'id="models-table"', 'id="red-flags-table"', 'id="criteria-table"',
                   "Open the patient version", "Conservative care", "<svg"):
        assert marker not in html


def test_clinician_version_of_an_unscreened_patient_warns_prominently(
        client_for: Client, world: World, serve: Any) -> None:
    serve("unscreened")
    html = client_for("clinician").get(f"/clinic/patients/{world.patients['A']}/decision-support").text
    warning = re.search(r'<div class="ds-warning" role="alert" id="screening-warning">(.*?)</div>', html, re.DOTALL)
    assert warning and "Red-flag screening is not recorded" in warning.group(1)
    assert html.index('id="screening-warning"') < html.index('id="outcomes-table"')  # above the numbers
    assert "Not screened." in html


def test_clinician_version_with_literature_and_none_sources(client_for: Client, world: World, serve: Any) -> None:
    serve("literature")
    c = client_for("clinician")
    url = f"/clinic/patients/{world.patients['A']}/decision-support"
    html = c.get(url).text
    assert 'class="badge src-literature">literature</span>' in html
    assert "Example A et al. Minimally invasive versus open decompression" in html
    assert 'id="synthetic-warning"' in html
    # rows mixing the clinic's model and published studies say so on the row
    row = re.search(r'<tr id="outcome-odi_12m">(.*?)</tr>', html, re.DOTALL)
    assert row and "Sources differ in this row" in row.group(1) and 'class="badge src-mixed ds-mixed"' in row.group(1)
    los = re.search(r'<tr id="outcome-los_days">(.*?)</tr>', html, re.DOTALL)
    assert los and "Sources differ" not in los.group(1)
    page = c.get(f"/clinic/patients/{world.patients['A']}/decision-aid").text
    assert page.count('class="aid-mixed-tag"') == 6 and "come from different places" in page
    serve("none_source")
    html = c.get(url).text
    assert 'class="badge src-none">no estimate</span>' in html
    assert "too few patients with this follow-up" in html
    assert "<strong>Open fusion</strong> is not offered: ASA grade 4: open fusion not offered at this site" in html


# ---------------------------------------------------------------------------------- API


def test_api_returns_the_document(app: Any, client_for: Client, world: World, serve: Any) -> None:
    serve("normal")
    pid = world.patients["A"]
    r = client_for("clinician").get(API.format(pid=pid))
    assert r.status_code == 200, r.text
    expected = fixture("normal")
    expected["patient"]["id"] = pid
    expected["episode"]["id"] = world.episodes["A"]
    assert r.json() == expected
    schema = app.openapi()
    op = schema["paths"]["/api/v1/patients/{patient_id}/decision-support"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/DecisionSupportPublic")
    assert {"401", "403", "404"} <= set(op["responses"])
    assert "by_option" in schema["components"]["schemas"]["DecisionOutcomePublic"]["properties"]
    assert not any(p.startswith("/clinic") for p in schema["paths"])  # pages stay out of the API document


def test_missing_baseline_scores_are_said_on_both_pages(client_for: Client, world: World, serve: Any) -> None:
    """Without a baseline ODI the clinician page warns above the numbers and
    marks every estimate made without the patient's scores; the patient page says it plainly."""
    serve("no_baseline")
    pid = world.patients["A"]
    c = client_for("clinician")
    html = c.get(f"/clinic/patients/{pid}/decision-support").text
    assert 'id="baseline-warning"' in html and "Baseline scores not recorded</strong> (ODI)" in html
    assert html.index('id="baseline-warning"') < html.index('id="outcomes-table"')
    assert html.count("without the patient's baseline scores") == 19
    aid = c.get(f"/clinic/patients/{pid}/decision-aid").text
    assert "We do not have your own scores for pain and daily life from before treatment." in aid
    body = c.get(API.format(pid=pid)).json()
    assert body["baseline_scores_missing"] == ["odi_pct"]
    assert body["outcomes"][1]["by_option"]["mis"]["uses_baseline_scores"] is False


def test_api_red_flag_document_has_no_options(client_for: Client, world: World, serve: Any) -> None:
    serve("red_flag")
    body = client_for("clinician").get(API.format(pid=world.patients["A"])).json()
    assert body["screening"]["urgent"] is True
    assert (body["options"], body["outcomes"], body["models"]) == ([], [], [])


# ---------------------------------------------------------------------------------- roles and audit


def test_roles_on_every_route(app: Any, client_for: Client, world: World, serve: Any) -> None:
    stand_in = serve("normal")
    pid = world.patients["A"]
    clients = {role: client_for(role) for role in ("anonymous", "coordinator", "researcher", "admin",
                                                   "other_clinician")}
    clients["patient"] = open_patient_session(app, world.invitations["A"])
    try:
        for path in PAGES:
            url = path.format(pid=pid)
            for role in ("anonymous", "patient"):
                r = clients[role].get(url, follow_redirects=False)
                assert (r.status_code, r.headers.get("location")) == (303, f"/login?next={url}"), (role, url)
            for role in ("coordinator", "researcher", "admin"):
                r = clients[role].get(url)
                assert r.status_code == 403, (role, url)
                assert "Patient A Example" not in r.text
            assert clients["other_clinician"].get(url).status_code == 404   # another site's patient
        url = API.format(pid=pid)
        expected = {"anonymous": 401, "patient": 401, "coordinator": 403, "researcher": 403, "admin": 403,
                    "other_clinician": 404}
        assert {role: clients[role].get(url).status_code for role in expected} == expected
        assert stand_in.calls == []  # nobody refused got as far as the document
        assert client_for("clinician").get(API.format(pid=999_999)).status_code == 404
    finally:
        clients["patient"].close()


def test_each_view_is_an_audited_read_by_the_clinician(app: Any, client_for: Client, world: World,
                                                       serve: Any) -> None:
    serve("normal")
    pid = world.patients["A"]
    c = client_for("clinician")
    with app.state.engine.connect() as conn:
        before = conn.execute(select(AuditRow.id).order_by(AuditRow.id.desc()).limit(1)).scalar_one()
    for path in (*PAGES, API):
        assert c.get(path.format(pid=pid)).status_code == 200
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(AuditRow.actor, AuditRow.action, AuditRow.patient_id, AuditRow.entity)
                            .where(AuditRow.id > before)).all()
    reads = [r.entity for r in rows if r.action == "read" and r.patient_id == pid and r.actor == "a.clinician"]
    # the document once per view; the patient's "what matters most" on the three pages; the
    # patient's language for the PDF
    assert sorted(reads) == sorted(["patient"] * 4 + ["decision_preferences"] * 3 + ["patient_language"])


def test_episode_is_passed_on_and_kept_in_the_links(client_for: Client, world: World, serve: Any) -> None:
    stand_in = serve("normal")
    pid, eid = world.patients["A"], world.episodes["A"]
    c = client_for("clinician")
    html = c.get(f"/clinic/patients/{pid}/decision-support?episode={eid}").text
    assert f'href="/clinic/patients/{pid}/decision-aid?episode={eid}"' in html
    aid = c.get(f"/clinic/patients/{pid}/decision-aid?episode={eid}").text
    assert f'href="/clinic/patients/{pid}/decision-aid.pdf?episode={eid}"' in aid
    assert c.get(f"{API.format(pid=pid)}?episode={eid}").status_code == 200
    assert [call[2] for call in stand_in.calls] == [eid, eid, eid]
    assert c.get(f"/clinic/patients/{pid}/decision-support?episode=0").status_code == 422


def test_api_passes_fields_beyond_the_documented_shape_through(client_for: Client, world: World,
                                                               serve: Any) -> None:
    serve("builder_keys")
    body = client_for("clinician").get(API.format(pid=world.patients["A"])).json()
    assert body["notes"] == ["no prediction models have been trained at this site yet (spinetrack models train)"]
    assert body["outcomes"][0]["definition"] == "as in predict.spec"
    assert body["models"][0]["reliability"]["bins"][0]["n"] == 71
    assert body["screening"]["red_flags"][0]["questions"] == ["saddle_anaesthesia"]
