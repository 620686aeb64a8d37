"""Smoke test in a real browser: the sign-in page, a demo clinician signing in, axe on the page.

Runs on SQLite and on PostgreSQL (the ``live_server`` fixture), in Debian's Chromium.

The patient and clinician flows are in test_patient_flow.py (a patient's visit on a 390×844 phone, pause
and resume, axe on every patient page) and test_clinician_flow.py (enrol, MIS procedure,
timeline plot; another site's clinician refused; the overview for a researcher).
Note: the server is shared by the session and the sign-in rate limit counts failed sign-ins per
client address (all tests come from 127.0.0.1): keep failed sign-ins below 5 per backend.
"""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import DEMO_PASSWORD, LiveServer, assert_no_page_errors, check_axe, save_shot

SESSION_COOKIE = "st_session"


def test_sign_in_page_renders_and_has_no_axe_violations(page_phone: Any, live_server: LiveServer) -> None:
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


def _sign_in_as(page: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


# Every staff page with a wide table, by the role that opens it (the clinic patient page is checked
# in test_clinician_patient.py). Widths before the tables had their own scroll box (Chromium,
# 390×844): /clinic 812 px, /clinic/followup 846, /clinic/overview 525, /admin 842, /admin/audit 900,
# /admin/outbox 801.
STAFF_PAGES = {"north.coordinator": ("/clinic", "/clinic/followup", "/clinic/overview"),
               "admin": ("/admin", "/admin/audit", "/admin/outbox")}


def test_staff_pages_fit_a_phone_and_their_tables_scroll_in_place(page_phone: Any, live_server: LiveServer) -> None:
    """On a 390 px phone no staff page scrolls sideways as a whole: each wide table scrolls in its
    own named, focusable box (WCAG 2.1 SC 1.4.10 Reflow allows two-dimensional scrolling for data
    tables only), and axe-core finds nothing (landmark-unique: the boxes' names differ from their
    sections')."""
    page = page_phone
    for username, paths in STAFF_PAGES.items():
        page.context.clear_cookies()
        _sign_in_as(page, username)
        for path in paths:
            resp = page.goto(path)
            assert resp is not None and resp.status == 200, (path, resp.status if resp else None)
            width = page.evaluate("() => document.scrollingElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
            boxes = page.locator("div.scroll[role=region][tabindex='0']")
            assert boxes.count() >= 1, f"{path}: no table scroll box"
            check_axe(page)
    assert_no_page_errors(page)
