"""The patient pages in two languages, and their frame (issue 19).

* The language: the browser's ``Accept-Language`` when nothing is recorded; the patient's
  recorded ``patient_identities.language`` over the browser's; the switch over both. The switch
  of a signed-in patient records the choice (audited); without a session it only sets the cookie.
* Dates and numbers per locale. Oracle: the Unicode CLDR data as Babel ships it (Spanish long
  date "7 de diciembre de 2026", decimal comma "35,6"; English "7 December 2026", "35.6").
* Every patient page carries the clinic's name; the logo route serves a PNG or SVG with a
  year-long cache under its fingerprint and a policy under which an SVG runs no script.
* Static assets are gzipped and cached for a day; pages are neither (they carry tokens and
  patient data). No patient page loads Plotly or any script.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from spinetrack import clock, i18n
from spinetrack.store.repositories import Actor
from spinetrack.store.tables import AuditRow, PatientIdentityRow, SiteRow
from spinetrack.web.errors import PATIENT_MESSAGES
from tests.web.conftest import ODI_ITEMS, World
from tests.web.test_patient_pages import csrf_of, fill_in

# A 1×1 transparent PNG (the smallest valid PNG: signature, IHDR, IDAT, IEND).
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><script>alert(1)</script>'
       b'<rect width="10" height="10"/></svg>')


def _open(app: Any, token: str, **headers: str) -> TestClient:
    c = TestClient(app, base_url="http://testserver", headers=headers)
    r = c.get(f"/p/{token}", follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def _record(app: Any, patient_id: int, language: str | None) -> None:
    with app.state.engine.begin() as conn:
        conn.execute(update(PatientIdentityRow).where(PatientIdentityRow.patient_id == patient_id).values(
            language=language))


def _recorded(app: Any, patient_id: int) -> str | None:
    with app.state.engine.connect() as conn:
        return conn.execute(select(PatientIdentityRow.language).where(
            PatientIdentityRow.patient_id == patient_id)).scalar_one()


def test_the_browsers_language_when_nothing_is_recorded(app: Any, world: World) -> None:
    with _open(app, world.invitations["A"], **{"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}) as c:
        visit = c.get("/p/visit")
        assert '<html lang="es">' in visit.text and "Sus cuestionarios" in visit.text and "Hola" in visit.text
        assert "Your questionnaires" not in visit.text
        q = c.get("/p/q/odi?step=1")
        assert "Pregunta 1 de 10" in q.text and ">Siguiente</button>" in q.text and ">Atrás</button>" in q.text
        asked = c.post("/p/q/odi", data={"csrf_token": csrf_of(q.text), "step": "1", "action": "next"})
        assert "¿Saltar esta pregunta?" in asked.text and ">Sí, saltarla</button>" in asked.text
    with _open(app, world.invitations["B"], **{"Accept-Language": "en-GB,en;q=0.9"}) as c:
        assert '<html lang="en">' in c.get("/p/visit").text


def test_the_recorded_language_wins_over_the_browser_and_the_switch_over_both(app: Any, world: World) -> None:
    _record(app, world.patients["A"], "es")
    with _open(app, world.invitations["A"], **{"Accept-Language": "en-GB"}) as c:
        page = c.get("/p/visit")
        assert '<html lang="es">' in page.text and "Sus cuestionarios" in page.text
        # the switch shows the other language, in its own words, and records the choice
        assert 'action="/p/language"' in page.text and 'value="en" class="link" lang="en">English</button>' in page.text
        r = c.post("/p/language", data={"language": "en", "next": "/p/visit", "csrf_token": csrf_of(page.text)},
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/p/visit"
        assert "spinetrack_lang=en" in r.headers["set-cookie"]
        assert '<html lang="en">' in c.get("/p/visit").text
    assert _recorded(app, world.patients["A"]) == "en"
    with app.state.engine.connect() as conn:
        audited = conn.execute(select(AuditRow.patient_id, AuditRow.detail).where(
            AuditRow.entity == "patient_identity", AuditRow.action == "update")).all()
    assert [(a.patient_id, a.detail["old"], a.detail["new"]) for a in audited] == [(world.patients["A"], "es", "en")]


def test_the_switch_without_a_session_records_nothing_and_never_leaves_the_site(app: Any, world: World) -> None:
    with TestClient(app) as c:
        for forged in ("", "forged"):
            r = c.post("/p/language", data={"language": "es", "next": "/p/visit", "csrf_token": forged},
                       follow_redirects=False)
            assert r.status_code == 303 and "spinetrack_lang=es" in r.headers["set-cookie"]
        r = c.post("/p/language", data={"language": "es", "next": "https://evil.example/"}, follow_redirects=False)
        assert r.headers["location"] == "/"
        r = c.post("/p/language", data={"language": "fr", "next": "/p/visit"}, follow_redirects=False)
        with i18n.use_locale("es"):  # the cookie set above; plain words, not the field's name
            assert r.status_code == 422 and i18n.gettext(PATIENT_MESSAGES[422]) in r.text
        unknown = c.get("/p/not-a-real-token")  # a page without a patient: the plain switch
        assert 'action="/language"' in unknown.text and "Su clínica" in unknown.text  # the cookie set above
    assert _recorded(app, world.patients["A"]) is None and _recorded(app, world.patients["B"]) is None


def test_dates_and_numbers_follow_the_language(app: Any, world: World) -> None:
    """ODI with the sex-life section skipped: 16 of 45 = 35.6 % (Fairbank & Pynsent 2000), "35,6" in
    Spanish; the home's dates in words (CLDR long format)."""
    from babel.dates import format_date

    store = app.state.store
    actor = Actor("setup", "clinician", world.sites["A"])
    answers = {**dict.fromkeys(ODI_ITEMS, 2), "pain_intensity": 0, "sex_life": None}
    store.submit_response(actor, world.episodes["A"], {"instrument": "odi", "timepoint": "6w",
                                                       "collected_on": clock.today().isoformat(), "answers": answers})
    _record(app, world.patients["A"], "es")
    with _open(app, world.invitations["A"]) as c:
        text = " ".join(c.get("/p/results").text.split())
        assert "pasó de 60,0 a 35,6 (cuanto más bajo, mejor)" in text, text
        assert ">35,6<" in text and ">60,0<" in text  # the same decimals in every row of the column
    _record(app, world.patients["A"], "en")
    with _open(app, world.invitations["A"]) as c:
        assert "went from 60.0 to 35.6" in " ".join(c.get("/p/results").text.split())
    from tests.web.test_patient_home import _link

    token = _link(app, world.episodes["A"])
    days = {}
    for lang, pattern in (("es", r"abierta hasta el ([^.]+)\."), ("en", r"stays open until ([^.]+)\.")):
        _record(app, world.patients["A"], lang)
        with TestClient(app) as c:
            home = " ".join(c.get(f"/p/h/{token}").text.split())
        shown = re.search(pattern, home)
        assert shown, home
        near = (clock.today() + dt.timedelta(days=k) for k in range(-400, 400))
        days[lang] = [d for d in near if format_date(d, "long", locale=lang) == shown[1]]
        assert len(days[lang]) == 1, shown[1]  # a CLDR long date of this language
    assert days["es"] == days["en"] and " de " in format_date(days["es"][0], "long", locale="es")


