"""The coordinator's follow-up worklist (:mod:`spinetrack.store.worklist` does the work).

Routes
------
``GET  /clinic/followup``                       the worklist: counts per timepoint and status, the visits
                                                (filters ``site``, ``timepoint``, ``status``, ``page``), each
                                                with its messages, and completeness over time (an SVG plot)
``GET  /clinic/followup.csv``                   the filtered worklist as CSV (every page)
``POST /clinic/followup/{id}/resend``           queue the visit's message again
``POST /clinic/followup/{id}/unreachable``      stop chasing the visit: the patient cannot be reached
``GET  /clinic/followup/{id}/answers``          the form for answers taken by phone or from a paper form
``POST /clinic/followup/{id}/answers``          store them (all or nothing; every problem listed at once)

Answers for a visit that was not scheduled (or from the patient page): :mod:`.clinic_answers`;
both forms share :mod:`spinetrack.web.answers_form` and ``templates/clinic/_answers_fields.html``.

Roles: clinicians and coordinators see and act on their own site's visits, with names; admins
and researchers are refused (the README's security model: admins see no patient data, not even
pseudonymous ids; they have the outbox and the schedules, :mod:`.admin_followup`). Every POST
carries the session's CSRF token (checked by the role dependency) and answers with a redirect
(POST/redirect/GET), so a reload repeats nothing.

The CSV has one row per visit: ``pseudo_id``, ``site``, ``timepoint``, ``opens_on``, ``due_on``,
``closes_on``, ``status``, ``stop_reason``, ``messages_sent``, ``last_message_status``,
``last_sent_on``; for site staff the patient's ``full_name`` follows ``pseudo_id`` (as the clinic
pages show names to the patient's own site only); a name that a spreadsheet would read as a
formula is prefixed with ``'``. The CSV's column names and codes are not translated (a file for
other programs); the pages' words are (the ``staff`` catalog).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.datastructures import FormData

from spinetrack import clock
from spinetrack.errors import ConflictError, SpinetrackError, ValidationError
from spinetrack.i18n import N_
from spinetrack.i18n import gettext as _
from spinetrack.store.access import SessionUser
from spinetrack.store.entry import AnswerEntry
from spinetrack.store.worklist import ENTRY_SOURCES, STATUSES, FollowupDesk, WorklistPage
from spinetrack.web.answers_form import answer_inputs, entry_errors, form_values, parse_answers, questionnaires
from spinetrack.web.deps import ClinicStaff, require_roles
from spinetrack.web.forms import FormErrors

__all__ = ["completeness_svg", "router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# English, marked for the staff catalog; translated when shown (_status_labels, _notice)
STATUS_LABELS = {"due": N_("due"), "overdue": N_("overdue"), "missed": N_("missed"), "completed": N_("completed"),
                 "upcoming": N_("not open yet"), "stopped": N_("stopped")}
NOTICES = {"resent": N_("The message is queued; it goes out with the scheduler's next run."),
           "unreachable": N_("The visit is marked unreachable: no more messages go out for it."),
           "answers-saved": N_("The answers are stored.")}
FollowupId = Annotated[int, Path(ge=1, le=2_147_483_647)]
WorklistUser = Annotated[SessionUser, Depends(require_roles("clinician", "coordinator"))]
SiteQuery = Annotated[int | None, Query(ge=1, le=2_147_483_647)]


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _desk(request: Request) -> FollowupDesk:
    return FollowupDesk(request.app.state.store)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(request, name, context, status_code=status)
    return response


def _status_labels() -> dict[str, str]:
    return {k: _(v) for k, v in STATUS_LABELS.items()}


def _filters(site: int | None, timepoint: str | None, status: str | None) -> dict[str, Any]:
    return {k: v for k, v in {"site": site, "timepoint": timepoint, "status": status}.items() if v not in (None, "")}


_BACK_FIELDS = {"site": (r"\d{1,10}", "a site id"), "timepoint": (r"[\w-]{1,16}", "a timepoint code"),
                "status": (r"[a-z]{1,16}", "a worklist status"), "page": (r"\d{1,6}", "a page number")}


def _back_filters(form: FormData) -> dict[str, str]:
    """The worklist filters the action was taken from (hidden ``back_*`` fields), checked before
    the action is taken: a value that is no filter is refused naming its field."""
    keep: dict[str, str] = {}
    for key, (pattern, allowed) in _BACK_FIELDS.items():
        value = form.get(f"back_{key}")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str) or re.fullmatch(pattern, value.strip()) is None:
            shown = value[:40] if isinstance(value, str) else value
            raise ValidationError(field=f"back_{key}", value=shown, allowed=allowed)
        keep[key] = value.strip()
    return keep


def _back(filters: Mapping[str, str], notice: str) -> str:
    """The worklist with the filters the action was taken from."""
    return "/clinic/followup?" + urlencode({**filters, "notice": notice})


# ---------------------------------------------------------------------------------- the plot


def completeness_svg(rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str | None:
    """Completeness over time: per timepoint, the share of visits answered by the month their
    window closed (by quarter over more than 24 months); an SVG string, None when no window has
    closed yet."""
    from spinetrack.reports.svg import INK, _figure, _style_axes, _to_svg

    series = [r for r in rows if r["by_month"]]
    if not series:
        return None
    months = sorted({m["month"] for r in series for m in r["by_month"]})
    period = "month"
    if len(months) > 24:  # a long span: quarters, so that a month's handful of visits does not look like a trend
        period = "quarter"
        series = [{**r, "by_month": _quarters(r["by_month"])} for r in series]
        months = sorted({m["month"] for r in series for m in r["by_month"]})
    index = {m: i for i, m in enumerate(months)}
    styles = ("-o", "--s", ":^", "-.D", "-v", "--o", ":s", "-.^")
    with _figure(7.5, 3.4, left=0.7, right=1.6, bottom=0.75) as fig:
        ax = fig.add_subplot()
        for i, r in enumerate(series):
            pts = [(index[m["month"]], 100 * m["completeness"]) for m in r["by_month"] if m["completeness"] is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], styles[i % len(styles)], color=INK if i == 0 else None,
                    markersize=3.5, linewidth=1.2, label=f"{labels.get(r['timepoint'], r['timepoint'])}")
        step = max(1, math.ceil(len(months) / 12))
        ax.set_xticks(range(0, len(months), step), [months[k] for k in range(0, len(months), step)],
                      rotation=45, ha="right")
        ax.set_ylim(0, 105)
        ax.set_ylabel(_("answered (% of visits)"))
        ax.set_xlabel(_("quarter the window closed") if period == "quarter" else _("month the window closed"))
        _style_axes(ax, grid_axis="y")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        desc = "; ".join(_("%(visit)s: %(answered)s of %(eligible)s visits answered",
                           visit=labels.get(r["timepoint"], r["timepoint"]), answered=r["responded"],
                           eligible=r["eligible"]) for r in series)
        return _to_svg(fig, "plot-followup-completeness", _("Follow-up completeness by month of the window's close"),
                       desc)


def _quarters(by_month: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Monthly counts summed by calendar quarter (``2026-Q1``)."""
    out: dict[str, list[int]] = {}
    for m in by_month:
        year, month = m["month"].split("-")
        cell = out.setdefault(f"{year}-Q{(int(month) - 1) // 3 + 1}", [0, 0])
        cell[0] += m["eligible"]
        cell[1] += m["responded"]
    return [{"month": q, "eligible": e, "responded": r, "completeness": r / e if e else None}
            for q, (e, r) in sorted(out.items())]


