"""Sign-in, sessions, CSRF, rate limiting and security headers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, login


def test_login_sets_an_httponly_strict_cookie_and_me_works(app: Any, world: Any) -> None:
    with TestClient(app) as c:
        r = c.post("/api/v1/auth/login", json={"username": "a.clinician", "password": PASSWORD})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert "st_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie.replace("Strict", "strict")
        me = c.get("/api/v1/auth/me").json()
        assert me["role"] == "clinician" and me["site_id"] == world.sites["A"]


def test_https_requests_get_secure_cookies(app: Any, world: Any) -> None:
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert "Secure" in r.headers["set-cookie"]


def test_wrong_password_and_unknown_user_give_the_same_401_and_are_audited(app: Any, world: Any) -> None:
    with TestClient(app) as c:
        a = c.post("/api/v1/auth/login", json={"username": "a.clinician", "password": "wrong-password-x"})
        b = c.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong-password-x"})
    assert a.status_code == b.status_code == 401 and a.json()["message"] == b.json()["message"]
    from sqlalchemy import select

    from spinetrack.store.tables import AuditRow

    with app.state.engine.connect() as conn:
        actions = conn.execute(select(AuditRow.actor, AuditRow.action).where(AuditRow.action == "login_failed")).all()
    assert ("a.clinician", "login_failed") in actions and ("nobody", "login_failed") in actions


def test_login_is_rate_limited_per_user_and_address(app: Any, world: Any) -> None:
    """5 failures for one user name from one address, then 429 with Retry-After (RFC 6585 §4);
    the clock is frozen so the first back-off (1 s) cannot expire mid-test. The race, the
    back-off and the per-address limit are in tests/security/test_rate_limit.py."""
    import datetime as dt

    frozen = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    app.state.access.clock = lambda: frozen
    with TestClient(app) as c:
        codes = [c.post("/api/v1/auth/login", json={"username": "a.coordinator", "password": "nope-nope-nope"}
                        ).status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]
        r = c.post("/api/v1/auth/login", json={"username": "a.coordinator", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0  # even the right password waits


def test_unsafe_requests_need_the_csrf_token(app: Any, world: Any) -> None:
    with TestClient(app) as c:
        login(c, "a.clinician")
        token = c.headers.pop("X-CSRF-Token")
        r = c.post("/api/v1/auth/logout")
        assert r.status_code == 401 and "CSRF" in r.json()["message"]
        r = c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": token})
        assert r.status_code == 204
        assert c.get("/api/v1/auth/me").status_code == 401  # revoked server side


def test_login_form_flow_and_security_headers(app: Any, world: Any) -> None:
    with TestClient(app) as c:
        page = c.get("/login")
        assert page.status_code == 200
        for h in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"):
            assert h in page.headers
        assert "https://" not in page.text  # no CDN assets
        token = c.cookies.get("st_prelogin")
        r = c.post("/login", data={"username": "a.clinician", "password": PASSWORD, "csrf_token": token, "next": ""},
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/clinic"
        bad = TestClient(app)
        bad.get("/login")
        r = bad.post("/login", data={"username": "a.clinician", "password": PASSWORD, "csrf_token": "forged"},
                     follow_redirects=False)
        assert r.status_code in (303, 401) and "st_session" not in bad.cookies
        bad.close()


def test_open_redirect_is_refused(app: Any, world: Any) -> None:
    with TestClient(app) as c:
        c.get("/login")
        r = c.post("/login", data={"username": "admin", "password": PASSWORD,
                                   "csrf_token": c.cookies.get("st_prelogin"), "next": "//evil.example/x"},
                   follow_redirects=False)
        assert r.headers["location"] == "/admin"
