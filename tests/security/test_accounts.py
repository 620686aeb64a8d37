"""Accounts without admin-known passwords, admin account actions with notices to the owner,
production refusing demo accounts and data, and the sign-in page's fixed messages; on SQLite
and PostgreSQL (the ``engine`` fixture).

Oracles: OWASP ASVS v4.0.3 2.1.1 / 2.1.2 (passwords of at least 12 characters; at least 64
permitted), 2.3.1 (system-generated activation secrets are random and expire), 2.5.x (credential
recovery does not reveal the password; 2.5.2 no hint or knowledge-based secret), 2.5.5 / 3.3.x
(a reset or an authentication change ends the sessions and the user is told), 7.1.x / 7.2.x
(authentication decisions and changes are logged), 14.1.x (no debug/demo accounts in
production) and 5.3.x / 5.1.x (no reflected text: the sign-in page shows only our own
messages); NIST SP 800-63B §5.1.1.2 (at least 64 characters permitted). Defects these tests keep out:
an admin could reach patient data by creating a clinician with a chosen password; demo
accounts signed in with SPINETRACK_ENV=production; 100,000-character admin-set passwords; any
text on ``/login?error=``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from spinetrack.config import Settings
from spinetrack.errors import AuthenticationError, ConfigurationError, PermissionDeniedError, ValidationError
from spinetrack.store.access import Access
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import AuditRow, PasswordLinkRow, UserRow
from spinetrack.synth.demo_access import DEMO_PASSWORD, seed_demo_access
from spinetrack.web.app import create_app
from tests.web.conftest import PASSWORD, World

Client = Callable[[str], TestClient]
NEW_PASSWORD = "owner-chosen-password-7"


def post(c: TestClient, url: str, data: dict[str, Any] | None = None) -> Any:
    return c.post(url, data={**(data or {}), "csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)


def _link_token(page: str) -> str:
    found = re.search(r'id="password-link-url">https?://[^<]*/set-password/([A-Za-z0-9_-]+)<', page)
    assert found, "no set-password link on the page"
    return found.group(1)


def _set_password(app: Any, token: str, password: str = NEW_PASSWORD, again: str | None = None) -> Any:
    """The owner opens the link and sets a password: returns the POST's answer."""
    with TestClient(app) as owner:
        opened = owner.get(f"/set-password/{token}", follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == "/set-password"
        form = owner.get("/set-password")
        assert form.status_code == 200 and token not in form.text
        r = owner.post("/set-password", data={"password": password, "password_again": again or password,
                                              "csrf_token": owner.cookies.get("st_prelogin")},
                       follow_redirects=False)
        assert token not in r.text
        return r


def _sign_in(app: Any, username: str, password: str) -> Any:
    with TestClient(app) as c:
        return c.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_accounts_admin_creates_an_account_without_knowing_its_password(
        app: Any, world: World, client_for: Client) -> None:
    """ASVS 2.3.1, 2.5.x: the admin's form has no password; the answer shows a
    one-time link (256-bit token, only its SHA-256 stored, valid 72 h); the account has no
    password until its owner sets one, and a password the admin sneaks into the form is ignored."""
    admin = client_for("admin")
    page = admin.get("/admin")
    assert 'name="password"' not in page.text and "sends no e-mail" not in page.text
    r = post(admin, "/admin/users", {"username": "c.nurse", "display_name": "Nurse C", "role": "clinician",
                                     "site_id": str(world.sites["A"]), "password": "admin-chosen-password"})
    assert r.status_code == 200 and "sends no e-mail" in r.text
    token = _link_token(r.text)
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    with app.state.engine.connect() as c:
        user = c.execute(select(UserRow).where(UserRow.username == "c.nurse")).one()
        link = c.execute(select(PasswordLinkRow).where(PasswordLinkRow.user_id == user.id)).one()
    assert user.password_hash is None
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest() and link.used_at is None
    assert dt.timedelta(hours=71) < link.expires_at - link.created_at <= dt.timedelta(hours=72)
    assert _sign_in(app, "c.nurse", "admin-chosen-password").status_code == 401
    with pytest.raises(PermissionDeniedError):
        app.state.access.create_user(Actor("admin", "admin"), username="d.nurse", display_name="D",
                                     role="clinician", password="admin-chosen-password", site_id=world.sites["A"])
    r = _set_password(app, token)
    assert r.status_code == 303 and r.headers["location"] == "/login?notice=password-set"
    me = _sign_in(app, "c.nurse", NEW_PASSWORD)
    assert me.status_code == 200 and me.json()["role"] == "clinician"
    with TestClient(app) as again:  # spent: the link works once
        r = again.get(f"/set-password/{token}", follow_redirects=False)
        assert r.status_code == 410 and "has been used" in r.text
    with app.state.engine.connect() as c:
        actions = c.execute(select(AuditRow.actor, AuditRow.action, AuditRow.entity).where(
            AuditRow.entity.in_(("user", "password_link"))).order_by(AuditRow.id)).all()
    assert ("admin", "create", "user") in actions and ("admin", "create", "password_link") in actions
    assert ("c.nurse", "update", "user") in actions  # the owner's own change


def test_accounts_set_password_enforces_12_to_1024_characters(app: Any, world: World) -> None:
    """ASVS 2.1.1 / 2.1.2, NIST 800-63B §5.1.1.2: 12 to 1,024 characters
    (the sign-in limit) wherever a password is set; the message names the field and the range."""
    access: Access = app.state.access
    _uid, token = access.invite_user(SYSTEM, username="e.nurse", display_name="E", role="researcher")
    short = _set_password(app, token, "short")
    assert short.status_code == 422 and "password" in short.text and "12 to 1024 characters" in short.text
    mismatch = _set_password(app, token, NEW_PASSWORD, again=NEW_PASSWORD + "x")
    assert mismatch.status_code == 422 and "password_again" in mismatch.text
    with pytest.raises(ValidationError) as err:
        access.set_password(token, "x" * 100_000)
    assert err.value.field == "password" and "1024" in str(err.value.allowed)
    with pytest.raises(ValidationError):
        access.create_user(SYSTEM, username="f.nurse", display_name="F", role="researcher", password="y" * 1025)
    assert _set_password(app, token, "z" * 1024).status_code == 303
    assert _sign_in(app, "e.nurse", "z" * 1024).status_code == 200


def test_accounts_link_expires_after_72_hours(app: Any, world: World) -> None:
    """ASVS 2.3.1: the activation secret expires."""
    access: Access = app.state.access
    _, token = access.invite_user(SYSTEM, username="g.nurse", display_name="G", role="researcher")
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=73)
    with pytest.raises(AuthenticationError, match="expired"):
        access.set_password(token, NEW_PASSWORD, now=later)
    with pytest.raises(AuthenticationError, match="not valid"):
        access.check_password_link("not-a-token")