# ---------------------------------------------------------------------------------- worklist


def _page_context(request: Request, user: SessionUser, page: WorklistPage, *, number: int,
                  filters: dict[str, Any], notice: str | None) -> dict[str, Any]:
    desk = _desk(request)
    schedule = request.app.state.store.timepoints()
    labels = {tp.code: _(tp.label) for tp in schedule}  # the visit names (questionnaires catalog)
    rows = desk.completeness(user.actor, site_id=filters.get("site"))
    pages = max(1, math.ceil(page.total / PAGE_SIZE))

    def link(**change: Any) -> str:
        return "/clinic/followup?" + urlencode({k: v for k, v in {**filters, **change}.items() if v not in (None, "")})

    return {
        "user": user, "page": page, "number": number, "pages": pages, "filters": filters, "labels": labels,
        "timepoints": [(tp.code, labels[tp.code]) for tp in schedule], "statuses": STATUSES,
        "status_labels": _status_labels(),
        "sites": desk.sites() if user.role == "admin" else {}, "completeness": rows,
        "plot": completeness_svg(rows, labels), "link": link,
        "notice": _(NOTICES[notice]) if notice in NOTICES else None,
        "can_act": user.role in ("clinician", "coordinator"), "names": user.role in ("clinician", "coordinator"),
        "prev_url": link(page=number - 1) if number > 1 else None,
        "next_url": link(page=number + 1) if number < pages else None,
        "csv_url": "/clinic/followup.csv" + ("?" + urlencode(filters) if filters else ""),
    }


