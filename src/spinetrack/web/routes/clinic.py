"""Clinician pages: the patient list, one patient's page (record, procedure,
complications, invitations, PROM timeline against the cohort) and the clinic overview.

Thin by design: each handler parses the form, calls the store (:class:`Store`,
:class:`Access`, :class:`~spinetrack.store.queries.Queries`) and renders. Every read and write
of patient data is audited by the store. A form whose input is refused is shown again with
the store's message, which names the field (e.g. ``procedure.ebl_ml: -5 is not allowed;
allowed: 0 to 20000 mL``), and the input is marked ``aria-invalid``.

Routes
------
``GET  /clinic``                                         patient list (search, filters, pages)
``GET  /clinic/patients/{id}``                            the patient page (``?episode=`` picks the timeline)
``POST /clinic/patients/{id}/episodes``                   add an episode
``POST /clinic/patients/{id}/episodes/{eid}/procedure``   record the procedure
``POST /clinic/patients/{id}/episodes/{eid}/complications`` record a complication
``POST /clinic/patients/{id}/episodes/{eid}/invitations`` create a questionnaire link, then redirect to the
                                                          patient page, which shows it once (POST/redirect/GET)
``POST /clinic/patients/{id}/episodes/{eid}/screening``  record red-flag screening (clinicians only)
``POST /clinic/patients/{id}/episodes/{eid}/decision-aid`` release the decision aid to the patient's home
                                                          (clinicians only, after a screening)
``POST /clinic/patients/{id}/contact``                     contact preferences: channel, consent, opt-out, address,
                                                          the patient's language
``GET  /clinic/overview``                                 completeness, outcomes, complications

Readmissions, reoperations and corrections of a record with a reason: :mod:`.clinic_events`.
The page opens with a summary (:mod:`spinetrack.web.patient_summary`: diagnosis, procedure, the
latest scores against the MCID, open follow-up, red flags, reoperations) and an in-page table
of contents; the sections below it fold.

Red flags and candidacy (clinicians only; coordinators see a note): the page shows the shown
episode's current screening (:func:`spinetrack.store.screening.screen_episode`): an urgent
banner when any red flag is present (then no candidacy questions), otherwise the guideline
candidacy questions of the diagnosis group, and the form to record a new assessment (the
history is kept; the newest is current).

Questionnaire links: the form offers only the timepoints of the site's schedule whose window is
open or opens within the look-ahead (:meth:`~spinetrack.store.access.Access.invitable_timepoints`;
an upcoming link waits for its window). Creating one answers with a redirect; the token travels to
the next page in a short-lived, HttpOnly cookie restricted to this patient's page, is shown there
once and the cookie is cleared: a reload shows no link and creates none.

The patient page also lists the episode's scheduled visits (:mod:`spinetrack.store.worklist`) and
holds the patient's contact preferences (channel, consent, opt-out, postal address) and the
release of the decision aid (:mod:`spinetrack.store.outreach`).

The expected band on the patient page: the median and interquartile range of the whole
registry's patients with the same treatment at each timepoint (pseudonymised aggregates only;
cells of fewer than 5 episodes suppressed), placed at each timepoint's target day. The MCID
line is the patient's baseline − the instrument's MCID (:mod:`spinetrack.instruments.thresholds`:
ODI 10 points, NRS 2 points; Ostelo 2008); EQ-5D-5L has no shipped MCID, so no line and no verdict.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from spinetrack import clock, instruments
from spinetrack.domain import (
    DIAGNOSES,
    DiagnosisGroup,
)
from spinetrack.domain.pathway import ComplicationRecord, EpisodeEndReason, ProcedureRecord
from spinetrack.domain.screening import (
    CANDIDACY_FIELDS,
    LABELS,
    QUESTIONS,
    RED_FLAG_FIELDS,
    Answer,
)
from spinetrack.errors import ConflictError, NotFoundError, ValidationError
from spinetrack.i18n import LANGUAGES, N_
from spinetrack.instruments import thresholds
from spinetrack.store import corrections
from spinetrack.store import screening as screening_store
from spinetrack.store.access import SessionUser
from spinetrack.store.outreach import CHANNELS, Outreach
from spinetrack.store.queries import (
    SMALL_CELL_MIN,
    TIMELINE_INSTRUMENTS,
    TREATMENTS,
    OutcomeTable,
    TimelinePoint,
)
from spinetrack.store.repositories import Actor
from spinetrack.store.worklist import FollowupDesk
from spinetrack.web import patient_summary, plots
from spinetrack.web.deps import AccessDep, ClinicStaff, StoreDep, require_roles
from spinetrack.web.forms import FormErrors, from_exception
from spinetrack.web.routes.clinic_forms import (
    FormDep,
    _complication_data,
    _error,
    _list,
    _number,
    _procedure_data,
    _queries,
    _render,
    _screening_data,
    _text,
    _values,
    _vocabularies,
    _yes_no,
    episode_form,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
log = logging.getLogger("spinetrack.web.clinic")

PAGE_SIZE = 25

OverviewUser = Annotated[SessionUser, Depends(require_roles("clinician", "coordinator", "researcher"))]
Clinician = Annotated[SessionUser, Depends(require_roles("clinician"))]


@router.get("/clinic")
def patient_list(request: Request, user: ClinicStaff, access: AccessDep,
                 q: Annotated[str | None, Query(max_length=100)] = None,
                 diagnosis_group: str | None = None, treatment: str | None = None, followup: str | None = None,
                 page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    groups = [g.value for g in DiagnosisGroup]
    if diagnosis_group and diagnosis_group not in groups:
        raise ValidationError(field="diagnosis_group", value=diagnosis_group, allowed=groups)
    if treatment and treatment not in TREATMENTS:
        raise ValidationError(field="treatment", value=treatment, allowed=TREATMENTS)
    result = access.list_patients(user.actor, q=q or None, diagnosis_group=diagnosis_group or None,
                                  treatment=treatment or None, followup=followup or None, limit=PAGE_SIZE,
                                  offset=(page - 1) * PAGE_SIZE)
    filters = {k: v for k, v in {"q": q, "diagnosis_group": diagnosis_group, "treatment": treatment,
                                 "followup": followup}.items() if v}
    pages = max(1, math.ceil(result["total"] / PAGE_SIZE))

    def link(p: int) -> str:
        return "/clinic?" + urlencode({**filters, "page": p})

    return _render(request, "clinic/patients.html", {
        "user": user, "items": result["items"], "total": result["total"], "page": page, "pages": pages,
        "prev_url": link(page - 1) if page > 1 else None, "next_url": link(page + 1) if page < pages else None,
        "filters": filters, **_vocabularies()})


# ---------------------------------------------------------------------------------- patient page

NOTICES = {
    "enrolled": ("ok", "Patient enrolled with the first episode."),
    "episode-not-saved": ("error", "The patient was enrolled, but the episode was NOT saved. "
                                   "Please add it with the episode form below."),
    "episode-added": ("ok", "Episode added."),
    "procedure-saved": ("ok", "Procedure recorded."),
    "complication-saved": ("ok", "Complication recorded."),
    "readmission-saved": ("ok", "Readmission recorded."),
    "reoperation-saved": ("ok", "Reoperation recorded."),
    "corrected": ("ok", "Correction recorded; the old value is kept in the record's history."),
    "screening-saved": ("ok", "Red-flag screening recorded."),
    "link-created": ("ok", "Questionnaire link created."),
    "link-shown": ("ok", "The questionnaire link was created and shown once; if it was lost, create another."),
    "contact-saved": ("ok", "Contact preferences saved."),
    "aid-released": ("ok", "The decision aid is released: the patient sees it on their home page."),
    "episode-ended": ("ok", "Follow-up ended for this episode: no more invitations or reminders are sent."),
    "episode-end-undone": ("ok", "The end of follow-up was taken back: the scheduler carries on with the visits."),
}
END_REASONS = [(r.value, r.label) for r in EpisodeEndReason]
CHANNEL_LABELS = {"email": N_("e-mail"), "sms": N_("SMS"), "letter": N_("letter"), "none": N_("no messages")}
VISIT_STATUS_LABELS = {"upcoming": N_("not open yet"), "due": N_("due"), "overdue": N_("overdue"),
                       "completed": N_("completed"), "missed": N_("missed"), "stopped": N_("stopped")}
NEW_LINK_COOKIE = "st_new_link"  # the link just created, carried once across the redirect
NEW_LINK_SECONDS = 300

SCREENING_FORM = {
    "red_flag_fields": RED_FLAG_FIELDS, "candidacy_fields": CANDIDACY_FIELDS, "screening_questions": QUESTIONS,
    "screening_labels": LABELS, "screening_answers": [(a.value, {"unknown": "not known"}.get(a.value, a.value))
                                                      for a in Answer],
}


def _threshold(instrument: str) -> thresholds.Threshold | None:
    try:
        return thresholds.get(instrument)
    except ValidationError:
        return None


def _timeline_rows(points: list[TimelinePoint], band: OutcomeTable, treatment: str | None,
                   labels: dict[str, str]) -> list[dict[str, Any]]:
    """The data table beside the plots: each score with its change from baseline, the MCID
    classification (Ostelo 2008 where one exists) and the cohort median [IQR] (n)."""
    baseline = {p.instrument: p.score for p in points if p.timepoint == "baseline" and p.valid}
    rows = []
    for p in points:
        change, category = None, None
        base = baseline.get(p.instrument)
        if p.timepoint != "baseline" and p.valid and p.score is not None and base is not None:
            change = p.score - base
            if _threshold(p.instrument) is not None:
                category = thresholds.classify_change(p.instrument, base, p.score).category.value
        cell = band.cell(p.instrument, treatment, p.timepoint) if treatment else None
        rows.append({"point": p, "timepoint_label": labels.get(p.timepoint, p.timepoint), "change": change,
                     "category": category, "cell": cell,
                     "title": plots.INSTRUMENT_SHORT.get(p.instrument, p.instrument)})
    return rows


def _patient_page(request: Request, user: SessionUser, patient_id: int, *, episode_id: int | None = None,
                  status: int = 200, errors: dict[str, Any] | None = None, values: dict[str, Any] | None = None,
                  new_link: dict[str, Any] | None = None, notice: str | None = None) -> Response:
    queries = _queries(request)
    access = request.app.state.access
    actor = user.actor
    record = queries.patient_record(actor, patient_id)  # authorizes first: another site's patient is 404
    identity = access.get_identity(actor, patient_id)
    timeline = queries.patient_timeline(actor, patient_id)
    band = queries.outcome_summary(actor, TIMELINE_INSTRUMENTS, site_id=None)  # registry, suppressed < 5
    schedule = request.app.state.store.timepoints()
    labels = {tp.code: tp.label for tp in schedule}
    episodes = record["episodes"]
    current = next((e for e in episodes if e["id"] == episode_id), episodes[-1] if episodes else None)
    figures = []
    rows: list[dict[str, Any]] = []
    if current is not None:
        points = [p for p in timeline if p.episode_id == current["id"]]
        treatment = current["treatment"]
        for code in TIMELINE_INSTRUMENTS:
            base = next((p.score for p in points if p.instrument == code and p.timepoint == "baseline" and p.valid),
                        None)
            threshold = _threshold(code)
            fig = plots.timeline_figure(code, points, band.for_instrument(code, treatment) if treatment else [],
                                        treatment=treatment, baseline=base, threshold=threshold,
                                        band_scope="all sites")
            figures.append({"id": f"plot-{code}", "json": plots.figure_json(fig),
                            "title": plots.INSTRUMENT_SHORT[code], "threshold": threshold, "baseline": base,
                            "mcid_line": plots.mcid_line(base, threshold,
                                                         instruments.get(code).definition.higher_is_better)})
        rows = _timeline_rows(points, band, treatment, labels)
    invitable = access.invitable_timepoints(actor, current["id"]) if current is not None else []
    suggested = next((t.code for t in invitable if t.state == "open"), invitable[0].code if invitable else None)
    visits = FollowupDesk(request.app.state.store).episode_visits(actor, current["id"]) if current is not None else []
    contact = Outreach(request.app.state.store).contact(actor, patient_id)
    if new_link is not None and current is not None:
        window = next((t for t in invitable if t.code == new_link["timepoint"]), None)
        new_link = {**new_link, "opens_on": window.opens_on if window else None,
                    "closes_on": window.closes_on if window else None, "waits": bool(window and window.state != "open")}
    # red-flag screening of the shown episode: clinicians only (one audited read)
    screening = None
    if current is not None and user.role == "clinician":
        screening = screening_store.screen_episode(request.app.state.store, actor, current["id"])
    notice_pair = NOTICES.get(notice or "")
    fixes = corrections.corrections_of_patient(request.app.state.store, actor, patient_id)
    summary = patient_summary.summarise(current, timeline, labels, visits, screening, fixes)
    return _render(request, "clinic/patient.html", {
        "user": user, "patient": record, "identity": identity, "episodes": episodes, "current": current,
        "figures": figures, "rows": rows, "timepoints": schedule, "suggested_timepoint": suggested, "labels": labels,
        "invitable": invitable, "visits": visits, "contact": contact, "channels": CHANNELS,
        "band_min_n": band.min_n, "score_format": plots.SCORE_FORMAT,
        "errors": errors or {}, "values": values or {}, "new_link": new_link, "notice": notice_pair,
        "today": clock.today().isoformat(), "diagnoses_by_code": DIAGNOSES, "screening": screening,
        "end_reasons": END_REASONS, "end_labels": dict(END_REASONS),
        "summary": summary, "corrections": patient_summary.corrections_by_record(fixes),
        "patient_language": corrections.patient_language(request.app.state.store, actor, patient_id),
        "correctable": corrections.CORRECTABLE, "label": patient_summary.code_label,
        "procedure_label": patient_summary.procedure_label, "diagnosis_label": patient_summary.diagnosis_label,
        "reoperation_reasons": list(patient_summary.REOPERATION_LABELS.items()),
        "complication_labels": list(patient_summary.COMPLICATION_LABELS.items()),
        "language_choices": [("en", "English"), ("es", "Spanish (español)")],
        "display_value": patient_summary.display_value,
        "channel_labels": CHANNEL_LABELS, "visit_status_labels": VISIT_STATUS_LABELS,
        "instrument_titles": {i.definition.code: i.definition.title for i in instruments.all()},
        **SCREENING_FORM, **_vocabularies()}, status=status)


def _new_link_from_cookie(request: Request, patient_id: int, episode: int | None) -> dict[str, Any] | None:
    """The link created just before the redirect (``invitation id|timepoint|codes|token``), when
    it belongs to this patient's shown episode; None otherwise."""
    raw = request.cookies.get(NEW_LINK_COOKIE) or ""
    m = re.fullmatch(r"(\d{1,10})\|(\d{1,10})\|([\w-]{1,16})\|([\w,]{1,300})\|([A-Za-z0-9_\-]{20,100})", raw)
    if m is None or int(m.group(1)) != patient_id or (episode is not None and int(m.group(2)) != episode):
        return None
    url = str(request.base_url).rstrip("/") + f"/p/{m.group(5)}"
    return {"url": url, "timepoint": m.group(3), "instruments": m.group(4).split(",")}


