"""Enrolment: a new patient with identity and a first episode.

Routes
------
``GET  /clinic/enrol``, ``POST /clinic/enrol``            enrol a patient with a first episode

Every field is checked before anything is stored and all problems are shown at once, each in
plain words beside its field, the form keeping what was typed (:mod:`spinetrack.web.forms`). The
patient and identity are stored in one transaction, the episode in the next. Should the episode
still fail (a database refusal), the patient page says so and offers the episode form.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from spinetrack import clock
from spinetrack.errors import SpinetrackError
from spinetrack.web.deps import ClinicStaff, StoreDep
from spinetrack.web.forms import FormErrors, check_enrolment
from spinetrack.web.routes.clinic_forms import (
    FormDep,
    _episode_data,
    _identity_data,
    _patient_data,
    _render,
    _values,
    _vocabularies,
    check_unused_rows,
    finding_rows,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
log = logging.getLogger("spinetrack.web.enrol")


@router.get("/clinic/enrol")
def enrol_form(request: Request, user: ClinicStaff) -> Response:
    return _render(request, "clinic/enrol.html", {
        "user": user, "values": {"enrolled_on": clock.today().isoformat()}, "error": FormErrors(), **_vocabularies()})


@router.post("/clinic/enrol")
def enrol_submit(request: Request, user: ClinicStaff, form: FormDep, store: StoreDep) -> Response:
    """Enrol a patient with identity and a first episode. Every field is checked before
    anything is stored and every problem is shown at once, beside its field, with what was typed
    (:func:`spinetrack.web.forms.check_enrolment`). The patient and identity are stored in one
    transaction, the episode in the next. Should the episode still fail (a database refusal),
    the patient page says so and offers the episode form."""
    identity, patient = _identity_data(form), _patient_data(form)
    today = clock.today()
    episode = _episode_data(form, today)
    errors = check_enrolment(identity, patient, episode, today, rows=finding_rows(form))
    check_unused_rows(form, errors)
    pid = None
    if not errors:
        pid = errors.check(store.add_patient, user.actor, user.site_id or 0, patient, identity=identity)
    if errors or pid is None:
        return _render(request, "clinic/enrol.html", {
            "user": user, "values": _values(form), "error": errors, **_vocabularies()}, status=422)
    try:
        eid = store.add_episode(user.actor, pid, episode)
    except SpinetrackError:
        log.exception("episode of new patient %s not stored", pid)
        return RedirectResponse(f"/clinic/patients/{pid}?notice=episode-not-saved", status_code=303)
    return RedirectResponse(f"/clinic/patients/{pid}?episode={eid}&notice=enrolled", status_code=303)
