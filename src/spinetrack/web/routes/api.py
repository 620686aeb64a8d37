"""The REST API under ``/api/v1`` (JSON; OpenAPI at ``/openapi.json``).

Thin routes: parse the request, call one store / access / reads function with the caller as
:class:`~spinetrack.store.repositories.Actor`, return a ``*Public`` schema. Every rule (which
role may see what, which site, field validation) lives in the store; every error is a
:mod:`spinetrack.errors` exception that :mod:`spinetrack.web.errors` turns into a JSON 4xx
naming the field.

Who may call what:

* clinic staff (clinician, coordinator): patients, episodes, procedures, complications,
  readmissions, reoperations, invitations and PROM responses of their own site; another
  site's record answers 404 (its existence is not revealed);
* clinicians only (not coordinators): the red-flag screening of an episode of their own site,
  ``POST`` and ``GET /episodes/{id}/screening``. ``GET`` answers 200 with ``recorded: false``
  (every flag unknown, the criteria as far as the episode record allows) when no screening is
  recorded yet, rather than 404: the episode exists and "not screened" is itself the answer;
* any staff role: ``GET /status`` (counts only);
* researchers and clinic staff: ``GET /aggregates/outcomes`` (pseudonymised, small cells
  suppressed; researchers all sites, clinic staff their own);
* a patient, through the session opened from their invitation link: ``/visit…`` (their own
  visit and trajectory only).

Researchers and admins never receive patient-level data (403).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from spinetrack import instruments
from spinetrack.domain.screening import ScreeningResult
from spinetrack.errors import AuthenticationError, NotFoundError
from spinetrack.store import reads
from spinetrack.store import screening as screening_store
from spinetrack.store.access import Access, InvitationView, SessionUser
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.status import compute_status
from spinetrack.web import fastpath
from spinetrack.web.deps import (
    AccessDep,
    ClinicStaff,
    PatientSubmitter,
    PatientVisit,
    StaffUser,
    StoreDep,
    require_roles,
)
from spinetrack.web.schemas import (
    ComplicationCreate,
    ComplicationPublic,
    ComplicationsPublic,
    DraftCreate,
    DraftPublic,
    EpisodeCreate,
    EpisodePublic,
    EpisodesPublic,
    InstrumentScalePublic,
    InvitationCreate,
    InvitationCreatedPublic,
    InvitationsPublic,
    OutcomeAggregatesPublic,
    PatientCreate,
    PatientPublic,
    PatientsPublic,
    ProblemPublic,
    ProcedureCreate,
    ProcedurePublic,
    ProceduresPublic,
    PromResponseCreate,
    PromResponsePublic,
    PromResponsesPublic,
    QuestionnairePublic,
    ReadmissionCreate,
    ReadmissionPublic,
    ReoperationCreate,
    ReoperationPublic,
    ScreeningCreate,
    ScreeningPublic,
    StatusPublic,
    TrajectoryPublic,
    VisitPublic,
    VisitResponseCreate,
    VisitSubmissionPublic,
)
from spinetrack.web.schemas.records import EpisodeEndCreate
from spinetrack.web.security import PATIENT_COOKIE, check_csrf

__all__ = ["router"]

router = APIRouter()

V1 = "/api/v1"
_MAX_ID = 2_147_483_647  # the id columns are 32-bit integers
_NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot store or compare text holding NUL

PatientId = Annotated[int, Path(ge=1, le=_MAX_ID, description="Patient id.")]
EpisodeId = Annotated[int, Path(ge=1, le=_MAX_ID, description="Episode id.")]
InstrumentCode = Annotated[str, Path(max_length=32, description="Instrument code, e.g. odi.")]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=fastpath.KEY_MAX,
    description="Client-chosen key (e.g. a UUID) that makes a retried submission safe: the same key with the "
                "same payload returns the stored response (200) instead of storing a duplicate; with a "
                "different payload it is refused (409).")]

OutcomeReader = Annotated[SessionUser, Depends(require_roles("researcher", "clinician", "coordinator"))]
Clinician = Annotated[SessionUser, Depends(require_roles("clinician"))]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemPublic, "description": text} for code, text in (
        (401, "Not signed in, or missing CSRF token"), (403, "This role may not do this"),
        (404, "No such record (or not yours)"), (422, "A field was refused; the body names it"))}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ProblemPublic, "description": "Duplicate, or idempotency key reused with another payload"}}


async def _visit_or_closed(request: Request) -> InvitationView:
    """The patient session, also once its visit is complete (for a short grace period), so
    that a phone can still read its confirmation and trajectory, and replay a submission."""
    access: Access = request.app.state.access
    # A synchronous database call: off the event loop, as every other session lookup.
    view = await run_in_threadpool(access.resolve_patient_session, request.cookies.get(PATIENT_COOKIE),
                                   allow_completed=True)
    if view is None:
        raise AuthenticationError("this questionnaire link is no longer open; use the link from your clinic")
    await check_csrf(request, view.csrf_token)
    return view


VisitOrClosed = Annotated[InvitationView, Depends(_visit_or_closed)]


def _patient(store: Store, access: Access, actor: Actor, patient_id: int) -> PatientPublic:
    return PatientPublic.model_validate({**store.get_patient(actor, patient_id),
                                         "identity": access.get_identity(actor, patient_id)})


# ------------------------------------------------------------------------------ patients


@router.get(f"{V1}/patients", response_model=PatientsPublic, tags=["patients"], responses=_ERRORS)
def list_patients(
    user: ClinicStaff, access: AccessDep,
    q: Annotated[str | None, Query(max_length=200, pattern=_NO_NUL,
                                   description="Search name, hospital number or pseudonymous id.")] = None,
    diagnosis_group: Annotated[str | None, Query(max_length=64, pattern=_NO_NUL,
                                                 description="Diagnosis group code.")] = None,
    treatment: Annotated[str | None, Query(max_length=32, pattern=_NO_NUL,
                                           description="conservative, mis or open.")] = None,
    followup: Annotated[str | None, Query(max_length=16, pattern=_NO_NUL,
                                          description="due or overdue follow-up.")] = None,
    limit: Annotated[int, Query(description="1 to 500.")] = 50,
    offset: Annotated[int, Query(ge=0, le=_MAX_ID)] = 0,
) -> PatientsPublic:
    """Patients of your site (one row per patient and episode), newest first."""
    found = access.list_patients(user.actor, q=q, diagnosis_group=diagnosis_group, treatment=treatment,
                                 followup=followup, limit=limit, offset=offset)
    return PatientsPublic.model_validate({**found, "limit": limit, "offset": offset})


@router.post(f"{V1}/patients", response_model=PatientPublic, status_code=201, tags=["patients"],
             responses={**_ERRORS, **_CONFLICT})
def create_patient(body: PatientCreate, user: ClinicStaff, store: StoreDep, access: AccessDep) -> PatientPublic:
    """Enrol a patient at your site, with their identity kept apart from the clinical record."""
    identity = body.identity.data() if body.identity is not None else None
    pid = store.add_patient(user.actor, user.site_id or 0, body.data(), identity=identity)
    return _patient(store, access, user.actor, pid)


@router.get(f"{V1}/patients/{{patient_id}}", response_model=PatientPublic, tags=["patients"], responses=_ERRORS)
def get_patient(patient_id: PatientId, user: ClinicStaff, store: StoreDep, access: AccessDep) -> PatientPublic:
    """One patient with their identity (your site only)."""
    return _patient(store, access, user.actor, patient_id)


@router.get(f"{V1}/patients/{{patient_id}}/episodes", response_model=EpisodesPublic, tags=["episodes"],
            responses=_ERRORS)
def list_episodes(patient_id: PatientId, user: ClinicStaff, store: StoreDep) -> EpisodesPublic:
    items = reads.list_episodes(store, user.actor, patient_id)
    return EpisodesPublic.model_validate({"total": len(items), "items": items})


@router.post(f"{V1}/patients/{{patient_id}}/episodes", response_model=EpisodePublic, status_code=201,
             tags=["episodes"], responses=_ERRORS)
def create_episode(patient_id: PatientId, body: EpisodeCreate, user: ClinicStaff, store: StoreDep) -> EpisodePublic:
    """Open an episode of care: diagnosis, levels, imaging findings, treatment."""
    eid = store.add_episode(user.actor, patient_id, body.data())
    return EpisodePublic.model_validate(store.get_episode(user.actor, eid))


# ------------------------------------------------------------------------------ episodes


@router.get(f"{V1}/episodes/{{episode_id}}", response_model=EpisodePublic, tags=["episodes"], responses=_ERRORS)
def get_episode(episode_id: EpisodeId, user: ClinicStaff, store: StoreDep) -> EpisodePublic:
    return EpisodePublic.model_validate(store.get_episode(user.actor, episode_id))


@router.post(f"{V1}/episodes/{{episode_id}}/end", response_model=EpisodePublic, tags=["episodes"],
             responses={**_ERRORS, 409: {"model": ProblemPublic, "description": "The episode has ended already"}})
def end_episode(episode_id: EpisodeId, body: EpisodeEndCreate, user: ClinicStaff, store: StoreDep) -> EpisodePublic:
    """End the episode's follow-up (the patient died, withdrew, moved away, care moved elsewhere,
    other): no more invitations or reminders; its open and pending visits are stopped and their
    unsent messages cancelled at once. Answers the episode with ``ended_on`` and ``end_reason``."""
    d = body.data()
    store.end_episode(user.actor, episode_id, ended_on=d.get("ended_on"), reason=d.get("reason"))
    return EpisodePublic.model_validate(store.get_episode(user.actor, episode_id))


@router.post(f"{V1}/episodes/{{episode_id}}/procedures", response_model=ProcedurePublic, status_code=201,
             tags=["procedures"], responses=_ERRORS)
def create_procedure(episode_id: EpisodeId, body: ProcedureCreate, user: ClinicStaff, store: StoreDep
                     ) -> ProcedurePublic:
    """Record the procedure (MIS or open) with incision, blood loss, operative time,
    fluoroscopy and length of stay."""
    rid = store.add_procedure(user.actor, episode_id, body.data())
    return ProcedurePublic.model_validate(reads.get_child(store, user.actor, "procedure", rid))


@router.get(f"{V1}/episodes/{{episode_id}}/procedures", response_model=ProceduresPublic, tags=["procedures"],
            responses=_ERRORS)
def list_procedures(episode_id: EpisodeId, user: ClinicStaff, store: StoreDep) -> ProceduresPublic:
    items = reads.list_children(store, user.actor, "procedure", episode_id)
    return ProceduresPublic.model_validate({"total": len(items), "items": items})


@router.post(f"{V1}/episodes/{{episode_id}}/complications", response_model=ComplicationPublic, status_code=201,
             tags=["complications"], responses=_ERRORS)
def create_complication(episode_id: EpisodeId, body: ComplicationCreate, user: ClinicStaff, store: StoreDep
                        ) -> ComplicationPublic:
    """Record a complication with its Clavien–Dindo grade (needs a recorded procedure)."""
    rid = store.add_complication(user.actor, episode_id, body.data())
    return ComplicationPublic.model_validate(reads.get_child(store, user.actor, "complication", rid))


@router.get(f"{V1}/episodes/{{episode_id}}/complications", response_model=ComplicationsPublic,
            tags=["complications"], responses=_ERRORS)
def list_complications(episode_id: EpisodeId, user: ClinicStaff, store: StoreDep) -> ComplicationsPublic:
    items = reads.list_children(store, user.actor, "complication", episode_id)
    return ComplicationsPublic.model_validate({"total": len(items), "items": items})


@router.post(f"{V1}/episodes/{{episode_id}}/readmissions", response_model=ReadmissionPublic, status_code=201,
             tags=["readmissions"], responses=_ERRORS)
def create_readmission(episode_id: EpisodeId, body: ReadmissionCreate, user: ClinicStaff, store: StoreDep
                       ) -> ReadmissionPublic:
    rid = store.add_readmission(user.actor, episode_id, body.data())
    return ReadmissionPublic.model_validate(reads.get_child(store, user.actor, "readmission", rid))


@router.post(f"{V1}/episodes/{{episode_id}}/reoperations", response_model=ReoperationPublic, status_code=201,
             tags=["reoperations"], responses=_ERRORS)
def create_reoperation(episode_id: EpisodeId, body: ReoperationCreate, user: ClinicStaff, store: StoreDep
                       ) -> ReoperationPublic:
    rid = store.add_reoperation(user.actor, episode_id, body.data())
    return ReoperationPublic.model_validate(reads.get_child(store, user.actor, "reoperation", rid))


# ------------------------------------------------------------------------------ invitations


@router.post(f"{V1}/episodes/{{episode_id}}/invitations", response_model=InvitationCreatedPublic, status_code=201,
             tags=["invitations"], responses=_ERRORS)
def create_invitation(episode_id: EpisodeId, body: InvitationCreate, user: ClinicStaff, store: StoreDep,
                      access: AccessDep) -> InvitationCreatedPublic:
    """Create a patient's personal link for one visit. The token and the link path are in
    this response only (only the token's hash is stored). Only for a timepoint whose window is
    open, or opens within 28 days (the link then waits for it; ``expires_at`` counts from the
    opening day and never passes the window's last day); otherwise 422 naming
    ``invitation.timepoint``, the window's dates and the timepoints that may be invited today."""
    d = body.data()
    iid, token = access.create_invitation(user.actor, episode_id, timepoint=d["timepoint"],
                                          instrument_codes=d["instruments"], valid_days=d["valid_days"])
    return InvitationCreatedPublic.model_validate(
        {**reads.get_invitation(store, user.actor, iid), "token": token, "link": f"/p/{token}"})


@router.get(f"{V1}/episodes/{{episode_id}}/invitations", response_model=InvitationsPublic, tags=["invitations"],
            responses=_ERRORS)
def list_invitations(episode_id: EpisodeId, user: ClinicStaff, store: StoreDep) -> InvitationsPublic:
    """The episode's invitations and their status (never their tokens)."""
    items = reads.list_invitations(store, user.actor, episode_id)
    return InvitationsPublic.model_validate({"total": len(items), "items": items})


# ------------------------------------------------------------------------------ PROM responses


@router.post(f"{V1}/episodes/{{episode_id}}/responses", response_model=PromResponsePublic, status_code=201,
             tags=["responses"], responses={**_ERRORS, **_CONFLICT, 200: {
                 "model": PromResponsePublic, "description": "A replay under the same Idempotency-Key"}})
def submit_response(episode_id: EpisodeId, body: PromResponseCreate, response: Response, user: ClinicStaff,
                    store: StoreDep, idempotency_key: IdempotencyKey = None) -> PromResponsePublic:
    """Submit a PROM response: validated and scored by the instrument; answers and scores are
    stored in one transaction. Idempotent under ``Idempotency-Key``."""
    data = body.data()
    rid, created = reads.submit_idempotent(
        lambda key: store.submit_response(user.actor, episode_id, data, source="clinician", idempotency_key=key),
        store, user.actor, idempotency_key)
    response.status_code = 201 if created else 200
    return PromResponsePublic.model_validate(reads.get_child(store, user.actor, "prom_response", rid))


@router.get(f"{V1}/episodes/{{episode_id}}/responses", response_model=PromResponsesPublic, tags=["responses"],
            responses=_ERRORS)
def list_responses(episode_id: EpisodeId, user: ClinicStaff, store: StoreDep) -> PromResponsesPublic:
    items = store.list_responses(user.actor, episode_id)
    return PromResponsesPublic.model_validate({"total": len(items), "items": items})


# ------------------------------------------------------------------------------ red-flag screening


def _screening(episode_id: int, result: ScreeningResult) -> ScreeningPublic:
    return ScreeningPublic.model_validate({**result.as_dict(), "episode_id": episode_id})


@router.post(f"{V1}/episodes/{{episode_id}}/screening", response_model=ScreeningPublic, status_code=201,
             tags=["screening"], responses=_ERRORS)
def record_screening(episode_id: EpisodeId, body: ScreeningCreate, user: Clinician, store: StoreDep
                     ) -> ScreeningPublic:
    """Record a red-flag screening of the episode (clinicians only; the history is kept).

    Returns the episode's current screening after the write: normally the one just posted; an
    assessment dated before the newest one is kept in the history but the newer one stays
    current (see ``assessed_on``). Any red flag present: ``urgent``, the urgent-referral
    ``message`` and no candidacy ``criteria``."""
    screening_store.save_screening(store, user.actor, episode_id, body.data())
    return _screening(episode_id, screening_store.screen_episode(store, user.actor, episode_id))


@router.get(f"{V1}/episodes/{{episode_id}}/screening", response_model=ScreeningPublic, tags=["screening"],
            responses=_ERRORS)
def get_screening(episode_id: EpisodeId, user: Clinician, store: StoreDep) -> ScreeningPublic:
    """The episode's current red-flag screening and candidacy questions (clinicians only).
    Not screened yet: 200 with ``recorded: false``, every flag unknown and the criteria as far
    as the episode record allows."""
    return _screening(episode_id, screening_store.screen_episode(store, user.actor, episode_id))


# ------------------------------------------------------------------------------ status and aggregates


@router.get(f"{V1}/status", response_model=StatusPublic, tags=["status"], responses=_ERRORS)
def get_status(request: Request, user: StaffUser) -> StatusPublic:
    """Counts and follow-up completeness by timepoint (no patient-level data)."""
    return StatusPublic.model_validate(compute_status(request.app.state.engine))


@router.get(f"{V1}/aggregates/outcomes", response_model=OutcomeAggregatesPublic, tags=["aggregates"],
            responses=_ERRORS)
def outcome_aggregates(user: OutcomeReader, store: StoreDep) -> OutcomeAggregatesPublic:
    """Outcome scores per treatment × timepoint × instrument: n, mean, median and IQR; cells
    with fewer than 5 responses are suppressed. Researchers see all sites, clinic staff their own."""
    return OutcomeAggregatesPublic.model_validate(reads.outcome_aggregates(store, user.actor))


# ------------------------------------------------------------------------------ patient visit (phone)


@router.get(f"{V1}/visit", response_model=VisitPublic, tags=["visit"], responses=_ERRORS)
def get_visit(view: VisitOrClosed, store: StoreDep) -> VisitPublic:
    """The questionnaires of this visit: which are due and which are done."""
    visit = reads.get_visit(store, view.actor, view.invitation_id)
    return VisitPublic.model_validate({**visit, "csrf_token": view.csrf_token})


@router.get(f"{V1}/visit/questionnaires/{{instrument}}", response_model=QuestionnairePublic, tags=["visit"],
            responses=_ERRORS)
def get_questionnaire(instrument: InstrumentCode, view: PatientVisit, access: AccessDep) -> QuestionnairePublic:
    """One questionnaire of the visit: items and options, plus the answers saved so far."""
    if instrument not in view.instruments:
        raise NotFoundError(entity="questionnaire", key=instrument)
    return QuestionnairePublic(instrument=instrument, status="due" if instrument in view.due else "completed",
                               definition=instruments.get(instrument).definition.as_dict(),
                               draft=access.get_draft(view, instrument))


@router.put(f"{V1}/visit/drafts/{{instrument}}", response_model=DraftPublic, tags=["visit"], responses=_ERRORS)
def save_draft(instrument: InstrumentCode, body: DraftCreate, view: PatientVisit, access: AccessDep) -> DraftPublic:
    """Save the answers given so far (pause and resume); each value is checked as it comes."""
    access.save_draft(view, instrument, body.data()["answers"])
    return DraftPublic(instrument=instrument, answers=access.get_draft(view, instrument))


@router.post(f"{V1}/visit/responses", response_model=VisitSubmissionPublic, status_code=201, tags=["visit"],
             responses={**_ERRORS, **_CONFLICT, 200: {
                 "model": VisitSubmissionPublic, "description": "A replay under the same Idempotency-Key"}})
def submit_visit_response(body: VisitResponseCreate, response: Response, patient: PatientSubmitter,
                          access: AccessDep, idempotency_key: IdempotencyKey = None) -> VisitSubmissionPublic:
    """Submit one questionnaire of the visit. Idempotent under ``Idempotency-Key``: a phone
    that lost the answer may retry, even after its last questionnaire closed the visit.

    One transaction resolves the session, checks the CSRF token and the key, stores and scores
    the answers and spends the invitation when this was the last questionnaire.

    This declaration documents the route; requests are answered by the same work through
    :mod:`spinetrack.web.fastpath`, which the app puts ahead of it."""
    response.status_code, answer = fastpath.submit(access, patient, body, idempotency_key)
    return answer


@router.get(f"{V1}/visit/trajectory", response_model=TrajectoryPublic, tags=["visit"], responses=_ERRORS)
def get_trajectory(view: VisitOrClosed, store: StoreDep) -> TrajectoryPublic:
    """Your own scores over time, with each instrument's scale and minimal important change."""
    points = reads.patient_trajectory(store, view.actor, view.patient_id)
    codes = dict.fromkeys([*(p["instrument"] for p in points), *view.instruments])
    return TrajectoryPublic.model_validate(
        {"points": points, "scales": [InstrumentScalePublic.for_instrument(c) for c in codes]})
