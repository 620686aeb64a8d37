"""The clinic's logo on the admin site form (SQLite and PostgreSQL): an admin uploads a PNG or
an SVG (checked by spinetrack.store.logos.check_logo, tested in tests/store/test_logos.py),
sees it, replaces and removes it; a refused file leaves the stored logo as it was, with a message
naming the field and the allowed types; every change is audited (type, size and SHA-256, never
the bytes); admins only, CSRF on every POST."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack.store.tables import AuditRow, SiteRow
from tests.store.test_logos import png, png_of_size, svg
from tests.web.conftest import World

Client = Callable[[str], TestClient]


def upload(c: TestClient, site: int, name: str, data: bytes, media_type: str = "application/octet-stream") -> Any:
    return c.post(f"/admin/sites/{site}/logo", data={"csrf_token": c.headers["X-CSRF-Token"]},
                  files={"logo": (name, data, media_type)}, follow_redirects=False)


def stored(app: Any, site: int) -> tuple[Any, Any]:
    with app.state.engine.connect() as conn:
        row = conn.execute(select(SiteRow.logo, SiteRow.logo_type).where(SiteRow.id == site)).one()
    return (bytes(row[0]) if row[0] is not None else None), row[1]


def logo_audits(app: Any, site: int) -> list[dict[str, Any]]:
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(AuditRow.actor_role, AuditRow.detail).where(
            AuditRow.entity == "site", AuditRow.entity_id == str(site), AuditRow.action == "update")
            .order_by(AuditRow.id)).all()
    return [r.detail["changes"]["logo"] for r in rows if "logo" in (r.detail or {}).get("changes", {})]


def test_an_admin_uploads_sees_replaces_and_removes_the_logo(app: Any, world: World, client_for: Client) -> None:
    admin, site = client_for("admin"), world.sites["A"]
    page = admin.get(f"/admin/schedules?site={site}")
    assert 'id="logo-none"' in page.text and 'enctype="multipart/form-data"' in page.text
    image = png()
    r = upload(admin, site, "logo.png", image, "image/png")
    assert r.status_code == 303 and r.headers["location"] == f"/admin/schedules?site={site}&notice=logo-saved#logo"
    assert stored(app, site) == (image, "image/png")
    assert stored(app, world.sites["B"]) == (None, None)
    page = admin.get(r.headers["location"])
    assert 'id="logo-preview"' in page.text and 'src="data:image/png;base64,' in page.text
    assert f"Current logo: PNG, {len(image)} bytes." in page.text and "Logo saved." in page.text

    drawing = svg()
    assert upload(admin, site, "logo.svg", drawing, "image/png").status_code == 303  # judged by content
    assert stored(app, site) == (drawing, "image/svg+xml")

    r = admin.post(f"/admin/sites/{site}/logo/remove", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                   follow_redirects=False)
    assert r.status_code == 303 and stored(app, site) == (None, None)
    assert "Logo removed." in admin.get(r.headers["location"]).text

    png_entry = {"type": "image/png", "bytes": len(image), "sha256": hashlib.sha256(image).hexdigest()}
    svg_entry = {"type": "image/svg+xml", "bytes": len(drawing), "sha256": hashlib.sha256(drawing).hexdigest()}
    assert logo_audits(app, site) == [[None, png_entry], [png_entry, svg_entry], [svg_entry, None]]


def test_a_refused_file_is_named_and_nothing_changes(app: Any, world: World, client_for: Client) -> None:
    admin, site = client_for("admin"), world.sites["A"]
    image = png()
    assert upload(admin, site, "logo.png", image).status_code == 303
    before = logo_audits(app, site)
    for name, data, why in (
            ("evil.svg", svg("<script>alert(1)</script>"), "the SVG has a &lt;script&gt; element"),
            ("track.svg", svg('<image href="https://evil.example/t.png"/>'), "refers to a file outside itself"),
            ("big.png", png_of_size(20 * 1024 + 1), "larger than 20 kB"),
            ("photo.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "neither a PNG nor an SVG")):
        r = upload(admin, site, name, data)
        assert r.status_code == 422, name
        assert 'id="logo-error"' in r.text and "site.logo" in r.text and why in r.text, name
        assert "a PNG or SVG image of at most 20 kB" in r.text and name in r.text
        assert stored(app, site) == (image, "image/png")  # the stored logo stays
    r = admin.post(f"/admin/sites/{site}/logo", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                   follow_redirects=False)
    assert r.status_code == 422 and "no file was chosen" in r.text
    assert logo_audits(app, site) == before


def test_the_logo_is_for_admins_only_and_needs_the_csrf_token(app: Any, world: World, client_for: Client) -> None:
    # (the refusals come before the route reads the form: plain forms here, as the framework
    # leaves a refused request's uploaded file to the garbage collector)
    site = world.sites["A"]
    with app.state.store.transaction() as s:
        s.get(SiteRow, site).logo, s.get(SiteRow, site).logo_type = png(), "image/png"
    for key in ("clinician", "coordinator", "researcher"):
        c = client_for(key)
        for url in (f"/admin/sites/{site}/logo", f"/admin/sites/{site}/logo/remove"):
            assert c.post(url, data={"csrf_token": c.headers["X-CSRF-Token"]},
                          follow_redirects=False).status_code == 403
    admin = client_for("admin")
    del admin.headers["X-CSRF-Token"]
    r = admin.post(f"/admin/sites/{site}/logo/remove", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert stored(app, site) == (png(), "image/png")
    assert upload(client_for("admin"), 2_000_000, "logo.png", png()).status_code == 404
