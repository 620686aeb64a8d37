"""Admin pages of follow-up: the outbox, each site's schedule, and how patients reach each clinic.

Routes
------
``GET  /admin/outbox``                      every message (newest first) with its status, channel, dates and
                                            error; filters ``status``, ``channel``, ``site``; counts per status.
                                            Held messages carry the note that no channel is configured.
``GET  /admin/schedules``                   each site's schedule (``?site=`` picks the site): which timepoints
                                            are on, their windows, reminder offsets and questionnaires, and the
                                            clinic's contact details
``POST /admin/schedules/{site_id}``         save the site's schedule through
                                            :func:`spinetrack.followup.schedule.set_site_schedule` (refusals
                                            shown at the field they name); ``reset=1`` returns it to the default
``POST /admin/sites/{site_id}/contact``     the clinic's phone and e-mail for patients
``POST /admin/sites/{site_id}/logo``        upload the clinic's logo (field ``logo``, multipart: a PNG or SVG of
                                            at most 20 kB, checked by :func:`spinetrack.store.logos.check_logo`;
                                            a refusal comes back on the form, nothing stored)
``POST /admin/sites/{site_id}/logo/remove`` remove it (the patient pages and letters then show the name alone)

Admins only (the role dependency also checks the CSRF token of every POST); every POST answers
with a redirect (POST/redirect/GET) unless refused, when the form comes back with the error.
The outbox holds no address and no message text, so the page shows none. The notices are
translatable (the ``staff`` catalog), marked with ``N_`` and translated when shown.
"""

from __future__ import annotations

import base64
import math
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile

from spinetrack import instruments
from spinetrack.domain.pathway import DEFAULT_SCHEDULE, TIMEPOINTS
from spinetrack.errors import ConflictError, NotFoundError, ValidationError
from spinetrack.followup.schedule import default_schedule, set_site_schedule
from spinetrack.i18n import N_
from spinetrack.i18n import gettext as _
from spinetrack.store.access import SessionUser
from spinetrack.store.logos import ALLOWED as LOGO_ALLOWED
from spinetrack.store.logos import FIELD as LOGO_FIELD
from spinetrack.store.logos import MAX_LOGO_BYTES, remove_site_logo, require_site, set_site_logo
from spinetrack.store.outreach import CHANNELS, OUTBOX_STATUSES, Outreach
from spinetrack.store.patient_frame import site_logo
from spinetrack.store.tables import SiteScheduleRow
from spinetrack.store.worklist import FollowupDesk
from spinetrack.web.deps import Admin

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

OUTBOX_PAGE = 100
SiteId = Annotated[int, Path(ge=1, le=2_147_483_647)]
HELD_NOTE = N_("Held: no channel was configured when the scheduler ran (set SPINETRACK_SMTP_URL for e-mail, "
               "SPINETRACK_SMS_URL for SMS); held messages go out on the first run after one is set.")
NOTICES = {"schedule-saved": N_("Schedule saved. Visits already scheduled keep their dates; new ones follow it."),
           "schedule-reset": N_("The site follows the default schedule again."),
           "contact-saved": N_("Clinic contact saved."),
           "logo-saved": N_("Logo saved. Patients see it on their pages; a PNG logo is also printed on letters."),
           "logo-removed": N_("Logo removed. Patient pages and letters show the clinic's name alone.")}


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(request, name, context, status_code=status)
    return response


def _outreach(request: Request) -> Outreach:
    return Outreach(request.app.state.store)


# ---------------------------------------------------------------------------------- outbox


