"""Two-factor sign-in for staff (TOTP, RFC 6238): the algorithm against the RFC's own test
vectors, the drift window, replay refusal, the second step of the web and API sign-in (the
password alone opens no session), per-role enforcement by the admin, the admin's reset, the
throttle, and the audit entries.

Reference: RFC 6238 Appendix B (SHA-1 secret "12345678901234567890", 8 digits, 30-s steps).
The 6-digit code of the same step is the last 6 digits of the 8-digit one (RFC 4226 §5.3: the
truncated value modulo 10^6 vs 10^8)."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack.store import totp
from spinetrack.store.tables import AuditRow, UserRow
from tests.web.conftest import PASSWORD, World, login

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
EPOCH = dt.datetime(1970, 1, 1)
# RFC 6238 Appendix B, SHA-1 column: Unix time → 8-digit TOTP
RFC_VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
               (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")]


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_pyotp_reproduces_rfc6238_and_our_check_accepts_the_6_digit_code(unix: int, expected: str) -> None:
    assert pyotp.TOTP(RFC_SECRET, digits=8, interval=30).at(unix) == expected
    now = EPOCH + dt.timedelta(seconds=unix)
    assert totp.code_at(RFC_SECRET, totp.step_of(now)) == expected[-6:]
    assert totp.matching_step(RFC_SECRET, expected[-6:], now, None) == unix // 30


def test_drift_window_is_one_step_either_side_and_a_used_step_never_matches_again() -> None:
    now = EPOCH + dt.timedelta(seconds=1111111109)
    step = totp.step_of(now)
    code = {d: totp.code_at(RFC_SECRET, step + d) for d in (-2, -1, 0, 1, 2)}
    assert totp.matching_step(RFC_SECRET, code[-1], now, None) == step - 1
    assert totp.matching_step(RFC_SECRET, code[1], now, None) == step + 1
    assert totp.matching_step(RFC_SECRET, code[-2], now, None) is None
    assert totp.matching_step(RFC_SECRET, code[2], now, None) is None
    assert totp.matching_step(RFC_SECRET, code[0], now, step) is None  # replay of the same step
    assert totp.matching_step(RFC_SECRET, code[-1], now, step) is None  # an older code after a newer one
    assert totp.matching_step(RFC_SECRET, code[1], now, step) == step + 1
    assert totp.matching_step(RFC_SECRET, "12 34 5", now, None) is None  # not 6 digits


def test_the_qr_code_is_inline_svg_of_the_otpauth_uri() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, "a.clinician")
    assert uri.startswith("otpauth://totp/spinetrack:a.clinician?") and f"secret={RFC_SECRET}" in uri
    svg = totp.qr_svg(uri, "QR code")
    assert svg.startswith('<svg role="img" aria-label="QR code" ') and "<path" in svg and "<script" not in svg


# ---------------------------------------------------------------------------------- web and API


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, 5)

    def __call__(self) -> dt.datetime:
        return self.now

    def step(self, n: int = 1) -> None:
        self.now += dt.timedelta(seconds=30 * n)


@pytest.fixture
def clock(app: Any) -> Clock:
    c = Clock()
    app.state.access.clock = c
    return c


def code_now(secret: str, clock: Clock, drift: int = 0) -> str:
    unix = int((clock.now - EPOCH).total_seconds()) + 30 * drift
    return str(pyotp.TOTP(secret).at(unix))


def _hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, name
    return m.group(1)


def web_password(c: TestClient, username: str, password: str = PASSWORD) -> Any:
    page = c.get("/login")
    return c.post("/login", data={"username": username, "password": password,
                                  "csrf_token": _hidden(page.text, "csrf_token"), "next": ""}, follow_redirects=False)


def secret_of(app: Any, username: str) -> str:
    with app.state.engine.connect() as conn:
        return str(conn.execute(select(UserRow.totp_secret).where(UserRow.username == username)).scalar_one())


def audits(app: Any, action: str) -> list[dict[str, Any]]:
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(AuditRow.actor, AuditRow.action, AuditRow.entity, AuditRow.entity_id,
                                   AuditRow.detail).where(AuditRow.action == action).order_by(AuditRow.id)).all()
    return [dict(r._mapping) for r in rows]


def enrol_authenticator(app: Any, c: TestClient, clock: Clock, username: str) -> str:
    """A signed-in user sets up two-factor on /account/two-factor; returns the secret."""
    page = c.get("/account/two-factor")
    assert page.status_code == 200
    shown = re.search(r'<code id="two-factor-secret">([A-Z2-7 ]+)</code>', page.text)
    assert shown and '<svg role="img"' in page.text
    secret = shown.group(1).replace(" ", "")
    assert secret == secret_of(app, username) and len(secret) == 32  # 160 bits
    assert c.get("/account/two-factor").text.count(shown.group(1)) == 1  # a reload shows the same secret
    wrong = c.post("/account/two-factor", data={"code": "000000", "csrf_token": c.headers["X-CSRF-Token"]},
                   follow_redirects=False)
    assert wrong.status_code == 422 and "That code is not right" in wrong.text
    ok = c.post("/account/two-factor", data={"code": code_now(secret, clock), "csrf_token": c.headers["X-CSRF-Token"]},
                follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/account/two-factor?notice=on"
    assert 'id="two-factor-on"' in c.get("/account/two-factor?notice=on").text
    return secret


def test_setup_then_sign_in_needs_the_code_and_the_password_alone_opens_no_session(
        app: Any, world: World, clock: Clock) -> None:
    with TestClient(app) as c:
        login(c, "a.clinician")
        secret = enrol_authenticator(app, c, clock, "a.clinician")
        assert audits(app, "update")[-1]["detail"]["change"] == "two_factor"
    clock.step()
    with TestClient(app) as c:
        r = web_password(c, "a.clinician")
        assert r.status_code == 303 and r.headers["location"].startswith("/login/two-factor")
        assert "st_session" not in c.cookies and "st_2fa" in c.cookies
        assert c.get("/clinic", follow_redirects=False).status_code in (303, 401)  # not signed in
        page = c.get("/login/two-factor")
        assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.text
        bad = c.post("/login/two-factor", data={"code": "123456", "csrf_token": _hidden(page.text, "csrf_token")},
                     follow_redirects=False)
        assert bad.status_code == 401 and "wrong or already used code" in bad.text and "st_session" not in c.cookies
        code = code_now(secret, clock)
        ok = c.post("/login/two-factor", data={"code": code, "csrf_token": _hidden(bad.text, "csrf_token"),
                                               "next": "/clinic"}, follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == "/clinic" and "st_session" in c.cookies
        assert c.get("/clinic").status_code == 200
    assert audits(app, "login")[-1]["detail"] == {"client": "testclient", "two_factor": True}
    assert [(a["actor"], a["detail"]["next"]) for a in audits(app, "login_pending")] == [("a.clinician", "code")]
    assert [a["detail"]["reason"] for a in audits(app, "login_failed")] == ["two-factor code"]
    # the same code again (same step) is refused: each code works once
    with TestClient(app) as c:
        web_password(c, "a.clinician")
        page = c.get("/login/two-factor")
        again = c.post("/login/two-factor", data={"code": code, "csrf_token": _hidden(page.text, "csrf_token")},
                       follow_redirects=False)
        assert again.status_code == 401 and "st_session" not in c.cookies


def test_the_pending_sign_in_expires_after_5_minutes(app: Any, world: World, clock: Clock) -> None:
    with TestClient(app) as c:
        login(c, "a.coordinator")
        secret = enrol_authenticator(app, c, clock, "a.coordinator")
    with TestClient(app) as c:
        web_password(c, "a.coordinator")
        clock.step(11)  # 5.5 minutes
        page = c.get("/login/two-factor", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?error=two-factor-expired"
        with pytest.raises(Exception, match="expired"):
            app.state.access.login_second_factor(c.cookies.get("st_2fa"), code_now(secret, clock))


def test_api_login_honours_two_factor(app: Any, world: World, clock: Clock) -> None:
    with TestClient(app) as c:
        login(c, "researcher")
        secret = enrol_authenticator(app, c, clock, "researcher")
    clock.step()
    with TestClient(app) as c:
        r = c.post("/api/v1/auth/login", json={"username": "researcher", "password": PASSWORD})
        assert r.status_code == 401 and "totp" in r.json()["message"] and "st_session" not in c.cookies
        r = c.post("/api/v1/auth/login", json={"username": "researcher", "password": PASSWORD, "totp": "000000"})
        assert r.status_code == 401 and "two-factor code" in r.json()["message"]
        r = c.post("/api/v1/auth/login", json={"username": "researcher", "password": PASSWORD,
                                               "totp": code_now(secret, clock)})
        assert r.status_code == 200 and c.get("/api/v1/auth/me").json()["username"] == "researcher"
        r = c.post("/api/v1/auth/login", json={"username": "researcher", "password": PASSWORD, "totp": "12345"})
        assert r.status_code == 422  # not 6 digits


def test_wrong_codes_are_throttled_like_passwords(app: Any, world: World, clock: Clock) -> None:
    with TestClient(app) as c:
        login(c, "a.clinician")
        secret = enrol_authenticator(app, c, clock, "a.clinician")
    clock.step()
    with TestClient(app) as c:
        web_password(c, "a.clinician")
        statuses = []
        for _ in range(6):
            page = c.get("/login/two-factor")
            statuses.append(c.post("/login/two-factor", data={"code": "000000", "csrf_token": _hidden(
                page.text, "csrf_token")}, follow_redirects=False).status_code)
        assert statuses == [401] * 5 + [429]
        page = c.get("/login/two-factor")
        r = c.post("/login/two-factor", data={"code": code_now(secret, clock), "csrf_token": _hidden(
            page.text, "csrf_token")}, follow_redirects=False)
        assert r.status_code == 429  # even the right code waits


def _admin(app: Any) -> TestClient:
    c = TestClient(app)
    login(c, "admin")
    return c


def test_admin_requires_two_factor_per_role_and_the_user_must_set_it_up_first(
        app: Any, world: World, clock: Clock) -> None:
    with TestClient(app) as coordinator:
        login(coordinator, "a.coordinator")  # a live session of a role about to be enforced
        admin = _admin(app)
        r = admin.post("/admin/roles/two-factor", data={"role": "coordinator", "require": "yes",
                                                                   "csrf_token": admin.headers["X-CSRF-Token"]},
                       follow_redirects=False)
        assert r.status_code == 303
        page = admin.get("/admin")
        assert re.search(r'id="policy-coordinator"><td>coordinator</td><td><span class="badge done">required',
                         page.text)
        assert app.state.access.role_policies() == {"clinician": False, "coordinator": True, "researcher": False,
                                                    "admin": False}
        assert coordinator.get("/api/v1/auth/me").status_code == 401  # its session ended
    change = [a for a in audits(app, "update") if a["entity"] == "role_policy"]
    assert [(a["actor"], a["detail"]["role"], a["detail"]["old"], a["detail"]["new"]) for a in change] == [
        ("admin", "coordinator", False, True)]
    assert change[0]["detail"]["sessions_ended"] == 1
    # the API refuses clearly
    with TestClient(app) as c:
        r = c.post("/api/v1/auth/login", json={"username": "a.coordinator", "password": PASSWORD})
        assert r.status_code == 403 and "requires two-factor" in r.json()["message"]
    # the web: right after the password, the set-up page, and nothing else
    with TestClient(app) as c:
        r = web_password(c, "a.coordinator")
        assert r.status_code == 303 and r.headers["location"].startswith("/account/two-factor")
        assert "st_session" not in c.cookies
        assert c.get("/clinic", follow_redirects=False).status_code in (303, 401)
        assert c.get("/login/two-factor", follow_redirects=False).headers["location"].startswith(
            "/account/two-factor")
        page = c.get("/account/two-factor")
        assert page.status_code == 200 and 'id="two-factor-required"' in page.text
        secret = secret_of(app, "a.coordinator")
        r = c.post("/account/two-factor", data={"code": code_now(secret, clock), "next": "/clinic/followup",
                                                "csrf_token": _hidden(page.text, "csrf_token")}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/clinic/followup" and "st_session" in c.cookies
        assert c.get("/clinic").status_code == 200
    # other roles are not affected
    with TestClient(app) as c:
        assert web_password(c, "a.clinician").headers["location"] == "/clinic"
    admin.close()


def test_admin_resets_a_users_two_factor_audited_and_told(app: Any, world: World, clock: Clock) -> None:
    with TestClient(app) as c:
        login(c, "a.clinician")
        enrol_authenticator(app, c, clock, "a.clinician")
        admin = _admin(app)
        page = admin.get("/admin")
        uid = world.users["clinician"]
        assert f'action="/admin/users/{uid}/reset-two-factor"' in page.text
        r = admin.post(f"/admin/users/{uid}/reset-two-factor", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                       follow_redirects=False)
        assert r.status_code == 303 and "two-factor-reset" in r.headers["location"]
        assert c.get("/api/v1/auth/me").status_code == 401  # sessions ended
        own = admin.post(f"/admin/users/{world.users['admin']}/reset-two-factor",
                         data={"csrf_token": admin.headers["X-CSRF-Token"]}, follow_redirects=False)
        assert own.status_code == 422
        admin.close()
    with app.state.engine.connect() as conn:
        row = conn.execute(select(UserRow.totp_secret, UserRow.totp_enabled_at, UserRow.totp_last_step).where(
            UserRow.username == "a.clinician")).one()
    assert tuple(row) == (None, None, None)
    reset = [a for a in audits(app, "update") if a["detail"].get("change") == "two_factor_reset"]
    assert [(a["actor"], a["entity_id"], a["detail"]["old"], a["detail"]["new"]) for a in reset] == [
        ("admin", str(world.users["clinician"]), True, False)]
    clock.step()
    with TestClient(app) as c:  # signs in with the password alone again (the role does not require it)
        r = web_password(c, "a.clinician")
        assert r.status_code == 303 and r.headers["location"].startswith("/account/notices")
        assert "Your two-factor sign-in was reset by an administrator" in c.get(r.headers["location"]).text


def test_only_admins_change_policies_and_reset(app: Any, world: World, clock: Clock) -> None:
    with TestClient(app) as c:
        login(c, "a.clinician")
        r = c.post("/admin/roles/two-factor", data={"role": "clinician", "require": "no", "csrf_token": c.headers[
            "X-CSRF-Token"]}, follow_redirects=False)
        assert r.status_code == 403
        r = c.post(f"/admin/users/{world.users['coordinator']}/reset-two-factor",
                   data={"csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)
        assert r.status_code == 403
    admin = _admin(app)
    r = admin.post("/admin/roles/two-factor", data={"role": "surgeon", "require": "yes", "csrf_token": admin.headers[
        "X-CSRF-Token"]})
    assert r.status_code == 422 and "clinician, coordinator, researcher, admin" in r.text
    admin.close()