def test_the_eq5d_index_is_shown_with_three_decimals_on_every_row(app: Any, world: World) -> None:
    """EQ-5D-5L: the index with the instrument's 3 decimals (``Display.decimals``) on every row,
    the patient's own 0-100 rating beside it; the stored score is the oracle."""
    from tests.web.test_patient_pages import EQ5D_ANSWERS, stored

    with _open(app, world.invitations["A"]) as c:
        fill_in(c, "eq5d5l", EQ5D_ANSWERS)
        page = c.get("/p/results").text
    [row] = stored(app, world.episodes["A"], "eq5d5l")
    health = page.split("Your health today", 1)[1]
    assert f">{row.score:.3f}<" in health and ">70<" in health
    assert all(len(x.split(".")[1]) == 3 for x in re.findall(r'<td class="num">(-?\d+\.\d+)</td>', health))


# ---------------------------------------------------------------------------------- the frame


def test_every_patient_page_names_the_clinic_and_shows_its_logo(app: Any, world: World) -> None:
    with app.state.engine.begin() as conn:
        conn.execute(update(SiteRow).where(SiteRow.id == world.sites["A"]).values(logo=PNG, logo_type="image/png"))
    with _open(app, world.invitations["A"]) as c:
        for path in ("/p/visit", "/p/q/odi?step=1", "/p/q/odi?step=11", "/p/results"):
            page = c.get(path).text
            assert '<span class="clinic-name">Site A</span>' in page and "· Site A</title>" in page, path
            logo = re.search(r'<img class="logo" src="(/site-logo/\d+\?v=[0-9a-f]{16})" alt=""', page)
            assert logo, path
        r = c.get(logo[1])
        assert r.status_code == 200 and r.content == PNG and r.headers["content-type"] == "image/png"
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "sandbox" in r.headers["content-security-policy"] and r.headers["x-content-type-options"] == "nosniff"
        assert c.get(logo[1], headers={"If-None-Match": r.headers["etag"]}).status_code == 304
        stale = c.get(f"/site-logo/{world.sites['A']}?v=0000000000000000")
        assert stale.headers["cache-control"] == "public, max-age=300"  # an old address is kept briefly only
    with _open(app, world.invitations["B"]) as c:  # no logo: the name alone
        page = c.get("/p/visit").text
        assert '<span class="clinic-name">Site B</span>' in page and 'class="logo"' not in page
        assert c.get(f"/site-logo/{world.sites['B']}").status_code == 404


