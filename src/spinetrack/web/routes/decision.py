"""Decision support pages and API: the patient decision aid and the clinician's view of the
same numbers, for one patient.

Clinic pages: clinicians only (coordinators, researchers and admins are refused with 403; no
session: the sign-in page, or 401 on the API); the clinician opens the patient version with the
patient, on a screen, on paper or as a PDF. The patient opens their own aid from their home
(``/p/home/decision-aid``, once the clinician released it: :func:`home_aid_page`), weighs what
matters most to them there (IPDAS values clarification, ``store.preferences``) and takes a PDF
home in their language. The clinician sees the patient's newest weights on both clinic pages.

Every page calls one function, ``spinetrack.predict.decision.build_decision_support`` (imported
when a page is asked for), which checks that the patient belongs to the clinician's site (another
site's patient, or an unknown id: 404), audits its reads, and returns the decision-support
document of the patient's most recent episode (``?episode=`` names another);
:mod:`spinetrack.reports.decision_aid` turns it into words, icon arrays and the PDF.
Nothing is computed here.

Routes
------
``GET /clinic/patients/{id}/decision-aid``       the patient version (plain language, large type,
                                                  phone first, prints on A4)
``GET /clinic/patients/{id}/decision-aid.pdf``   the patient version as a PDF download
``GET /clinic/patients/{id}/decision-support``   the clinician version: numbers with intervals and
                                                  sources, model performance, red flags and criteria
``GET /api/v1/patients/{id}/decision-support``   the document as JSON (:class:`DecisionSupportPublic`)
``POST /p/home/decision-aid/preferences``        the patient's "what matters most" (home session, CSRF)
``GET /p/home/decision-aid.pdf``                 the patient's take-home PDF, in their language

Safety: with a red flag present both versions show the urgent message only; without a complete
red-flag screening the patient version shows only that the screening comes first, and the
clinician version warns above the numbers.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from spinetrack import i18n
from spinetrack.domain.preferences import FACTORS, LEVELS, MAX_WEIGHT
from spinetrack.errors import NotFoundError
from spinetrack.reports import decision_aid
from spinetrack.reports import decision_support as clinician_view
from spinetrack.store.access import SessionUser
from spinetrack.store.home import HomeView
from spinetrack.store.patient_frame import patient_frame
from spinetrack.store.preferences import Preferences, current_preferences, save_preferences
from spinetrack.store.repositories import Actor
from spinetrack.web.deps import require_roles
from spinetrack.web.schemas import ProblemPublic

__all__ = ["DecisionSupportPublic", "router"]

router = APIRouter()

Clinician = Annotated[SessionUser, Depends(require_roles("clinician"))]
PatientId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Patient id.")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemPublic, "description": text} for code, text in (
        (401, "Not signed in"), (403, "Clinicians only"), (404, "No such patient (or not of your site)"))}


# ---------------------------------------------------------------------------------- response model


class _Model(BaseModel):
    # The document may carry more than the fields documented here (the patient profile, notes,
    # model titles …): they are passed through as they are, never refused.
    model_config = ConfigDict(extra="allow")


class DecisionPatientPublic(_Model):
    id: int
    pseudo_id: str
    age: int | None = Field(description="Age in years on the day the document was made.")
    sex: str | None


class DecisionEpisodePublic(_Model):
    id: int
    diagnosis_code: str = Field(description="ICD-10-CM code, e.g. M51.16.")
    diagnosis_group: str
    diagnosis_label: str
    levels: str = Field(description="Spinal levels, comma-separated, e.g. L4-L5.")
    family: str | None = Field(description="Procedure family the surgical options refer to (discectomy, "
                                            "decompression, fusion), or null.")
    age_at_baseline: int | None = Field(None, description="Age in the year of the episode's baseline (index date, or "
                                                          "enrolment before treatment): the age the predictions use.")
    baseline_date: dt.date | None = Field(None, description="The date the predictors describe.")


class DecisionRedFlagPublic(_Model):
    flag: str
    label: str
    status: Literal["present", "absent", "unknown"]
    citation: str | None


class DecisionCriterionPublic(_Model):
    key: str
    question: str = Field(description="A question for the clinician, in spinetrack's words.")
    status: Literal["met", "not_met", "unknown"]
    detail: str | None
    citation: str | None


class DecisionScreeningPublic(_Model):
    recorded: bool = Field(description="False: no red-flag screening recorded for the episode.")
    assessed_on: dt.date | None
    urgent: bool = Field(description="A red flag is present: options, outcomes and models are empty.")
    message: str | None = Field(description="The urgent-referral message when urgent.")
    red_flags: list[DecisionRedFlagPublic]
    unanswered: list[str] = Field(description="Red-flag questions not answered yet.")
    criteria: list[DecisionCriterionPublic]


class DecisionOptionPublic(_Model):
    key: Literal["conservative", "mis", "open"]
    label: str
    available: bool
    reason: str | None = Field(description="Why the option is not available, or null.")


class DecisionEstimatePublic(_Model):
    estimate: float | None
    ci_low: float | None = Field(description="Lower end of the 95% confidence interval of the expected value for "
                                             "patients like this one.")
    ci_high: float | None = Field(description="Upper end of the 95% confidence interval of the expected value.")
    pi_low: float | None = Field(None, description="Lower end of the prediction interval: the range of one patient's "
                                                   "result (pi_level of patients like this one); null for "
                                                   "probabilities.")
    pi_high: float | None = Field(None, description="Upper end of the prediction interval; null with pi_beyond_days "
                                                    "when it lies beyond the longest follow-up of the data.")
    pi_level: float | None = Field(None, description="Share of patients within the prediction interval (0.9).")
    pi_beyond_days: float | None = Field(None, description="The longest follow-up (days) that the prediction "
                                                           "interval's upper end exceeds, or null.")
    uses_baseline_scores: bool | None = Field(None, description="False: the patient's own baseline ODI/NRS scores "
                                                                "were not recorded and not used (a less personal "
                                                                "estimate).")
    source: Literal["clinic", "literature", "none"] = Field(
        description="clinic: this registry's model, adjusted to the patient; literature: a published figure for "
                    "an average patient, not adjusted; none: no estimate.")
    n_patients: int | None = Field(description="Patients the model was fitted on (clinic source).")
    model_id: str | None
    citation: str | None = Field(description="The study behind a literature figure.")
    note: str | None


class DecisionOutcomePublic(_Model):
    key: str = Field(description="e.g. odi_mcid_12m, odi_12m, nrs_leg_12m, nrs_back_12m, los_days, "
                                 "any_complication, return_to_activity_days, reoperation_2y.")
    label: str
    kind: Literal["probability", "mean", "median_days"]
    unit: str = Field(description="proportion, ODI points (0-100), NRS points (0-10) or days.")
    better: Literal["higher", "lower"]
    mixed_sources: bool = Field(False, description="True when this row's cells come from different sources (the "
                                                   "clinic's model for some options, published studies for others).")
    sources_note: str | None = Field(None, description="What the sources of a mixed row are.")
    by_option: dict[str, DecisionEstimatePublic] = Field(
        description="Option key → estimate; an option left out does not apply (e.g. hospital stay without surgery).")


class DecisionModelPublic(_Model):
    model_id: str
    outcome: str
    n_patients: int | None
    c_statistic: float | None
    c_statistic_corrected: float | None = Field(description="Optimism-corrected (bootstrap) C-statistic.")
    calibration_intercept: float | None
    calibration_slope: float | None
    calibration_slope_corrected: float | None
    brier: float | None
    r2: float | None
    rmse: float | None
    reliability_svg: str | None = Field(description="Reliability (calibration) diagram as an SVG document.")


class DecisionSupportPublic(_Model):
    """One patient's decision support: red-flag screening, the treatment options and the
    expected outcomes of each with 95% confidence intervals, prediction intervals for one
    patient and their source, and model performance."""

    patient: DecisionPatientPublic
    generated_on: dt.date
    episode: DecisionEpisodePublic | None
    screening: DecisionScreeningPublic
    options: list[DecisionOptionPublic]
    outcomes: list[DecisionOutcomePublic]
    models: list[DecisionModelPublic]
    sources: list[str]
    synthetic_data: bool = Field(description="True when the numbers come from synthetic (demo) data.")
    baseline_scores_missing: list[str] = Field(default_factory=list, description="Baseline scores not recorded "
                                               "(odi_pct, nrs_back, nrs_leg): the estimates do not use them.")


# ---------------------------------------------------------------------------------- routes


EpisodeQuery = Annotated[int | None, Query(ge=1, le=2_147_483_647,
                                           description="Episode id; default: the patient's most recent episode.")]


def _document(request: Request, user: SessionUser, patient_id: int, episode: int | None) -> dict[str, Any]:
    """The decision-support document of the builder, which authorises (another site's patient:
    404) and audits its reads through the store. Models are read from ``settings.models_dir``."""
    from spinetrack.predict.decision import build_decision_support

    settings = request.app.state.settings
    doc: dict[str, Any] = build_decision_support(request.app.state.store, user.actor, patient_id,
                                                 models_dir=getattr(settings, "models_dir", None), episode_id=episode)
    return doc


LangQuery = Annotated[str | None, Query(max_length=8, description="Language of the PDF (en or es); default: the "
                                                                  "patient's recorded language.")]


def _clinic_preferences(request: Request, user: SessionUser, doc: dict[str, Any]) -> Preferences | None:
    """The patient's newest "what matters most" weights for the document's episode (audited
    read; none when the aid shows no options)."""
    episode = doc.get("episode") or {}
    if not episode.get("id") or not doc.get("options"):
        return None
    return current_preferences(request.app.state.store, user.actor, int(episode["id"]))


def _date(prefs: Preferences | None, language: str) -> str | None:
    if prefs is None:
        return None
    with i18n.use_locale(language):
        return i18n.format_date(prefs.recorded_at, "long")


def _prefs_html(aid: decision_aid.PatientAid, prefs: Preferences | None) -> str:
    if aid.state != "ready":
        return ""
    return decision_aid.render_preferences(prefs.weights if prefs else None,
                                           recorded_on=_date(prefs, i18n.get_locale()))


def _render(request: Request, name: str, context: dict[str, Any]) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(request, name, context)
    return response


@router.get("/clinic/patients/{patient_id}/decision-aid", include_in_schema=False)
def patient_version(request: Request, patient_id: PatientId, user: Clinician, episode: EpisodeQuery = None
                    ) -> Response:
    """The patient version, to go through with the patient."""
    doc = _document(request, user, patient_id, episode)
    aid = decision_aid.build_patient_aid(doc)
    prefs = _clinic_preferences(request, user, doc)
    return _render(request, "decision/aid.html", {
        "user": user, "patient_id": patient_id, "aid": aid,
        "body": decision_aid.render_patient_body(aid, preferences=_prefs_html(aid, prefs)),
        "query": f"?episode={episode}" if episode else ""})


@router.get("/clinic/patients/{patient_id}/decision-aid.pdf", include_in_schema=False)
def patient_version_pdf(request: Request, patient_id: PatientId, user: Clinician, episode: EpisodeQuery = None,
                        lang: LangQuery = None) -> Response:
    """The patient version as a PDF (A4) to take home."""
    doc = _document(request, user, patient_id, episode)
    prefs = _clinic_preferences(request, user, doc)
    # in the patient's recorded language unless the clinician asked for another (?lang=)
    language = i18n.normalise(lang) if lang else None
    if language is None:
        frame = patient_frame(request.app.state.store, Actor(user.actor.name, user.actor.role, user.actor.site_id,
                                                             patient_id))
        language = frame.language or i18n.get_locale()
    pdf = decision_aid.render_decision_aid_pdf(doc, language=language, preferences=prefs.weights if prefs else None,
                                               preferences_on=_date(prefs, language))
    pseudo = re.sub(r"[^A-Za-z0-9_-]+", "-", str((doc.get("patient") or {}).get("pseudo_id") or patient_id))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="decision-aid-{pseudo}.pdf"'})


@router.get("/clinic/patients/{patient_id}/decision-support", include_in_schema=False)
def clinician_version(request: Request, patient_id: PatientId, user: Clinician, episode: EpisodeQuery = None
                      ) -> Response:
    """The clinician version: every number with its interval and source, the models, the
    red flags and the guideline criteria."""
    doc = _document(request, user, patient_id, episode)
    prefs = _clinic_preferences(request, user, doc)
    return _render(request, "decision/support.html", {
        "user": user, "patient_id": patient_id, "doc": doc, "view": clinician_view.build_clinician_view(doc),
        "preferences": prefs, "factors": FACTORS, "levels": dict(LEVELS),
        "preferences_on": _date(prefs, i18n.get_locale()),
        "query": f"?episode={episode}" if episode else ""})


@router.get("/api/v1/patients/{patient_id}/decision-support", response_model=DecisionSupportPublic,
            tags=["decision support"], responses=_ERRORS)
def decision_support(request: Request, patient_id: PatientId, user: Clinician, episode: EpisodeQuery = None
                     ) -> DecisionSupportPublic:
    """One patient's decision support (clinicians only, your site): red-flag screening, options,
    expected outcomes per option with 95% intervals and sources, model performance. With a red
    flag present, options, outcomes and models are empty."""
    return DecisionSupportPublic.model_validate(_document(request, user, patient_id, episode))


# ---------------------------------------------------------------------------------- the patient's own aid


def _home_document(request: Request, view: HomeView) -> dict[str, Any]:
    from spinetrack.predict.decision import build_decision_support

    settings = request.app.state.settings
    doc: dict[str, Any] = build_decision_support(request.app.state.store, view.actor, view.patient_id,
                                                 models_dir=getattr(settings, "models_dir", None),
                                                 episode_id=view.episode_id)
    return doc


def _released(request: Request, view: HomeView) -> None:
    if not request.app.state.access.home_content(view).decision_aid:
        raise NotFoundError(entity="decision aid", key=view.episode_id)


def home_aid_page(request: Request, view: HomeView, *, typed: dict[str, str] | None = None,
                  error: str | None = None, status_code: int = 200) -> Response:
    """The patient's own decision aid (the caller checked it is released): the summary, the
    "what matters most to you" form (nothing pre-selected but what the patient chose before;
    ``typed``/``error``: a refused form shown again with what was chosen and why), the details,
    and the take-home PDF, all in the patient's language."""
    from spinetrack.web.routes.patient import render_patient, speak_to

    speak_to(request, view)
    doc = _home_document(request, view)
    aid = decision_aid.build_patient_aid(doc)
    prefs = current_preferences(request.app.state.store, view.actor, view.episode_id) if aid.state == "ready" \
        else None
    chosen = typed if typed is not None else {k: str(v) for k, v in (prefs.weights if prefs else {}).items()}
    form = {"factors": [(f.key, i18n.gettext(f.label), i18n.gettext(f.hint)) for f in FACTORS],
            "levels": [(str(v), i18n.gettext(label)) for v, label in LEVELS], "chosen": chosen,
            "error": error, "csrf": view.csrf_token, "saved": request.query_params.get("saved") == "1",
            "recorded_on": _date(prefs, i18n.get_locale())}
    form["do_not_change"] = i18n.gettext(decision_aid.WEIGHTS_DO_NOT_CHANGE)
    step = request.app.state.templates.get_template("decision/_aid_prefs_form.html").render(form=form) \
        if aid.state == "ready" else ""
    return render_patient(request, "patient/home_aid.html", {
        "aid": aid, "body": decision_aid.render_patient_body(aid, preferences=step)}, status_code)