@router.get("/clinic/followup")
def worklist(request: Request, user: WorklistUser, site: SiteQuery = None,
             timepoint: Annotated[str | None, Query(max_length=16)] = None,
             status: Annotated[str | None, Query(max_length=16)] = None,
             page: Annotated[int, Query(ge=1, le=100_000)] = 1,
             notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    filters = _filters(site, timepoint, status)
    result = _desk(request).worklist(user.actor, site_id=site, timepoint=timepoint or None, status=status or None,
                                     limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return _render(request, "clinic/followup.html",
                   _page_context(request, user, result, number=page, filters=filters, notice=notice))


def _cell(text: str) -> str:
    """Typed text as a CSV cell a spreadsheet will not run as a formula (OWASP, CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(desk: FollowupDesk, user: SessionUser, sites: Mapping[int, str], *, site: int | None,
              timepoint: str | None, status: str | None) -> Iterator[list[Any]]:
    names = user.role in ("clinician", "coordinator")
    offset = 0
    while True:
        page = desk.worklist(user.actor, site_id=site, timepoint=timepoint, status=status, limit=500, offset=offset,
                             with_counts=False)
        for v in page.items:
            sent = [m for m in v.messages if m.sent_at is not None]
            last = v.messages[-1] if v.messages else None
            yield [v.pseudo_id, *([_cell(v.full_name or "")] if names else []), sites.get(v.site_id, v.site_id),
                   v.timepoint,
                   v.opens_on.isoformat(), v.due_on.isoformat(), v.closes_on.isoformat(), v.status,
                   v.stop_reason or "", len(sent), last.status if last else "",
                   sent[-1].sent_at.date().isoformat() if sent and sent[-1].sent_at else ""]
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return


@router.get("/clinic/followup.csv")
def worklist_csv(request: Request, user: WorklistUser, site: SiteQuery = None,
                 timepoint: Annotated[str | None, Query(max_length=16)] = None,
                 status: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    desk = _desk(request)
    names = user.role in ("clinician", "coordinator")
    header = ["pseudo_id", *(["full_name"] if names else []), "site", "timepoint", "opens_on", "due_on", "closes_on",
              "status", "stop_reason", "messages_sent", "last_message_status", "last_sent_on"]
    # the first page is read here, so that a refused filter answers with its error, not a broken download
    rows = list(_csv_rows(desk, user, desk.sites(), site=site, timepoint=timepoint or None, status=status or None))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    stamp = clock.today().isoformat()
    return StreamingResponse(iter([buf.getvalue()]), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="followup-{stamp}.csv"',
                                      "Cache-Control": "no-store"})


# ---------------------------------------------------------------------------------- actions


@router.post("/clinic/followup/{followup_id}/resend")
def resend(request: Request, followup_id: FollowupId, user: ClinicStaff, form: FormDep) -> Response:
    try:
        back = _back_filters(form)
        _desk(request).resend(user.actor, followup_id)
    except (ValidationError, ConflictError) as exc:
        return _action_refused(request, user, form, exc)
    return RedirectResponse(_back(back, "resent"), status_code=303)


@router.post("/clinic/followup/{followup_id}/unreachable")
def unreachable(request: Request, followup_id: FollowupId, user: ClinicStaff, form: FormDep) -> Response:
    try:
        back = _back_filters(form)
        _desk(request).mark_unreachable(user.actor, followup_id)
    except (ValidationError, ConflictError) as exc:
        return _action_refused(request, user, form, exc)
    return RedirectResponse(_back(back, "unreachable"), status_code=303)


def _action_refused(request: Request, user: SessionUser, form: FormData, exc: SpinetrackError) -> Response:
    result = _desk(request).worklist(user.actor, limit=PAGE_SIZE)
    context = _page_context(request, user, result, number=1, filters={}, notice=None)
    context["error"] = {"message": str(exc)}
    return _render(request, "clinic/followup.html", context, status=422)


# ---------------------------------------------------------------------------------- phone and paper answers


def _answers_page(request: Request, user: SessionUser, followup_id: int, *, values: Mapping[str, Any] | None = None,
                  error: FormErrors | None = None, status: int = 200) -> Response:
    visit, codes = _desk(request).visit(user.actor, followup_id)
    return _render(request, "clinic/followup_answers.html", {
        "user": user, "visit": visit, "questionnaires": questionnaires(codes), "sources": ENTRY_SOURCES,
        "values": values or {"collected_on": min(clock.today(), visit.closes_on).isoformat()}, "error": error,
        "status_labels": _status_labels()}, status=status)


@router.get("/clinic/followup/{followup_id}/answers")
def answers_form(request: Request, followup_id: FollowupId, user: ClinicStaff) -> Response:
    return _answers_page(request, user, followup_id)


@router.post("/clinic/followup/{followup_id}/answers")
def answers_submit(request: Request, followup_id: FollowupId, user: ClinicStaff, form: FormDep) -> Response:
    """Every problem is listed at once (the checks of :meth:`AnswerEntry.check
    <spinetrack.store.entry.AnswerEntry.check>` on this visit's episode and timepoint, which the
    entry goes to); then :meth:`FollowupDesk.enter_answers` stores all or nothing."""
    desk = _desk(request)
    visit, codes = desk.visit(user.actor, followup_id)
    source, collected_on = form.get("source"), form.get("collected_on")
    source = source if isinstance(source, str) else ""
    collected_on = collected_on if isinstance(collected_on, str) else ""
    responses = parse_answers(form, codes)
    problems = AnswerEntry(request.app.state.store).check(
        user.actor, visit.patient_id, episode_id=visit.episode_id, timepoint=visit.timepoint, source=source,
        collected_on=collected_on, responses=responses)
    try:
        if not problems:
            desk.enter_answers(user.actor, followup_id, source=source, collected_on=collected_on, responses=responses)
    except (ValidationError, ConflictError) as exc:
        problems = [exc]
    if problems:
        errors = entry_errors(problems, answer_inputs(questionnaires(codes)))
        return _answers_page(request, user, followup_id, values=form_values(form), status=422, error=errors)
    return RedirectResponse(f"/clinic/followup?{urlencode({'notice': 'answers-saved'})}", status_code=303)
