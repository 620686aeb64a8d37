"""Enrolment: a new patient with identity and a first episode.

Routes
------
``GET  /clinic/enrol``, ``POST /clinic/enrol``            enrol a patient with a first episode

Everything is validated before anything is stored (identity, patient, then episode); the
patient and identity are stored in one transaction, the episode in the next. Should the episode
still fail (a database refusal), the patient page says so and offers the episode form.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from spinetrack import clock
from spinetrack.domain.pathway import EpisodeRecord, PatientRecord
from spinetrack.errors import ConflictError, SpinetrackError, ValidationError
from spinetrack.store.repositories import validate_identity
from spinetrack.web.deps import ClinicStaff, StoreDep
from spinetrack.web.routes.clinic_forms import (
    FormDep,
    _episode_data,
    _error,
    _identity_data,
    _patient_data,
    _render,
    _values,
    _vocabularies,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
log = logging.getLogger("spinetrack.web.enrol")


@router.get("/clinic/enrol")
def enrol_form(request: Request, user: ClinicStaff) -> Response:
    return _render(request, "clinic/enrol.html", {
        "user": user, "values": {"enrolled_on": clock.today().isoformat()}, "error": None, **_vocabularies()})


@router.post("/clinic/enrol")
def enrol_submit(request: Request, user: ClinicStaff, form: FormDep, store: StoreDep) -> Response:
    """Enrol a patient with identity and a first episode. Everything is validated before
    anything is stored (identity, patient, then episode); the patient and identity are stored in
    one transaction, the episode in the next. Should the episode still fail (a database
    refusal), the patient page says so and offers the episode form."""
    identity, patient = _identity_data(form), _patient_data(form)
    episode = _episode_data(form, clock.today())
    try:
        validate_identity(identity)
        PatientRecord.create({**patient, "pseudo_id": "ST-CHECK"})
        EpisodeRecord.create(episode)
        pid = store.add_patient(user.actor, user.site_id or 0, patient, identity=identity)
    except (ValidationError, ConflictError) as exc:
        return _render(request, "clinic/enrol.html", {
            "user": user, "values": _values(form), "error": _error(exc), **_vocabularies()}, status=422)
    try:
        eid = store.add_episode(user.actor, pid, episode)
    except SpinetrackError:
        log.exception("episode of new patient %s not stored", pid)
        return RedirectResponse(f"/clinic/patients/{pid}?notice=episode-not-saved", status_code=303)
    return RedirectResponse(f"/clinic/patients/{pid}?episode={eid}&notice=enrolled", status_code=303)