def test_accounts_reset_password_ends_sessions_and_the_owner_is_told(
        app: Any, world: World, client_for: Client) -> None:
    """ASVS 2.5.5 / 3.3.x / 7.1.x: a reset makes the old password unusable and ends the
    sessions; the owner sets a new one with the link, and at their next sign-in the change is
    listed (page and ``GET /api/v1/auth/me``); it is audited with who and what."""
    clin = client_for("clinician")
    assert clin.get("/clinic").status_code == 200
    admin = client_for("admin")
    r = post(admin, f"/admin/users/{world.users['clinician']}/reset-password")
    assert r.status_code == 200
    token = _link_token(r.text)
    assert clin.get("/clinic", follow_redirects=False).status_code == 303  # the session has ended
    assert _sign_in(app, "a.clinician", PASSWORD).status_code == 401  # the old password is unusable
    assert _set_password(app, token).status_code == 303
    with TestClient(app) as c:
        c.get("/login")
        r = c.post("/login", data={"username": "a.clinician", "password": NEW_PASSWORD,
                                   "csrf_token": c.cookies.get("st_prelogin"), "next": ""}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/account/notices")
        page = c.get(r.headers["location"])
        assert "Your password was reset by an administrator" in page.text and "by admin" in page.text
        me = c.get("/api/v1/auth/me").json()
        assert [n["change"] for n in me["notices"]] == ["password_reset"] and me["notices"][0]["by"] == "admin"
    with TestClient(app) as c:  # told once: the sign-in after that has nothing new
        me = c.post("/api/v1/auth/login", json={"username": "a.clinician", "password": NEW_PASSWORD}).json()
        assert me["notices"] == []
    with app.state.engine.connect() as c:
        details = c.execute(select(AuditRow.detail).where(AuditRow.actor == "admin", AuditRow.entity == "user",
                                                          AuditRow.action == "update")).scalars().all()
    assert any(d["change"] == "password_reset" and d["sessions_ended"] >= 1 for d in details)


def test_accounts_role_and_site_change_is_audited_old_to_new_and_shown(
        app: Any, world: World, client_for: Client) -> None:
    """ASVS 7.1.x / 3.3.x: an admin changes a role and a site; sessions end; each change is in
    the audit log with old → new; the owner sees both at the next sign-in."""
    coord = client_for("coordinator")
    admin = client_for("admin")
    uid = world.users["coordinator"]
    r = post(admin, f"/admin/users/{uid}/role", {"role": "clinician", "site_id": str(world.sites["B"])})
    assert r.status_code == 303 and "notice=user-updated" in r.headers["location"]
    assert coord.get("/api/v1/auth/me").status_code == 401
    with app.state.engine.connect() as c:
        details = [d for d in c.execute(select(AuditRow.detail).where(
            AuditRow.entity == "user", AuditRow.entity_id == str(uid), AuditRow.action == "update")).scalars()]
    assert {"change": "role", "old": "coordinator", "new": "clinician"}.items() <= details[-2].items()
    assert {"change": "site_id", "old": world.sites["A"], "new": world.sites["B"]}.items() <= details[-1].items()
    me = _sign_in(app, "a.coordinator", PASSWORD).json()
    assert me["role"] == "clinician" and me["site_id"] == world.sites["B"]
    assert [n["message"] for n in me["notices"]] == ["Your role was changed from coordinator to clinician.",
                                                     "Your site was changed from SITE-A to SITE-B."]
    bad = post(admin, f"/admin/users/{uid}/role", {"role": "surgeon", "site_id": ""})
    assert bad.status_code == 422 and "user.role" in bad.text
    own = post(admin, f"/admin/users/{world.users['admin']}/role", {"role": "researcher", "site_id": ""})
    assert own.status_code == 422 and "your own role" in own.text
    assert post(admin, "/admin/users/999999/role", {"role": "researcher"}).status_code == 404
    for key in ("clinician", "researcher"):  # admins only
        assert post(client_for(key), f"/admin/users/{uid}/reset-password").status_code == 403


def test_accounts_login_page_shows_only_its_own_messages(app: Any) -> None:
    """ASVS 5.3.x: ``/login?error=<text>`` shows no text from the address;
    only fixed codes map to our own messages."""
    with TestClient(app) as c:
        forged = "Your account is locked: call 0800 FRAUD to unlock it"
        page = c.get("/login", params={"error": forged, "notice": forged})
        assert page.status_code == 200 and "FRAUD" not in page.text and 'id="login-error"' not in page.text
        page = c.get("/login", params={"error": "session-ended"})
        assert "Your session has ended" in page.text
        page = c.get("/login", params={"notice": "password-set"})
        assert "Your password is set" in page.text


def test_accounts_production_refuses_to_start_with_demo_accounts_or_data(engine: Engine) -> None:
    """ASVS 14.1.x: ``create_app`` (and so ``spinetrack serve``) refuses to
    start in production while demo accounts or demo data exist, and says what it found."""
    url = engine.url.render_as_string(hide_password=False)
    prod = Settings(database_url=url, env="production")
    create_app(prod, engine=engine)  # an empty database starts
    store = Store(engine)
    store.add_site(SYSTEM, code="DEMO-N", name="Demo spine clinic North", country="GB")
    with pytest.raises(ConfigurationError, match=r"demo site\(s\) \(DEMO-N\)"):
        create_app(prod, engine=engine)
    seed_demo_access(engine)
    with pytest.raises(ConfigurationError, match="demo account") as err:
        create_app(prod, engine=engine)
    assert "north.clinician" in str(err.value) and "admin" in str(err.value)
    create_app(Settings(database_url=url), engine=engine)  # development starts with the demo


def test_accounts_serve_refuses_production_with_the_demo(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``spinetrack serve`` with SPINETRACK_ENV=production over a demo database exits with the
    message, before listening."""
    from spinetrack.cli import app as cli
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    eng = make_engine(url)
    upgrade(eng)
    Store(eng).add_site(SYSTEM, code="DEMO-S", name="Demo spine clinic South", country="US")
    seed_demo_access(eng)
    eng.dispose()
    monkeypatch.setenv("SPINETRACK_ENV", "production")
    result = CliRunner().invoke(cli, ["serve", "--database-url", url, "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "refuses to start" in result.output and "demo account" in result.output


def test_accounts_demo_command_refuses_production_before_writing(tmp_path: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """ASVS 14.1.x: ``spinetrack demo`` with SPINETRACK_ENV=production exits 2 before it
    writes a synthetic patient (it used to load the cohort and refuse only the logins)."""
    from spinetrack.cli import app as cli

    db = tmp_path / "prod.db"
    monkeypatch.setenv("SPINETRACK_ENV", "production")
    result = CliRunner().invoke(cli, ["demo", "--patients", "20", "--database-url", f"sqlite:///{db}", "--json"])
    assert result.exit_code == 2 and "refused when SPINETRACK_ENV=production" in result.output
    assert not db.exists()


def test_accounts_production_refuses_demo_sign_in(engine: Engine) -> None:
    """ASVS 14.1.x: demo accounts added to a running production database (say by
    ``spinetrack demo`` run against it) cannot sign in, and their sessions are ignored; the
    published demo password is refused at the route even for an account not marked demo."""
    url = engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, env="production"), engine=engine)
    store = Store(engine)
    store.add_site(SYSTEM, code="DEMO-N", name="Demo spine clinic North", country="GB")
    seed_demo_access(engine)
    dev = Access(store)
    token, _ = dev.login("admin", DEMO_PASSWORD, client="dev")
    access: Access = app.state.access
    with pytest.raises(AuthenticationError):
        access.login("admin", DEMO_PASSWORD, client="203.0.113.1")
    assert access.resolve_session(token) is None
    assert dev.resolve_session(token) is not None
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/api/v1/auth/login", json={"username": "north.clinician", "password": DEMO_PASSWORD})
        assert r.status_code == 401
        c.cookies.set("st_session", token)
        assert c.get("/api/v1/auth/me").status_code == 401
    store_sys = Access(store)
    store_sys.create_user(SYSTEM, username="not.marked", display_name="N", role="researcher", password=DEMO_PASSWORD)
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/api/v1/auth/login", json={"username": "not.marked", "password": DEMO_PASSWORD})
        assert r.status_code == 401
    with engine.connect() as conn:
        reasons = conn.execute(select(AuditRow.detail).where(AuditRow.action == "login_failed",
                                                             AuditRow.actor == "admin")).scalars().all()
    assert any((d or {}).get("reason") == "demo account in production" for d in reasons)


def test_accounts_cli_creates_the_first_admin_with_a_link(app: Any, world: World) -> None:
    """How the first admin of a production install gets in: ``spinetrack users create --role
    admin`` prints a one-time link, nobody types a password; ``users reset-password`` issues a
    new one and the old password stops working."""
    from spinetrack.cli import app as cli

    url = app.state.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["users", "create", "first.admin", "--name", "First Admin", "--role", "admin",
                                 "--base-url", "https://spine.example.org", "--database-url", url, "--json"])
    assert result.exit_code == 0, result.output
    out = __import__("json").loads(result.output)
    assert out["set_password_url"].startswith("https://spine.example.org/set-password/")
    token = out["set_password_url"].rsplit("/", 1)[1]
    assert _set_password(app, token).status_code == 303
    assert _sign_in(app, "first.admin", NEW_PASSWORD).json()["role"] == "admin"
    result = runner.invoke(cli, ["users", "reset-password", "first.admin", "--database-url", url, "--json"])
    assert result.exit_code == 0, result.output
    assert _sign_in(app, "first.admin", NEW_PASSWORD).status_code == 401
    bad = runner.invoke(cli, ["users", "create", "x.y", "--name", "X", "--role", "clinician", "--site", "NOPE",
                              "--database-url", url, "--json"])
    assert bad.exit_code == 2 and "site" in bad.output and "SITE-A" in bad.output
