"""The "Red flags and candidacy" section of the clinician's patient page and its form
(``POST /clinic/patients/{id}/episodes/{eid}/screening``): clinicians only, CSRF-checked,
audited, accessible (fieldset/legend per question, every radio labelled), refused input shown
again naming the field. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spinetrack import clock
from spinetrack.domain.screening import ANSWER_FIELDS, QUESTIONS, RED_FLAG_FIELDS
from spinetrack.i18n import format_date
from spinetrack.store.tables import AuditRow, ScreeningAssessmentRow
from tests.web.conftest import World

Client = Callable[[str], TestClient]
TODAY = clock.today()
NO_FLAGS = dict.fromkeys(RED_FLAG_FIELDS, "no")


def _urls(world: World) -> tuple[str, str]:
    page = f"/clinic/patients/{world.patients['A']}"
    return page, f"{page}/episodes/{world.episodes['A']}/screening"


def post(c: TestClient, url: str, data: dict[str, Any]) -> Any:
    return c.post(url, data={**data, "csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)


def stored(app: Any) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ScreeningAssessmentRow)).scalar_one())


def section(html: str) -> str:
    m = re.search(r'<section aria-labelledby="screening-title" id="screening">(.*?)</section>', html, re.DOTALL)
    assert m, "no screening section"
    return m.group(1)


class _Form(HTMLParser):
    """Radios, labels and fieldsets/legends of the screening form."""

    def __init__(self) -> None:
        super().__init__()
        self.radios: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.fieldsets = 0
        self.legends = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("type") == "radio":
            self.radios.append(a)
        elif tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))
        elif tag == "fieldset":
            self.fieldsets += 1
        elif tag == "legend":
            self.legends += 1


def parse(html: str) -> _Form:
    p = _Form()
    p.feed(section(html))
    return p


def checked(form: _Form) -> dict[str, str]:
    return {str(r["name"]): str(r["value"]) for r in form.radios if "checked" in r}


def test_clinician_sees_an_accessible_screening_form(app: Any, world: World, client_for: Client) -> None:
    page, action = _urls(world)
    html = client_for("clinician").get(page).text
    s = section(html)
    assert "Red flags and candidacy" in s and "No red-flag screening is recorded for this episode yet." in s
    assert f'action="{action}"' in s and 'name="csrf_token"' in s
    form = parse(html)
    assert {str(r["name"]) for r in form.radios} == set(ANSWER_FIELDS)
    assert len(form.radios) == 3 * len(ANSWER_FIELDS)
    assert all(r["id"] in form.label_for for r in form.radios)  # every radio has its <label for>
    assert form.fieldsets == form.legends >= len(ANSWER_FIELDS) + 2  # a fieldset + legend per question and group
    for q in ANSWER_FIELDS:
        assert QUESTIONS[q].replace("'", "&#39;") in s
    assert checked(form) == dict.fromkeys(ANSWER_FIELDS, "unknown")
    assert 'id="screening-assessed_on"' in s and f'value="{TODAY.isoformat()}"' in s
    assert 'id="screening-criteria"' in s  # the disc-herniation questions, all unknown yet


def test_clinician_records_screening_and_sees_the_result(app: Any, world: World, client_for: Client) -> None:
    page, action = _urls(world)
    c = client_for("clinician")
    r = post(c, action, {**NO_FLAGS, "imaging_concordant": "yes", "persistent_after_conservative": "no",
                         "assessed_on": TODAY.isoformat()})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{page}?episode={world.episodes['A']}&notice=screening-saved#screening"
    html = c.get(r.headers["location"]).text
    assert "Red-flag screening recorded." in html
    s = section(html)
    assert f"No red flag (assessed on {format_date(TODAY)})." in s and "screening-urgent" not in s
    criteria = re.search(r'id="screening-criteria">(.*?)</table>', s, re.DOTALL)
    assert criteria and "<td>met</td>" in criteria.group(1) and "<td>not met</td>" in criteria.group(1)
    assert checked(parse(html)) == {**dict.fromkeys(ANSWER_FIELDS, "unknown"), **NO_FLAGS,
                                    "imaging_concordant": "yes", "persistent_after_conservative": "no"}
    assert stored(app) == 1
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(AuditRow.action, AuditRow.patient_id).where(
            AuditRow.actor == "a.clinician", AuditRow.entity == "screening").order_by(AuditRow.id)).all()
    assert ("create", world.patients["A"]) in [tuple(r) for r in rows]
    assert ("read", world.patients["A"]) in [tuple(r) for r in rows]


@pytest.mark.parametrize("question", RED_FLAG_FIELDS)
def test_a_red_flag_shows_the_urgent_banner_and_no_candidacy_questions(
        app: Any, world: World, client_for: Client, question: str) -> None:
    _, action = _urls(world)
    c = client_for("clinician")
    r = post(c, action, {**NO_FLAGS, question: "yes", "imaging_concordant": "yes",
                         "persistent_after_conservative": "yes"})
    assert r.status_code == 303
    s = section(c.get(r.headers["location"]).text)
    banner = re.search(r'<div class="panel" role="alert" id="screening-urgent">(.*?)</div>', s, re.DOTALL)
    assert banner and "Urgent referral: the patient needs urgent assessment" in banner.group(1)
    assert "urgent assessment" in banner.group(1)
    assert "NICE NG59" in banner.group(1)
    assert 'id="screening-criteria"' not in s
    assert "Candidacy questions and treatment comparisons are not shown while a red flag is present." in s


@pytest.mark.parametrize(("change", "field", "name"), [
    ({"saddle_anaesthesia": "maybe"}, "screening.saddle_anaesthesia", "saddle_anaesthesia"),
    ({"assessed_on": "31/12/2025"}, "screening.assessed_on", "assessed_on"),
])
def test_refused_screening_is_shown_again_naming_the_field(
        app: Any, world: World, client_for: Client, change: dict[str, str], field: str, name: str) -> None:
    _, action = _urls(world)
    r = post(client_for("clinician"), action, {**NO_FLAGS, "imaging_concordant": "yes", **change})
    assert r.status_code == 422
    text = r.text.replace("&#39;", "'")
    assert f"Please check: {field}" in text
    s = section(r.text)
    if name == "assessed_on":
        assert re.search(r'name="assessed_on"[^>]*aria-invalid="true"', s)
    else:
        assert re.search(r'<fieldset class="finding" aria-invalid="true"[^>]*>\s*<legend>'
                         + re.escape(QUESTIONS[name].replace("'", "&#39;")), s)
    # what was chosen is kept
    assert checked(parse(r.text))["imaging_concordant"] == "yes"
    assert stored(app) == 0


def test_screening_form_needs_the_csrf_token(app: Any, world: World, client_for: Client) -> None:
    _, action = _urls(world)
    c = client_for("clinician")
    c.headers.pop("X-CSRF-Token")
    r = c.post(action, data=NO_FLAGS, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert stored(app) == 0


def test_only_clinicians_of_the_site_see_and_record_screening(app: Any, world: World, client_for: Client) -> None:
    page, action = _urls(world)
    coord = client_for("coordinator")
    s = section(coord.get(page).text)
    assert "shown to clinicians only" in s and "<form" not in s and "screening-flags" not in s
    assert post(coord, action, NO_FLAGS).status_code == 403
    assert post(client_for("researcher"), action, NO_FLAGS).status_code == 403
    assert post(client_for("admin"), action, NO_FLAGS).status_code == 403
    other = post(client_for("other_clinician"), action, NO_FLAGS)
    assert other.status_code == 404 and "Patient A Example" not in other.text
    anon = client_for("anonymous").post(action, data=NO_FLAGS, follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login")
    assert stored(app) == 0
    with app.state.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditRow).where(
            AuditRow.entity == "screening")).scalar_one() == 0  # the coordinator's page read no screening
