"""Admin pages through the TestClient (SQLite and PostgreSQL): users (created without a
password: the owner sets it with a one-time link) and sites, deactivation, and the read-only
audit log with filters, pages and hash-chain verification."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from spinetrack.store import audit
from spinetrack.store.tables import AuditRow, SiteRow, UserRow
from tests.web.conftest import PASSWORD, World

Client = Callable[[str], TestClient]


def post(c: TestClient, url: str, data: dict[str, Any] | None = None) -> Any:
    return c.post(url, data={**(data or {}), "csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)


def audit_rows(app: Any, **where: Any) -> list[tuple[Any, ...]]:
    with app.state.engine.connect() as conn:
        stmt = select(AuditRow.id, AuditRow.actor, AuditRow.action, AuditRow.entity, AuditRow.patient_id)
        for k, v in where.items():
            stmt = stmt.where(getattr(AuditRow, k) == v)
        return [tuple(r) for r in conn.execute(stmt.order_by(AuditRow.id))]


def test_admin_lists_and_creates_users_and_sites(app: Any, world: World, client_for: Client) -> None:
    admin = client_for("admin")
    page = admin.get("/admin")
    assert page.status_code == 200
    for text in ("a.clinician", "b.clinician", "researcher", "SITE-A", "SITE-B"):
        assert text in page.text
    assert [r[2:4] for r in audit_rows(app, actor="admin")][-2:] == [("read", "user"), ("read", "site")]
    good = {"username": "c.nurse", "display_name": "Nurse C", "role": "coordinator", "site_id": str(world.sites["A"])}
    for change, field in [({"role": "surgeon"}, "user.role"),
                          ({"site_id": ""}, "user.site_id"), ({"site_id": "999"}, "user.site_id"),
                          ({"username": "a.clinician"}, "user.username"), ({"username": "bad name!"}, "user.username")]:
        r = post(admin, "/admin/users", {**good, **change})
        assert r.status_code == 422 and f"Please check: {field}" in r.text.replace("&#39;", "'"), field
    with app.state.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(UserRow).where(UserRow.username == "c.nurse")
                            ).scalar_one() == 0
    r = post(admin, "/admin/users", good)  # no password: the answer shows the owner's one-time link, once
    assert r.status_code == 200 and "Account created." in r.text
    token = re.search(r'id="password-link-url">[^<]*/set-password/([A-Za-z0-9_-]+)<', r.text).group(1)  # type: ignore[union-attr]
    with TestClient(app) as nurse:
        nurse.get(f"/set-password/{token}")
        nurse.post("/set-password", data={"password": "a-long-password-9", "password_again": "a-long-password-9",
                                          "csrf_token": nurse.cookies.get("st_prelogin")})
        me = nurse.post("/api/v1/auth/login", json={"username": "c.nurse", "password": "a-long-password-9"})
        assert me.status_code == 200 and me.json()["role"] == "coordinator" and me.json()["site_id"] == world.sites["A"]
    r = post(admin, "/admin/sites", {"code": "SITE-C", "name": "Site C", "country": "de"})
    assert r.status_code == 303
    for change, field in [({"code": "SITE-A"}, "site.code"), ({"country": "Germany"}, "site.country"),
                          ({"name": ""}, "site.name"), ({"code": ""}, "site.code")]:
        r = post(admin, "/admin/sites", {"code": "SITE-D", "name": "Site D", "country": "FR", **change})
        assert r.status_code == 422 and f"Please check: {field}" in r.text.replace("&#39;", "'"), field
    with app.state.engine.connect() as conn:
        sites = conn.execute(select(SiteRow.code, SiteRow.country).order_by(SiteRow.code)).all()
    assert [tuple(s) for s in sites] == [("SITE-A", "GB"), ("SITE-B", "GB"), ("SITE-C", "DE")]
    assert "SITE-C" in admin.get("/admin").text


def test_deactivating_an_account_ends_its_sessions_and_is_reversible(app: Any, world: World,
                                                                     client_for: Client) -> None:
    clin = client_for("clinician")
    assert clin.get("/clinic").status_code == 200
    admin = client_for("admin")
    r = post(admin, f"/admin/users/{world.users['clinician']}/deactivate")
    assert r.status_code == 303
    r = clin.get("/clinic", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    with TestClient(app) as again:
        assert again.post("/api/v1/auth/login", json={"username": "a.clinician", "password": PASSWORD}
                          ).status_code == 401
    assert "deactivated" in admin.get("/admin").text
    assert post(admin, f"/admin/users/{world.users['clinician']}/activate").status_code == 303
    with TestClient(app) as again:
        assert again.post("/api/v1/auth/login", json={"username": "a.clinician", "password": PASSWORD}
                          ).status_code == 200
    own = post(admin, f"/admin/users/{world.users['admin']}/deactivate")
    assert own.status_code == 422 and "your own account" in own.text
    actions = [r[2:4] for r in audit_rows(app, actor="admin", entity="user")]
    assert actions.count(("update", "user")) == 2
    assert post(admin, "/admin/users/999999/deactivate").status_code == 404


def test_admin_pages_are_for_admins_only(app: Any, world: World, client_for: Client) -> None:
    for key in ("clinician", "researcher", "other_clinician"):
        c = client_for(key)
        assert c.get("/admin").status_code == 403, key
        assert c.get("/admin/audit").status_code == 403, key
        assert post(c, "/admin/sites", {"code": "X", "name": "X"}).status_code == 403, key
    anon = client_for("anonymous")
    assert anon.get("/admin/audit", follow_redirects=False).headers["location"].startswith("/login")
    with app.state.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SiteRow)).scalar_one() == 2


def test_audit_page_is_newest_first_filtered_paged_read_only_and_verifies_the_chain(
        app: Any, world: World, client_for: Client) -> None:
    clin = client_for("clinician")
    assert clin.get(f"/clinic/patients/{world.patients['A']}").status_code == 200
    with app.state.store.transaction() as s:  # enough rows for two pages
        for i in range(60):
            audit.append(s, actor="bulk.loader", actor_role="system", action="create", entity="import",
                         entity_id=i)
    admin = client_for("admin")
    n_before = len(audit_rows(app))
    page = admin.get("/admin/audit")
    assert page.status_code == 200
    assert f"Verified: all {n_before} rows are intact" in page.text
    ids = [int(x) for x in re.findall(r'<tr><td class="num">(\d+)</td>', page.text)]
    all_ids = [r[0] for r in audit_rows(app)]
    assert ids == sorted(all_ids[:-1], reverse=True)[:50]  # newest first; the view's own row comes after
    assert audit_rows(app)[-1][1:4] == ("admin", "read", "audit_log")
    assert 'href="/admin/audit?page=2"' in page.text
    second = admin.get("/admin/audit", params={"page": 2})
    ids2 = [int(x) for x in re.findall(r'<tr><td class="num">(\d+)</td>', second.text)]
    assert ids2 and max(ids2) == min(ids)  # older rows (the first view's row pushed the window by one)
    mine = admin.get("/admin/audit", params={"actor": "a.clin", "entity": "patient",
                                             "patient_id": str(world.patients["A"])})
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
            for tr in re.findall(r'<tr><td class="num">\d+</td>(.*?)</tr>', mine.text, re.S)]
    assert rows and all((r[1], r[3], r[4], r[6]) == ("a.clinician", "read", "patient", str(world.patients["A"]))
                        for r in rows), rows
    assert 'value="a.clin"' in mine.text
    # read-only: no form posts anywhere but the sign-out form; no route writes to the log
    assert page.text.count('method="post"') == 1 and 'action="/logout"' in page.text
    assert admin.post("/admin/audit", data={"csrf_token": admin.headers["X-CSRF-Token"]}).status_code == 405
    assert admin.get("/admin/audit", params={"patient_id": "abc"}).status_code == 422


def test_audit_page_reports_a_broken_chain(app: Any, world: World, client_for: Client) -> None:
    with app.state.engine.begin() as conn:  # a row written behind the app's back, with a forged hash
        conn.execute(insert(AuditRow).values(at=dt.datetime(2025, 1, 1), actor="intruder", actor_role="admin",
                                             action="read", entity="patient", prev_hash="0" * 64, hash="e" * 64))
        bad = conn.execute(select(func.max(AuditRow.id))).scalar_one()
    page = client_for("admin").get("/admin/audit")
    assert page.status_code == 200
    assert f"BROKEN at row {bad}" in page.text and "Verified" not in page.text