@router.get("/p/home/decision-aid", include_in_schema=False)
def home_decision_aid(request: Request) -> Response:
    """The patient's own decision aid (their episode only), once released by the clinician. Here
    rather than in :mod:`~spinetrack.web.routes.patient_home`, which must not import this module
    (no import cycles between the route modules)."""
    from spinetrack.web.routes.patient_home import HOME_COOKIE, _closed

    view = request.app.state.access.resolve_home_session(request.cookies.get(HOME_COOKIE))
    if view is None:
        return _closed(request)
    _released(request, view)
    return home_aid_page(request, view)


@router.post("/p/home/decision-aid/preferences", include_in_schema=False)
async def home_save_preferences(request: Request) -> Response:
    """Save what matters most to the patient (their home session; CSRF checked), then show the
    aid again. A refused form is shown again with the patient's choices and the reason."""
    from starlette.concurrency import run_in_threadpool

    from spinetrack.errors import ValidationError
    from spinetrack.web.routes.patient_home import _home_session

    view = await _home_session(request)
    form = await request.form()
    weights = {f.key: str(form.get(f.key)) for f in FACTORS if form.get(f.key) not in (None, "")}
    await run_in_threadpool(_released, request, view)
    try:
        await run_in_threadpool(save_preferences, request.app.state.store, view.actor, view.episode_id, weights)
    except ValidationError as exc:
        factor_names = {f.key: f.label for f in FACTORS}
        key = exc.field.removeprefix("preferences.")

        def again() -> Response:
            from spinetrack.web.routes.patient import speak_to

            speak_to(request, view)
            if key in factor_names:
                message = i18n.gettext("Please choose one of the answers from 0 to %(top)s for: %(factor)s.",
                                       top=MAX_WEIGHT, factor=i18n.gettext(factor_names[key]))
            else:
                message = i18n.gettext("Please choose an answer for at least one of the questions.")
            return home_aid_page(request, view, typed=weights, error=message, status_code=400)

        return await run_in_threadpool(again)
    return RedirectResponse("/p/home/decision-aid?saved=1#aid-prefs", status_code=303)


@router.get("/p/home/decision-aid.pdf", include_in_schema=False)
def home_aid_pdf(request: Request) -> Response:
    """The patient's take-home copy: the aid as a PDF in the patient's language, with what
    matters most to them as they chose it."""
    from spinetrack.web.routes.patient import speak_to
    from spinetrack.web.routes.patient_home import HOME_COOKIE

    view = request.app.state.access.resolve_home_session(request.cookies.get(HOME_COOKIE))
    if view is None:
        from spinetrack.errors import AuthenticationError
        from spinetrack.web.routes.patient_home import HOME_CLOSED

        raise AuthenticationError(HOME_CLOSED)
    _released(request, view)
    speak_to(request, view)
    doc = _home_document(request, view)
    prefs = current_preferences(request.app.state.store, view.actor, view.episode_id)
    language = i18n.get_locale()
    pdf = decision_aid.render_decision_aid_pdf(doc, language=language, preferences=prefs.weights if prefs else None,
                                               preferences_on=_date(prefs, language))
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", i18n.gettext("decision-aid"))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})