def test_an_svg_logo_can_run_no_script(app: Any, world: World) -> None:
    """An SVG opened on its own is a document that could run script: it is served under
    ``sandbox`` and ``default-src 'none'`` (no script, no loads), never sniffed as HTML."""
    with app.state.engine.begin() as conn:
        conn.execute(update(SiteRow).where(SiteRow.id == world.sites["A"]).values(logo=SVG,
                                                                                 logo_type="image/svg+xml"))
        conn.execute(update(SiteRow).where(SiteRow.id == world.sites["B"]).values(logo=b"<html>",
                                                                                 logo_type="text/html"))
    with TestClient(app) as c:
        r = c.get(f"/site-logo/{world.sites['A']}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert c.get(f"/site-logo/{world.sites['B']}").status_code == 404  # only PNG and SVG are served


def test_static_assets_are_gzipped_and_cached_pages_are_not(app: Any, world: World) -> None:
    with TestClient(app) as c:
        css = c.get("/static/patient.css", headers={"Accept-Encoding": "gzip"})
        assert css.headers["content-encoding"] == "gzip" and css.headers["cache-control"] == "public, max-age=86400"
        assert "Accept-Encoding" in css.headers["vary"]
        raw = c.get("/static/patient.css", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers and raw.content == css.content  # httpx decoded the gzip
        page = _open(app, world.invitations["A"], **{"Accept-Encoding": "gzip"}).get("/p/visit")
        assert "content-encoding" not in page.headers and page.headers["cache-control"] == "no-store"
    assert gzip.compress(raw.content)  # the body is text worth compressing (> 512 bytes)
    assert len(raw.content) > 512


def test_no_patient_page_loads_plotly_or_any_script(app: Any, world: World) -> None:
    store = app.state.store
    actor = Actor("setup", "clinician", world.sites["A"])
    before = (clock.today() - dt.timedelta(days=50)).isoformat()
    store.submit_response(actor, world.episodes["A"], {"instrument": "nrs_back", "timepoint": "baseline",
                                                       "collected_on": before, "answers": {"pain": 5}})
    with _open(app, world.invitations["A"]) as c:
        pages = {path: c.get(path) for path in ("/p/visit", "/p/q/odi?step=1", "/p/q/odi?step=11", "/p/results")}
        fill_in(c, "nrs_back", {"pain": 3})
        pages["/p/done"] = c.get("/p/done?instrument=nrs_back")
    for path, r in pages.items():
        assert r.status_code == 200, path
        assert "plotly" not in r.text.lower() and "<script" not in r.text and "app.js" not in r.text, path
    assert 'class="result-chart"' in pages["/p/results"].text


def test_the_switch_refuses_bad_input_naming_the_field(app: Any, world: World) -> None:
    """OWASP ASVS V5.1.3 (as tests/security/test_bad_input.py): a NUL byte or a 100 kB value in any
    field is refused (422) and nothing is recorded or set."""
    with _open(app, world.invitations["A"]) as c:
        token = csrf_of(c.get("/p/visit").text)
        good = {"language": "es", "next": "/p/visit", "csrf_token": token}
        for field in good:
            for bad in ("x\x00y", "x" * 100_000):
                r = c.post("/p/language", data={**good, field: bad}, follow_redirects=False)
                assert r.status_code == 422 and "set-cookie" not in r.headers, (field, r.status_code)
    assert _recorded(app, world.patients["A"]) is None
