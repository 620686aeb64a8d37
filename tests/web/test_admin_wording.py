"""The admin page "Questionnaire wording" (SQLite and PostgreSQL): the grid says what a patient
reads per instrument and language; an upload is validated with every problem listed at once and
nothing stored; a good pack is installed (audited) and previewed as a patient sees it; a pack is
taken out of use; admins only, CSRF on every POST. And the production refusal of an invitation,
through the API and the clinic page, with the reason and where to fix it.

The packs are our own made-up test wording ("Test wording item 1"), never licensed text."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spinetrack.store.tables import AuditRow, WordingPackRow
from tests.web.conftest import World

Client = Callable[[str], TestClient]
ODI = ("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping", "sex_life",
       "social_life", "travelling")


def pack(language: str = "es", **extra: Any) -> dict[str, Any]:
    items = {code: {"text": f"Test wording item {i}", "options": {str(v): f"Test option {i}.{v}" for v in range(6)}}
             for i, code in enumerate(ODI, start=1)}
    return {"name": "Test ODI pack", "language": language, "licence": "made up for the tests",
            "instruments": {"odi": {"title": "Test ODI title", "items": items}}, **extra}


def upload(c: TestClient, data: bytes, *, csrf: bool = True) -> Any:
    if csrf:
        return c.post("/admin/wording", data={"csrf_token": c.headers["X-CSRF-Token"]},
                      files={"pack": ("pack.json", data, "application/json")}, follow_redirects=False)
    # a refused request is sent without the file: a multipart body read by the app's form check
    # (web.app._form_text) before a refusal leaves its temporary file open (reported to the lead)
    return c.post("/admin/wording", data={"csrf_token": "not-the-token"}, headers={"X-CSRF-Token": "not-the-token"},
                  follow_redirects=False)


def refused_upload(c: TestClient) -> Any:
    """A non-admin's upload attempt (its CSRF token right; the file left out, as above)."""
    return c.post("/admin/wording", data={"csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)


def counts(app: Any) -> tuple[int, int]:
    with app.state.engine.connect() as c:
        return (c.execute(select(func.count()).select_from(WordingPackRow)).scalar_one(),
                c.execute(select(func.count()).select_from(AuditRow).where(AuditRow.entity == "wording_pack"))
                .scalar_one())


def test_only_admins_see_or_change_the_wording(app: Any, world: World, client_for: Client) -> None:
    for role, status in (("anonymous", 303), ("clinician", 403), ("coordinator", 403), ("researcher", 403)):
        c = client_for(role)
        got = c.get("/admin/wording", follow_redirects=False).status_code
        assert got in ((303, 401) if role == "anonymous" else (status,)), (role, got)
        assert c.get("/admin/wording/preview?instrument=odi&language=es", follow_redirects=False).status_code in (
            (303, 401) if role == "anonymous" else (status,))
        if role != "anonymous":
            assert refused_upload(c).status_code == 403
    assert counts(app) == (0, 0)
    admin = client_for("admin")
    page = admin.get("/admin/wording")
    assert page.status_code == 200 and 'href="/admin/wording">Questionnaire wording</a>' in page.text
    # without the CSRF token the upload is refused (back to the sign-in page) and nothing is stored
    r = upload(admin, json.dumps(pack()).encode(), csrf=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert counts(app) == (0, 0)


def test_the_grid_says_what_a_patient_reads(app: Any, world: World, client_for: Client) -> None:
    page = client_for("admin").get("/admin/wording").text
    assert '<td data-source="neutral" data-language="es">' in page.split('id="row-odi"')[1].split("</tr>")[0]
    assert 'data-source="spinetrack" data-language="es"' in page.split('id="row-nrs_back"')[1].split("</tr>")[0]
    assert 'id="no-packs"' in page


def test_a_bad_pack_lists_every_problem_and_nothing_is_stored(app: Any, world: World, client_for: Client) -> None:
    admin = client_for("admin")
    bad = pack()
    bad["instruments"]["odi"]["items"]["walking"]["options"]["9"] = "x"
    bad["instruments"]["odi"]["items"]["jogging"] = {"text": "x"}
    bad["instruments"]["sf36"] = {}
    bad["licence"] = ""
    r = upload(admin, json.dumps(bad).encode())
    assert r.status_code == 422
    assert "the pack has 4 problem(s)" in r.text
    problems = r.text.split('id="problems"')[1].split("</ul>")[0]
    assert problems.count("<li>") == 4
    for where in ("licence: missing or empty text", "instruments.odi.items.walking.options.9",
                  "instruments.odi.items.jogging", "instruments.sf36: unknown instrument sf36"):
        assert where in problems, where
    assert "allowed: 0, 1, 2, 3, 4, 5" in problems  # the allowed option codes are named
    assert counts(app) == (0, 0)
    r = upload(admin, b"{not json")
    assert r.status_code == 422 and "not valid JSON" in r.text
    assert counts(app) == (0, 0)


def test_install_preview_and_take_out_of_use(app: Any, world: World, client_for: Client) -> None:
    admin = client_for("admin")
    r = upload(admin, json.dumps(pack("es-MX")).encode())
    assert r.status_code == 303 and r.headers["location"] == "/admin/wording?notice=installed"
    assert counts(app) == (1, 1)
    page = admin.get(r.headers["location"]).text
    assert "Wording pack installed." in page and "Test ODI pack" in page
    assert 'data-source="licensed" data-language="es"' in page.split('id="row-odi"')[1].split("</tr>")[0]
    assert upload(admin, json.dumps(pack("es-MX")).encode()).status_code == 409  # the same pack twice
    assert counts(app) == (1, 1)

    es = admin.get("/admin/wording/preview?instrument=odi&language=es").text
    assert "<h1>Test ODI title</h1>" in es and "Test wording item 4" in es and "Test option 10.5" in es
    assert 'id="neutral-note"' not in es
    en = admin.get("/admin/wording/preview?instrument=odi&language=en").text
    assert "Statement 1 of 6 (least limitation)" in en and 'id="neutral-note"' in en
    ours = admin.get("/admin/wording/preview?instrument=nrs_back&language=es").text
    assert "En la última semana, ¿qué tan fuerte fue su dolor de espalda?" in ours  # our own wording, in Spanish
    assert admin.get("/admin/wording/preview?instrument=sf36&language=es").status_code == 422

    with app.state.engine.connect() as c:
        pid = c.execute(select(WordingPackRow.id)).scalar_one()
    token = admin.headers.pop("X-CSRF-Token")
    r = admin.post(f"/admin/wording/{pid}/deactivate", data={}, follow_redirects=False)
    admin.headers["X-CSRF-Token"] = token
    assert r.status_code == 303 and r.headers["location"].startswith("/login")  # no CSRF token: refused
    r = admin.post(f"/admin/wording/{pid}/deactivate", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                   follow_redirects=False)
    assert r.status_code == 303
    assert 'data-source="neutral" data-language="es"' in admin.get("/admin/wording").text.split(
        'id="row-odi"')[1].split("</tr>")[0]
    with app.state.engine.connect() as c:
        actions = c.execute(select(AuditRow.action).where(AuditRow.entity == "wording_pack").order_by(AuditRow.id)
                            ).scalars().all()
    assert actions == ["create", "deactivate"]


def test_production_refuses_an_invitation_without_wording(app: Any, world: World, client_for: Client) -> None:
    app.state.access.env = "production"
    clin = client_for("clinician")
    eid = world.episodes["A"]
    r = clin.post(f"/api/v1/episodes/{eid}/invitations", json={"timepoint": "6w", "instruments": ["odi", "nrs_back"]})
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "invitation.instruments"
    assert "no wording installed in English (en) for Oswestry Disability Index (odi)" in body["message"]
    assert "Admin → Questionnaire wording" in body["message"] and "spinetrack wording install" in body["message"]
    ok = clin.post(f"/api/v1/episodes/{eid}/invitations", json={"timepoint": "6w", "instruments": ["nrs_back"]})
    assert ok.status_code == 201
    upload(client_for("admin"), json.dumps(pack("en-GB")).encode())
    again = clin.post(f"/api/v1/episodes/{eid}/invitations", json={"timepoint": "6w", "instruments": ["odi"]})
    assert again.status_code == 201
