"""Smoke test in a real browser: the sign-in page, a demo clinician signing in, axe on the page.

Runs on SQLite and on PostgreSQL (the ``live_server`` fixture), in Debian's Chromium.

TODO — the browser flows of issue 4, to add here (or in test_flows.py) once the pages land:
  1. Patient visit on a phone (``page_phone``, 390×844): ``new_visit(live_server,
     instruments=("odi", "nrs_back", "eq5d5l"))``, open ``visit.path`` (``GET /p/<token>`` redirects
     to ``/p/visit``); sees the questionnaires due at 6 weeks; fills ODI one item per screen
     (``/p/q/odi?step=N``), pauses (reload, or leave and re-open the link) and resumes with the
     answers kept; review and submit; NRS back; EQ-5D-5L (five dimensions + VAS); confirmation
     (``/p/done``); the link is then spent (re-opening it is refused, 410); their own ODI / pain
     trajectory plot in plain language (``/p/results``). ``save_shot`` of each step, ``check_axe``
     on every patient page, ``assert_no_page_errors``. Check in the database (or the clinician
     API) that three responses were stored, scored, once each.
  2. Clinician (``page_desktop``, north.clinician): enrols a patient (form), records an episode
     with imaging findings, a MIS procedure (incision, blood loss, operative time, fluoroscopy,
     length of stay) and a complication; creates an invitation link; opens the patient's
     timeline and sees the plot (ODI, NRS back/leg, EQ-5D against the cohort band, MCID marked;
     wait for the Plotly graph div to render: ``.js-plotly-plot .main-svg``). Screenshots.
  3. Another site's clinician (central.clinician, DEMO-C) opening that North patient's page or
     API URL is refused (404/403 page, no name or data of the patient in the HTML).
  4. Clinic overview page renders its plots; researcher sees aggregates only.
Note: the server is shared by the session and the sign-in rate limit counts failed sign-ins per
client address (all tests come from 127.0.0.1): keep failed sign-ins below 5 per backend.
"""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import DEMO_PASSWORD, LiveServer, assert_no_page_errors, check_axe, save_shot

SESSION_COOKIE = "st_session"


def test_sign_in_page_renders_and_has_no_serious_axe_violations(page_phone: Any, live_server: LiveServer) -> None:
    resp = page_phone.goto("/login")
    assert resp is not None and resp.status == 200
    assert page_phone.get_by_role("heading", name="Sign in").is_visible()
    assert page_phone.get_by_label("User name").is_visible()
    assert page_phone.get_by_label("Password").is_visible()
    save_shot(page_phone, f"login-phone-{live_server.backend}")
    check_axe(page_phone)
    assert_no_page_errors(page_phone)


def test_demo_clinician_signs_in_through_the_form(page_desktop: Any, live_server: LiveServer) -> None:
    page = page_desktop
    page.goto("/login")
    page.get_by_label("User name").fill("north.clinician")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    # The form redirects to the clinician's home page (/clinic; it may 404 until the pages land).
    assert page.url == live_server.url("/clinic")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert SESSION_COOKIE in cookies, f"no session cookie after sign-in: {sorted(cookies)}"
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    me = page.request.get("/api/v1/auth/me")  # shares the context's cookies
    assert me.status == 200, me.text()
    body = me.json()
    assert body["username"] == "north.clinician" and body["role"] == "clinician" and body["site_id"] is not None
    save_shot(page, f"after-sign-in-desktop-{live_server.backend}")


def test_wrong_password_shows_an_error_and_sets_no_session(page_desktop: Any, live_server: LiveServer) -> None:
    page = page_desktop
    page.goto("/login")
    page.get_by_label("User name").fill("central.clinician")
    page.get_by_label("Password").fill("not-the-password")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    assert page.request.get("/api/v1/auth/me").status == 401
    save_shot(page, f"login-error-desktop-{live_server.backend}")
    check_axe(page)