@router.get("/admin/outbox")
def outbox(request: Request, user: Admin, status: Annotated[str | None, Query(max_length=16)] = None,
           channel: Annotated[str | None, Query(max_length=16)] = None,
           site: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
           page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    rows, total, counts = _outreach(request).outbox(user.actor, status=status or None, channel=channel or None,
                                                    site_id=site, limit=OUTBOX_PAGE, offset=(page - 1) * OUTBOX_PAGE)
    filters = {k: v for k, v in {"status": status, "channel": channel, "site": site}.items() if v}
    pages = max(1, math.ceil(total / OUTBOX_PAGE))

    def link(p: int) -> str:
        return "/admin/outbox?" + urlencode({**filters, "page": p})

    return _render(request, "admin/outbox.html", {
        "user": user, "rows": rows, "total": total, "counts": counts, "filters": filters, "page": page,
        "pages": pages, "statuses": OUTBOX_STATUSES, "channels": CHANNELS[:3],
        "sites": FollowupDesk(request.app.state.store).sites(),
        "held_note": _(HELD_NOTE), "prev_url": link(page - 1) if page > 1 else None,
        "next_url": link(page + 1) if page < pages else None})


# ---------------------------------------------------------------------------------- schedules


def _form_rows(request: Request, site_id: int) -> list[dict[str, Any]]:
    """Every timepoint with the site's settings (or the default's), for the form."""
    with request.app.state.store.transaction() as s:
        stored = {r.timepoint: r for r in s.execute(select(SiteScheduleRow).where(
            SiteScheduleRow.site_id == site_id)).scalars()}
    default = {t.code: t for t in default_schedule()}
    rows = []
    for tp in TIMEPOINTS:
        r, d = stored.get(tp.code), default.get(tp.code)
        if r is not None:
            rows.append({"code": tp.code, "label": tp.label, "enabled": r.enabled, "from": r.window_from_days,
                         "to": r.window_to_days, "offsets": ", ".join(str(o) for o in r.reminder_offsets),
                         "instruments": list(r.instruments)})
        else:
            rows.append({"code": tp.code, "label": tp.label,
                         "enabled": (not stored) and d is not None and tp.code in DEFAULT_SCHEDULE,
                         "from": tp.window_from_days, "to": tp.window_to_days,
                         "offsets": ", ".join(str(o) for o in (d.reminder_offsets if d else (0, 7, 14))),
                         "instruments": list(d.instruments) if d else
                         list(instruments.listed(instruments.Listing.VISIT_DEFAULT))})
    for row in rows:
        tp = next(t for t in TIMEPOINTS if t.code == row["code"])
        row["global"] = f"{tp.window_from_days} to {tp.window_to_days}"
        row["target"] = tp.target_days
    return rows


def _schedules_page(request: Request, user: SessionUser, site: int | None, *, status: int = 200,
                    error: dict[str, Any] | None = None, rows: list[dict[str, Any]] | None = None,
                    notice: str | None = None, contact_error: dict[str, Any] | None = None,
                    logo_error: dict[str, Any] | None = None) -> Response:
    sites = _outreach(request).site_contacts(user.actor)
    current = next((s for s in sites if s["id"] == site), sites[0] if sites else None)
    custom, logo_src = False, None
    if current is not None:
        try:  # shown inline (the page's CSP allows data: images; an <img> runs no script)
            logo = site_logo(request.app.state.store, current["id"])
            logo_src = f"data:{logo.media_type};base64,{base64.b64encode(logo.content).decode('ascii')}"
        except NotFoundError:
            pass
        with request.app.state.store.transaction() as s:
            custom = s.execute(select(SiteScheduleRow.id).where(SiteScheduleRow.site_id == current["id"])
                               .limit(1)).first() is not None
    return _render(request, "admin/schedules.html", {
        "user": user, "sites": sites, "site": current, "custom": custom,
        "rows": rows if rows is not None else (_form_rows(request, current["id"]) if current else []),
        "instruments": [(i.definition.code, i.definition.title) for i in instruments.all()],
        "error": error, "contact_error": contact_error, "logo_error": logo_error, "logo_src": logo_src,
        "logo_max_kb": MAX_LOGO_BYTES // 1024,
        "notice": _(NOTICES[notice]) if notice in NOTICES else None}, status=status)


@router.get("/admin/schedules")
def schedules(request: Request, user: Admin, site: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
              notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    return _schedules_page(request, user, site, notice=notice)


def _number(text: str) -> Any:
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d{1,9}", text) else text


def _entries(form: FormData) -> tuple[list[dict[str, Any]], list[dict[str, Any]], ValidationError | None]:
    """The enabled timepoints as :func:`set_site_schedule` entries, every row as typed (for
    showing the form again), and the refusal of a switch that is neither on nor absent (a
    timepoint is never dropped from the schedule because its switch held something else)."""
    entries, rows = [], []
    refused: ValidationError | None = None
    for tp in TIMEPOINTS:
        switch = form.get(f"{tp.code}.enabled")
        enabled = switch == "on"
        if switch not in (None, "", "on") and refused is None:
            refused = ValidationError(field=f"schedule.{tp.code}.enabled", value=str(switch)[:40], allowed=["on"])
        lo, hi = str(form.get(f"{tp.code}.window_from_days") or ""), str(form.get(f"{tp.code}.window_to_days") or "")
        offsets = str(form.get(f"{tp.code}.reminder_offsets") or "")
        codes = [c for c in form.getlist(f"{tp.code}.instruments") if isinstance(c, str)]
        rows.append({"code": tp.code, "label": tp.label, "enabled": enabled, "from": lo, "to": hi, "offsets": offsets,
                     "instruments": codes, "global": f"{tp.window_from_days} to {tp.window_to_days}",
                     "target": tp.target_days})
        if enabled:
            entries.append({"timepoint": tp.code, "enabled": True, "window_from_days": _number(lo),
                            "window_to_days": _number(hi),
                            "reminder_offsets": [_number(p) for p in re.split(r"[,\s;]+", offsets) if p.strip()],
                            "instruments": codes})
    return entries, rows, refused


@router.post("/admin/schedules/{site_id}")
def save_schedule(request: Request, site_id: SiteId, user: Admin, form: FormDep) -> Response:
    if form.get("reset") == "1":
        set_site_schedule(request.app.state.store, user.actor, site_id, [])
        return RedirectResponse(f"/admin/schedules?site={site_id}&notice=schedule-reset", status_code=303)
    entries, rows, refused = _entries(form)
    try:
        if refused is not None:
            raise refused
        if not entries:
            raise ValidationError(field="schedule", value=[], allowed=_("at least one timepoint switched on"),
                                  reason=_("to follow the default schedule, use 'Use the default schedule'"))
        set_site_schedule(request.app.state.store, user.actor, site_id, entries)
    except (ValidationError, ConflictError) as exc:
        field = getattr(exc, "field", None) or ""
        m = re.fullmatch(r"schedule\.(\w+)\.(\w+)", field)
        error = {"message": str(exc), "field": field, "timepoint": m.group(1) if m else None,
                 "input": f"{m.group(1)}.{m.group(2)}" if m else None}
        return _schedules_page(request, user, site_id, status=422, error=error, rows=rows)
    return RedirectResponse(f"/admin/schedules?site={site_id}&notice=schedule-saved", status_code=303)


@router.post("/admin/sites/{site_id}/contact")
def save_contact(request: Request, site_id: SiteId, user: Admin, form: FormDep) -> Response:
    try:
        _outreach(request).set_site_contact(user.actor, site_id, phone=form.get("contact_phone"),
                                        email=form.get("contact_email"))
    except ValidationError as exc:
        return _schedules_page(request, user, site_id, status=422,
                               contact_error={"message": str(exc), "input": (exc.field or "").rsplit(".", 1)[-1]})
    return RedirectResponse(f"/admin/schedules?site={site_id}&notice=contact-saved#contact", status_code=303)


@router.post("/admin/sites/{site_id}/logo")
def save_logo(request: Request, site_id: SiteId, user: Admin, form: FormDep) -> Response:
    require_site(request.app.state.store, site_id)
    upload = form.get("logo")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError(field=LOGO_FIELD, value=None, allowed=LOGO_ALLOWED, reason=_("no file was chosen"))
        try:
            data = upload.file.read(MAX_LOGO_BYTES + 1)  # one byte more is enough to know it is too large
        finally:
            upload.file.close()
        set_site_logo(request.app.state.store, user.actor, site_id, data, name=upload.filename[:200])
    except ValidationError as exc:
        return _schedules_page(request, user, site_id, status=422, logo_error={"message": str(exc)})
    return RedirectResponse(f"/admin/schedules?site={site_id}&notice=logo-saved#logo", status_code=303)


@router.post("/admin/sites/{site_id}/logo/remove")
def remove_logo(request: Request, site_id: SiteId, user: Admin) -> Response:
    remove_site_logo(request.app.state.store, user.actor, site_id)
    return RedirectResponse(f"/admin/schedules?site={site_id}&notice=logo-removed#logo", status_code=303)
