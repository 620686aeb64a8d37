"""Questionnaires taken by phone or from a paper form for any visit of an episode, scheduled or not
(:mod:`spinetrack.store.entry` holds the rules and does the work).

Routes
------
``GET  /clinic/patients/{id}/answers``    the form: choose the episode (``episode``, when the patient
                                          has several) and the timepoint (``timepoint``), then the
                                          date, the source and the answers
``POST /clinic/patients/{id}/answers``    store them (all or nothing), then show the timepoint's
                                          stored questionnaires with their scores

As REDCap's data entry for an unscheduled event: the timepoint list is the project's, each with this
episode's window; once a timepoint is chosen the page shows what is already answered there, and
whether a scheduled visit waits for these answers (the entry then goes to it and completes it, as a
coordinator expects: its reminders stop; see :mod:`spinetrack.store.entry`). Every problem is listed
at once, beside its field, the form keeping what was typed; nothing is stored unless everything is
valid. Clinicians and coordinators of the patient's site only (another site's patient is "not
found"); the POST carries the session's CSRF token (checked by the role dependency); the store
audits each read and the entry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from spinetrack import instruments
from spinetrack.errors import ConflictError, ValidationError
from spinetrack.i18n import N_, format_date
from spinetrack.i18n import gettext as _
from spinetrack.store.access import SessionUser
from spinetrack.store.entry import AnswerEntry, EntryForm
from spinetrack.store.worklist import ENTRY_SOURCES
from spinetrack.web.answers_form import answer_inputs, entry_errors, form_values, parse_answers, questionnaires
from spinetrack.web.deps import ClinicStaff
from spinetrack.web.forms import FormErrors
from spinetrack.web.patient_summary import diagnosis_label

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PatientId = Annotated[int, Path(ge=1, le=2_147_483_647)]
EpisodeQuery = Annotated[int | None, Query(ge=1, le=2_147_483_647)]
# the worklist's status names (translated when shown)
STATUS_LABELS = {"due": N_("due"), "overdue": N_("overdue"), "missed": N_("missed"), "completed": N_("completed"),
                 "upcoming": N_("not open yet"), "stopped": N_("stopped")}


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _entry(request: Request) -> AnswerEntry:
    return AnswerEntry(request.app.state.store)


def _episode_label(episode: Any) -> str:
    index = format_date(episode.index_date) if episode.index_date else _("no index date yet")
    return _("%(diagnosis)s, enrolled %(enrolled)s, index date %(index)s", diagnosis=diagnosis_label(
        episode.diagnosis_code), enrolled=format_date(episode.enrolled_on), index=index)


def _page(request: Request, user: SessionUser, entry: EntryForm, *, values: dict[str, str] | None = None,
          error: FormErrors | None = None, saved: bool = False, status: int = 200) -> Response:
    qs = questionnaires(entry.open_instruments)
    values = dict(values or {})
    if entry.latest is not None:
        values.setdefault("collected_on", entry.latest.isoformat())
    context = {
        "user": user, "entry": entry, "questionnaires": qs, "sources": ENTRY_SOURCES, "values": values,
        "error": error, "saved": saved, "status_labels": {k: _(v) for k, v in STATUS_LABELS.items()},
        "episode_labels": {e.id: _episode_label(e) for e in entry.episodes},
        "titles": {a.instrument: questionnaires([a.instrument])[0]["title"] for a in entry.answered},
        "source_labels": {"phone": _("by phone"), "paper": _("from a paper form"), "patient": _("by the patient"),
                          "clinician": _("by the clinic"), "import": _("imported"), "synthetic": _("demo data")},
    }
    response: Response = request.app.state.templates.TemplateResponse(request, "clinic/answers_entry.html", context,
                                                                      status_code=status)
    return response


@router.get("/clinic/patients/{patient_id}/answers")
def entry_form(request: Request, patient_id: PatientId, user: ClinicStaff, episode: EpisodeQuery = None,
               timepoint: Annotated[str | None, Query(max_length=16)] = None,
               saved: Annotated[bool, Query()] = False) -> Response:
    entry = _entry(request).form(user.actor, patient_id, episode_id=episode, timepoint=timepoint or None)
    return _page(request, user, entry, saved=saved and entry.timepoint is not None)


@router.post("/clinic/patients/{patient_id}/answers")
def entry_submit(request: Request, patient_id: PatientId, user: ClinicStaff, form: FormDep) -> Response:
    desk = _entry(request)
    raw = {k: form.get(k) for k in ("episode", "timepoint", "source", "collected_on")}
    fields = {k: v if isinstance(v, str) else "" for k, v in raw.items()}
    shown = desk.form(user.actor, patient_id)  # the patient's episodes (another site's patient: not found)
    episode_id = next((e.id for e in shown.episodes if str(e.id) == fields["episode"].strip()), None)
    timepoint = next((t.code for t in shown.timepoints if t.code == fields["timepoint"].strip()), None)
    entry = desk.form(user.actor, patient_id, episode_id=episode_id, timepoint=timepoint) if episode_id else shown
    # every questionnaire the form could hold is read, so that an answer typed is never dropped unseen
    responses = parse_answers(form, entry.instruments or [i.definition.code for i in instruments.all()])
    kwargs: dict[str, Any] = {"episode_id": fields["episode"], "timepoint": fields["timepoint"],
                              "source": fields["source"], "collected_on": fields["collected_on"],
                              "responses": responses}
    problems = desk.check(user.actor, patient_id, **kwargs)
    try:
        if not problems:
            desk.enter(user.actor, patient_id, **kwargs)
    except (ValidationError, ConflictError) as exc:  # changed since the check (another entry at the same moment)
        problems = [exc]
    if problems:
        errors = entry_errors(problems, answer_inputs(questionnaires(entry.open_instruments)))
        return _page(request, user, entry, values=form_values(form), error=errors, status=422)
    assert entry.episode is not None and entry.timepoint is not None
    return RedirectResponse(f"/clinic/patients/{patient_id}/answers?episode={entry.episode.id}"
                            f"&timepoint={entry.timepoint.code}&saved=1#stored", status_code=303)