@router.get("/clinic/patients/{patient_id}")
def patient_page(request: Request, patient_id: int, user: ClinicStaff,
                 episode: int | None = None, notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    new_link = _new_link_from_cookie(request, patient_id, episode) if notice == "link-created" else None
    if notice == "link-created" and new_link is None:
        notice = "link-shown"  # a reload: the link was shown once and is not created again
    response = _patient_page(request, user, patient_id, episode_id=episode, notice=notice, new_link=new_link)
    if NEW_LINK_COOKIE in request.cookies:
        response.delete_cookie(NEW_LINK_COOKIE, path=f"/clinic/patients/{patient_id}", httponly=True,
                               samesite="strict", secure=request.url.scheme == "https")
    return response


def _check_episode(request: Request, user: SessionUser, patient_id: int, episode_id: int) -> dict[str, Any]:
    episode: dict[str, Any] = request.app.state.store.get_episode(user.actor, episode_id)
    if episode["patient_id"] != patient_id:
        raise NotFoundError(entity="episode", key=episode_id)
    return episode


@router.post("/clinic/patients/{patient_id}/episodes")
def add_episode(request: Request, patient_id: int, user: ClinicStaff, form: FormDep, store: StoreDep) -> Response:
    episode, problems = episode_form(form, clock.today())  # every problem at once (web/forms.py)
    eid = None
    if not problems:
        try:
            eid = store.add_episode(user.actor, patient_id, episode)
        except (ValidationError, ConflictError) as exc:
            problems = from_exception(exc, "new-")
    if problems or eid is None:
        return _patient_page(request, user, patient_id, status=422, errors={"episode": problems},
                             values={"episode": _values(form)})
    return RedirectResponse(f"/clinic/patients/{patient_id}?episode={eid}&notice=episode-added#episode-{eid}",
                            status_code=303)


def _record_event(request: Request, user: SessionUser, patient_id: int, episode_id: int, form: FormData, *,
                  section: str, anchor: str, data: dict[str, Any], check: Callable[[Mapping[str, Any]], Any],
                  sample: dict[str, Any], save: Callable[[Actor, int, dict[str, Any]], Any]) -> Response:
    """Check a record of the episode (each field on its own by the domain's ``check``, with the
    other fields taken from ``sample``), then the whole record by the store's ``save``; every
    problem at once beside its field on the page again, else back to the page at ``anchor``."""
    problems = FormErrors()
    problems.check_fields(check, sample, data)
    if not problems:
        try:
            save(user.actor, episode_id, data)
        except (ValidationError, ConflictError) as exc:
            problems = from_exception(exc)
    if problems:
        return _patient_page(request, user, patient_id, episode_id=episode_id, status=422,
                             errors={section: problems}, values={section: _values(form)})
    return RedirectResponse(
        f"/clinic/patients/{patient_id}?episode={episode_id}&notice={section}-saved#{anchor}", status_code=303)


@router.post("/clinic/patients/{patient_id}/episodes/{episode_id}/procedure")
def add_procedure(request: Request, patient_id: int, episode_id: int, user: ClinicStaff, form: FormDep,
                  store: StoreDep) -> Response:
    """Record the procedure: every problem at once beside its field (each field checked on its own
    by the domain, then the whole record against the episode by the store)."""
    _check_episode(request, user, patient_id, episode_id)
    return _record_event(request, user, patient_id, episode_id, form, section="procedure", anchor="procedure",
                         data={**_procedure_data(form), "converted_to_open": _yes_no(form, "converted_to_open")},
                         check=ProcedureRecord.create,
                         sample={"procedure_code": "discectomy_tubular", "levels": ["L4-L5"],
                                 "performed_on": clock.today().isoformat()},
                         save=store.add_procedure)


@router.post("/clinic/patients/{patient_id}/episodes/{episode_id}/complications")
def add_complication(request: Request, patient_id: int, episode_id: int, user: ClinicStaff, form: FormDep,
                     store: StoreDep) -> Response:
    index = _check_episode(request, user, patient_id, episode_id).get("index_date")
    return _record_event(request, user, patient_id, episode_id, form, section="complication",
                         anchor="complications", data=_complication_data(form),
                         check=lambda d: ComplicationRecord.create(d, performed_on=index),
                         sample={"category": "other", "clavien_dindo": "I",
                                 "occurred_on": (index or clock.today()).isoformat()},
                         save=store.add_complication)


@router.post("/clinic/patients/{patient_id}/episodes/{episode_id}/invitations")
def add_invitation(request: Request, patient_id: int, episode_id: int, user: ClinicStaff, form: FormDep,
                   access: AccessDep) -> Response:
    """Create a personal questionnaire link and redirect (POST/redirect/GET): the token rides in
    a short-lived HttpOnly cookie to the patient page, which shows it once and clears it; it is
    never in a URL or the history, and a reload creates nothing."""
    _check_episode(request, user, patient_id, episode_id)
    timepoint = _text(form, "timepoint") or ""
    codes = _list(form, "instruments")
    try:
        _, token = access.create_invitation(user.actor, episode_id, timepoint=timepoint, instrument_codes=codes)
    except (ValidationError, ConflictError) as exc:
        return _patient_page(request, user, patient_id, episode_id=episode_id, status=422,
                             errors={"invitation": _error(exc)}, values={"invitation": _values(form)})
    response = RedirectResponse(f"/clinic/patients/{patient_id}?episode={episode_id}&notice=link-created#new-link",
                                status_code=303)
    response.set_cookie(NEW_LINK_COOKIE, f"{patient_id}|{episode_id}|{timepoint}|{','.join(codes)}|{token}",
                        max_age=NEW_LINK_SECONDS, path=f"/clinic/patients/{patient_id}", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/clinic/patients/{patient_id}/contact")
def save_contact(request: Request, patient_id: int, user: ClinicStaff, form: FormDep) -> Response:
    """Record the patient's contact preferences (channel, consent, opt-out, postal address).
    ``episode`` (hidden) is the episode the page showed, shown again when the form is refused."""
    data = {"channel": _text(form, "channel"), "contact_consent": _yes_no(form, "contact_consent"),
            "postal_address": _text(form, "postal_address"),
            "opted_out": _yes_no(form, "opted_out")}  # yes, no or absent; anything else refused naming it
    episode = _number(form, "episode")
    shown = episode if isinstance(episode, int) and 1 <= episode <= 2_147_483_647 else None
    language = _text(form, "language")
    try:
        if episode is not None and shown is None:
            raise ValidationError(field="contact.episode", value=str(episode)[:40], allowed="an episode id")
        if language is not None and language not in LANGUAGES:
            raise ValidationError(field="contact.language", value=language[:40], allowed=list(LANGUAGES))
        Outreach(request.app.state.store).set_contact(user.actor, patient_id, data)
        corrections.set_language(request.app.state.store, user.actor, patient_id, language)
    except ValidationError as exc:
        return _patient_page(request, user, patient_id, episode_id=shown,
                             status=422, errors={"contact": _error(exc)}, values={"contact": _values(form)})
    return RedirectResponse(f"/clinic/patients/{patient_id}?notice=contact-saved#contact", status_code=303)


@router.post("/clinic/patients/{patient_id}/episodes/{episode_id}/end")
def end_episode(request: Request, patient_id: int, episode_id: int, user: ClinicStaff, form: FormDep,
                store: StoreDep) -> Response:
    """End the episode's follow-up (date and reason), then show the page again (POST/redirect/GET):
    its visits stop and their unsent messages are cancelled (:meth:`Store.end_episode`)."""
    _check_episode(request, user, patient_id, episode_id)
    try:
        store.end_episode(user.actor, episode_id, ended_on=_text(form, "ended_on"), reason=_text(form, "end_reason"))
    except (ValidationError, ConflictError) as exc:
        return _patient_page(request, user, patient_id, episode_id=episode_id,
                             status=409 if isinstance(exc, ConflictError) else 422,
                             errors={"end": _error(exc)}, values={"end": _values(form)})
    return RedirectResponse(
        f"/clinic/patients/{patient_id}?episode={episode_id}&notice=episode-ended#followup", status_code=303)


@router.post("/clinic/patients/{patient_id}/episodes/{episode_id}/end/undo")
def undo_episode_end(request: Request, patient_id: int, episode_id: int, user: ClinicStaff, store: StoreDep
                     ) -> Response:
    """Take back an end of follow-up recorded by mistake: the visits it stopped go on."""
    _check_episode(request, user, patient_id, episode_id)
    try:
        store.end_episode(user.actor, episode_id, ended_on=None, reason=None, undo=True)
    except ConflictError as exc:
        return _patient_page(request, user, patient_id, episode_id=episode_id, status=409, errors={"end": _error(exc)})
    return RedirectResponse(
        f"/clinic/patients/{patient_id}?episode={episode_id}&notice=episode-end-undone#followup", status_code=303)


@router.post("/clinic/patients/{patient_id}/episodes/{episode_id}/decision-aid")
def release_decision_aid(request: Request, patient_id: int, episode_id: int, user: Clinician) -> Response:
    """Release the decision aid to the patient's home (clinicians, after a screening)."""
    _check_episode(request, user, patient_id, episode_id)
    try:
        Outreach(request.app.state.store).release_decision_aid(user.actor, episode_id)
    except ValidationError as exc:
        return _patient_page(request, user, patient_id, episode_id=episode_id, status=422,
                             errors={"decision_aid": _error(exc)})
    return RedirectResponse(
        f"/clinic/patients/{patient_id}?episode={episode_id}&notice=aid-released#decision-aid", status_code=303)


@router.post("/clinic/patients/{patient_id}/episodes/{episode_id}/screening")
def record_screening(request: Request, patient_id: int, episode_id: int, user: Clinician, form: FormDep,
                     store: StoreDep) -> Response:
    """Record a red-flag screening of the episode (clinicians only), then show the page again."""
    _check_episode(request, user, patient_id, episode_id)
    try:
        screening_store.save_screening(store, user.actor, episode_id, _screening_data(form))
    except ValidationError as exc:
        return _patient_page(request, user, patient_id, episode_id=episode_id, status=422,
                             errors={"screening": _error(exc)}, values={"screening": _values(form)})
    return RedirectResponse(
        f"/clinic/patients/{patient_id}?episode={episode_id}&notice=screening-saved#screening", status_code=303)


# ---------------------------------------------------------------------------------- overview


@router.get("/clinic/overview")
def overview(request: Request, user: OverviewUser,
             scope: Annotated[str | None, Query(pattern="^(site|registry)$")] = None) -> Response:
    """Clinic staff see their own site (every cell shown) or, with ``?scope=registry``, the
    registry with small cells suppressed; researchers see the registry, suppressed, always."""
    queries = _queries(request)
    actor = user.actor
    if user.role == "researcher" or scope == "registry":
        site_id, min_n, scope_label = None, SMALL_CELL_MIN, "all sites"
    else:
        site_id, min_n, scope_label = user.site_id, 1, "your site"
    completeness = queries.followup_completeness(actor, site_id=site_id, min_n=min_n)
    outcomes = queries.outcome_summary(actor, TIMELINE_INSTRUMENTS, site_id=site_id, min_n=min_n)
    complications = queries.complication_table(actor, site_id=site_id, min_n=min_n)
    schedule = request.app.state.store.timepoints()
    tps = [(tp.code, tp.label) for tp in schedule]
    figures = [{"id": "plot-completeness", "json": plots.figure_json(plots.completeness_figure(completeness)),
                "title": "Follow-up completeness"}]
    for code in TIMELINE_INSTRUMENTS:
        fig = plots.outcomes_figure(code, outcomes.for_instrument(code), tps, scope_label=scope_label)
        figures.append({"id": f"plot-outcome-{code}", "json": plots.figure_json(fig),
                        "title": plots.INSTRUMENT_SHORT[code], "instrument": code})
    return _render(request, "clinic/overview.html", {
        "user": user, "scope": "registry" if site_id is None else "site", "scope_label": scope_label,
        "min_n": min_n, "completeness": completeness, "outcomes": outcomes, "complications": complications,
        "timepoints": tps, "figures": figures, "treatments": TREATMENTS, "arm_labels": plots.ARM_LABELS,
        "score_format": plots.SCORE_FORMAT,
        "instrument_titles": plots.INSTRUMENT_SHORT, "instrument_codes": TIMELINE_INSTRUMENTS,
        "can_switch": user.role != "researcher", "method": outcomes.method})
