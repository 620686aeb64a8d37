"""Admin follow-up pages through the TestClient (SQLite and PostgreSQL): the outbox (held
messages explained), each site's schedule saved through set_site_schedule with refusals shown
at their field, the clinic's contact, admins only and CSRF on every POST."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack.store.tables import OutboxRow, SiteRow, SiteScheduleRow
from tests.web.conftest import World

Client = Callable[[str], TestClient]


def post(c: TestClient, url: str, data: dict[str, Any] | None = None) -> Any:
    return c.post(url, data={**(data or {}), "csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)


def _schedule(app: Any, site_id: int) -> dict[str, tuple[Any, ...]]:
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(SiteScheduleRow.timepoint, SiteScheduleRow.window_from_days,
                                   SiteScheduleRow.window_to_days, SiteScheduleRow.reminder_offsets,
                                   SiteScheduleRow.instruments).where(SiteScheduleRow.site_id == site_id)).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def _form(**changes: Any) -> dict[str, Any]:
    """The schedule form with baseline, 3, 6, 12 and 24 months on (ODI and back pain NRS each),
    then ``changes`` (field name → value)."""
    form: dict[str, Any] = {}
    windows = {"baseline": (-180, 0), "3m": (64, 136), "6m": (137, 273), "12m": (274, 547), "24m": (548, 912)}
    for code, (lo, hi) in windows.items():
        form.update({f"{code}.enabled": "on", f"{code}.window_from_days": str(lo), f"{code}.window_to_days": str(hi),
                     f"{code}.reminder_offsets": "0, 7, 14", f"{code}.instruments": ["odi", "nrs_back"]})
    form.update(changes)
    return form


def test_admin_follow_up_pages_are_for_admins_only(app: Any, world: World, client_for: Client) -> None:
    for key in ("clinician", "coordinator", "researcher"):
        c = client_for(key)
        assert c.get("/admin/outbox").status_code == 403
        assert c.get("/admin/schedules").status_code == 403
        assert post(c, f"/admin/schedules/{world.sites['A']}", _form()).status_code == 403
        assert post(c, f"/admin/sites/{world.sites['A']}/contact", {"contact_phone": "0100"}).status_code == 403
    assert _schedule(app, world.sites["A"]) == {}


def test_outbox_lists_every_message_and_explains_held_ones(app: Any, world: World, client_for: Client) -> None:
    now = dt.datetime(2026, 1, 5, 10, 0)
    with app.state.store.transaction() as s:
        for i, (status, channel, error) in enumerate((("held", "email", None), ("failed", "sms", "gateway said 503"),
                                                      ("sent", "email", None))):
            s.add(OutboxRow(episode_id=world.episodes["A" if i < 2 else "B"], kind="invitation", sequence=None,
                            channel=channel, status=status, attempts=1 if status != "held" else 0,
                            created_at=now + dt.timedelta(minutes=i), due_at=now,
                            sent_at=now if status == "sent" else None, last_error=error))
    page = client_for("admin").get("/admin/outbox")
    assert page.status_code == 200
    assert 'id="held-note"' in page.text and "SPINETRACK_SMTP_URL" in page.text
    assert page.text.count('data-status="') == 3 and "gateway said 503" in page.text
    assert page.text.index('data-status="sent"') < page.text.index('data-status="held"')  # newest first
    failed = client_for("admin").get("/admin/outbox?status=failed&channel=sms")
    assert failed.text.count('data-status="') == 1 and 'data-status="failed"' in failed.text
    site_b = client_for("admin").get(f"/admin/outbox?site={world.sites['B']}")
    assert site_b.text.count('data-status="') == 1 and 'data-status="sent"' in site_b.text
    assert client_for("admin").get("/admin/outbox?status=lost").status_code == 422


def test_schedule_is_saved_refused_at_its_field_and_reset(app: Any, world: World, client_for: Client) -> None:
    admin, site = client_for("admin"), world.sites["A"]
    page = admin.get(f"/admin/schedules?site={site}")
    assert page.status_code == 200 and "follows the default schedule" in page.text
    assert 'name="6m.enabled" checked' in page.text and 'name="5y.enabled" checked' not in page.text
    r = post(admin, f"/admin/schedules/{site}", _form(**{"6m.window_to_days": "300"}))  # wider than 137-273
    assert r.status_code == 422 and "schedule.6m.window_to_days" in r.text
    assert 'id="6m.window_to_days" value="300" aria-label="6 months: window to days" size="5" aria-invalid="true"' \
        in r.text
    assert _schedule(app, site) == {}  # nothing half-stored
    r = post(admin, f"/admin/schedules/{site}", _form(**{"12m.reminder_offsets": "0, seven"}))
    assert r.status_code == 422 and "schedule.12m.reminder_offsets" in r.text and _schedule(app, site) == {}
    r = post(admin, f"/admin/schedules/{site}", _form(**{"6m.window_from_days": "150", "6m.reminder_offsets": "0 10"}))
    assert r.status_code == 303 and r.headers["location"] == f"/admin/schedules?site={site}&notice=schedule-saved"
    saved = _schedule(app, site)
    assert set(saved) == {"baseline", "3m", "6m", "12m", "24m"}
    assert saved["6m"] == (150, 273, [0, 10], ["odi", "nrs_back"])
    assert _schedule(app, world.sites["B"]) == {}
    assert "follows its own schedule" in admin.get(r.headers["location"]).text
    assert post(admin, f"/admin/schedules/{site}", {"reset": "1"}).status_code == 303
    assert _schedule(app, site) == {}


def test_schedule_and_contact_posts_need_the_csrf_token(app: Any, world: World, client_for: Client) -> None:
    admin = client_for("admin")
    del admin.headers["X-CSRF-Token"]
    r = admin.post(f"/admin/schedules/{world.sites['A']}", data=_form(), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = admin.post(f"/admin/sites/{world.sites['A']}/contact", data={"contact_phone": "0100"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert _schedule(app, world.sites["A"]) == {}


def test_clinic_contact_is_saved_and_checked(app: Any, world: World, client_for: Client) -> None:
    admin, site = client_for("admin"), world.sites["A"]
    bad = post(admin, f"/admin/sites/{site}/contact", {"contact_phone": "0100 555", "contact_email": "not-an-address"})
    assert bad.status_code == 422 and "site.contact_email" in bad.text
    ok = post(admin, f"/admin/sites/{site}/contact", {"contact_phone": "+44 20 7946 0000",
                                                     "contact_email": "spine.clinic@example.org"})
    assert ok.status_code == 303
    with app.state.engine.connect() as conn:
        row = conn.execute(select(SiteRow.contact_phone, SiteRow.contact_email).where(SiteRow.id == site)).one()
    assert tuple(row) == ("+44 20 7946 0000", "spine.clinic@example.org")
    assert "spine.clinic@example.org" in admin.get(f"/admin/schedules?site={site}").text
