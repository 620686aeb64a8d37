"""The clinic pages' forms: reading a submitted form into the records the store validates, the
vocabularies the forms offer, and how a refusal is shown at its field (split from ``clinic``)."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from spinetrack import instruments
from spinetrack.domain import (
    CATALOGUE,
    DIAGNOSES,
    ICD10CM_EDITION,
    AsaGrade,
    CentralStenosisGrade,
    ClavienDindo,
    ComplicationCategory,
    ConservativeOption,
    DiagnosisGroup,
    FindingKind,
    HerniationMorphology,
    HerniationZone,
    Level,
    MeyerdingGrade,
    PfirrmannGrade,
    ProcedureFamily,
    Sex,
    SmokingStatus,
    TreatmentArm,
    WorkStatus,
)
from spinetrack.domain.comparisons import APPROACHES
from spinetrack.domain.screening import (
    ANSWER_FIELDS,
)
from spinetrack.errors import SpinetrackError
from spinetrack.store.queries import (
    Queries,
)
from spinetrack.web import plots
from spinetrack.web.forms import FormErrors, check_episode, episode_order, input_name

__all__ = ["FormDep", "check_unused_rows", "episode_form", "finding_rows", "input_name"]

N_FINDINGS = 3  # imaging-finding rows on the forms (a row is used when its kind is chosen)
GRADE_FIELDS = ("morphology", "zone", "pfirrmann", "stenosis_grade", "meyerding")


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _queries(request: Request) -> Queries:
    return Queries(request.app.state.store)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, name, context, status_code=status)
    return response


# ---------------------------------------------------------------------------------- form parsing


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _number(form: FormData, name: str) -> Any:
    """A number from a form field: int or float; empty → None; anything else is passed on as
    text so that the domain refuses it naming the field ("not a number")."""
    value = _text(form, name)
    if value is None:
        return None
    if re.fullmatch(r"[+-]?\d{1,15}", value):
        return int(value)
    try:
        number = float(value.replace(",", ".")) if re.fullmatch(r"[+-]?\d*[.,]?\d+(e[+-]?\d+)?", value, re.I) else None
    except ValueError:  # pragma: no cover - the pattern admits only parseable text
        number = None
    return number if number is not None and math.isfinite(number) else value


def _yes_no(form: FormData, name: str) -> Any:
    value = _text(form, name)
    return {None: None, "yes": True, "no": False}.get(value, value)


def _list(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def _values(form: FormData) -> dict[str, Any]:
    """The submitted form for re-display: single values as text, repeated fields as lists."""
    out: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = items if len(items) > 1 or key in ("levels", "conservative_care", "instruments") else (
            items[0] if items else "")
    return out


def _identity_data(form: FormData) -> dict[str, Any]:
    return {name: _text(form, name) for name in ("full_name", "mrn", "email", "phone", "language")}


def _patient_data(form: FormData) -> dict[str, Any]:
    return {
        "birth_year": _number(form, "birth_year"), "sex": _text(form, "sex"), "bmi": _number(form, "bmi"),
        "smoking": _text(form, "smoking"), "diabetes": _yes_no(form, "diabetes"),
        "asa_grade": _number(form, "asa_grade"), "work_status": _text(form, "work_status"),
        "symptom_duration_weeks": _number(form, "symptom_duration_weeks"),
        "prior_spine_surgery": _yes_no(form, "prior_spine_surgery"),
    }


def _episode_data(form: FormData, today: dt.date) -> dict[str, Any]:
    findings = []
    for i in range(N_FINDINGS):
        kind = _text(form, f"finding{i}_kind")
        if kind is None:
            continue
        finding: dict[str, Any] = {"level": _text(form, f"finding{i}_level"), "kind": kind}
        for name in GRADE_FIELDS:
            value = _text(form, f"finding{i}_{name}")
            if value is not None:
                finding[name] = value
        findings.append(finding)
    return {
        "diagnosis_code": _text(form, "diagnosis_code"), "levels": _list(form, "levels"),
        "imaging_findings": findings, "conservative_care": _list(form, "conservative_care"),
        "conservative_care_weeks": _number(form, "conservative_care_weeks"),
        "treatment": _text(form, "treatment"), "treatment_family": _text(form, "treatment_family"),
        "enrolled_on": _text(form, "enrolled_on") or today.isoformat(), "index_date": _text(form, "index_date"),
    }


def _procedure_data(form: FormData) -> dict[str, Any]:
    return {
        "procedure_code": _text(form, "procedure_code"), "performed_on": _text(form, "performed_on"),
        "levels": _list(form, "levels"), "incision_mm": _number(form, "incision_mm"),
        "ebl_ml": _number(form, "ebl_ml"), "op_time_min": _number(form, "op_time_min"),
        "fluoro_s": _number(form, "fluoro_s"), "fluoro_dose_mgy": _number(form, "fluoro_dose_mgy"),
        "los_days": _number(form, "los_days"), "transfusion": _yes_no(form, "transfusion"),
        "surgeon": _text(form, "surgeon"),
    }


def _complication_data(form: FormData) -> dict[str, Any]:
    return {"category": _text(form, "category"), "clavien_dindo": _text(form, "clavien_dindo"),
            "occurred_on": _text(form, "occurred_on"), "detail": _text(form, "detail")}


def _screening_data(form: FormData) -> dict[str, Any]:
    """The screening form: one radio group per question (yes / no / unknown; none chosen →
    unknown) and the assessment date (empty → today, set by the store)."""
    return {**{name: _text(form, name) for name in ANSWER_FIELDS}, "assessed_on": _text(form, "assessed_on")}


def _error(exc: SpinetrackError) -> dict[str, Any]:
    """One refusal with the store's own wording (the forms not yet moved to
    :class:`~spinetrack.web.forms.FormErrors`, which words every problem plainly:
    ``forms.from_exception(exc, prefix)`` for one refusal)."""
    field = getattr(exc, "field", None)
    message = str(exc)
    if field and not message.startswith(field):
        message = f"{field}: {message}"
    return {"message": message, "field": field, "input": input_name(field)}


def episode_form(form: FormData, today: dt.date, prefix: str = "new-") -> tuple[dict[str, Any], FormErrors]:
    """The episode form read and checked whole: ``(episode, errors)``, every problem at once in
    the form's order (:func:`spinetrack.web.forms.check_episode`); ``prefix``: the prefix of the
    form's input ids on the page (the patient page's episode form uses ``new-``)."""
    episode = _episode_data(form, today)
    errors = FormErrors(prefix=prefix)
    check_episode(episode, errors, today, rows=finding_rows(form))
    check_unused_rows(form, errors)
    return episode, errors.sort(episode_order(N_FINDINGS))


def finding_rows(form: FormData) -> list[int]:
    """The rows of the imaging-finding table that :func:`_episode_data` reads (kind chosen)."""
    return [i for i in range(N_FINDINGS) if _text(form, f"finding{i}_kind") is not None]


def check_unused_rows(form: FormData, errors: FormErrors) -> None:
    """A finding row with a level or grade but no kind would be dropped silently: say so."""
    for i in range(N_FINDINGS):
        if _text(form, f"finding{i}_kind") is None and any(
                _text(form, f"finding{i}_{name}") for name in ("level", *GRADE_FIELDS)):
            errors.add(f"finding{i}_kind", f"Kind (finding {i + 1}): choose what the finding describes "
                                           "(or clear the row).")


def _vocabularies() -> dict[str, Any]:
    """Choices of the clinical forms, from the domain vocabularies."""
    vocab = {
        "diagnoses": sorted(DIAGNOSES.values(), key=lambda d: d.code), "icd_edition": ICD10CM_EDITION,
        "diagnosis_groups": [g.value for g in DiagnosisGroup], "levels": [lvl.value for lvl in Level],
        "sexes": [s.value for s in Sex], "smoking": [s.value for s in SmokingStatus],
        "asa_grades": [int(a) for a in AsaGrade], "work_statuses": [w.value for w in WorkStatus],
        "treatments": [t.value for t in TreatmentArm], "families": [f.value for f in ProcedureFamily],
        "conservative_options": [o.value for o in ConservativeOption],
        "finding_kinds": [k.value for k in FindingKind], "n_findings": N_FINDINGS,
        "grades": {"morphology": [m.value for m in HerniationMorphology], "zone": [z.value for z in HerniationZone],
                   "pfirrmann": [p.value for p in PfirrmannGrade],
                   "stenosis_grade": [g.value for g in CentralStenosisGrade],
                   "meyerding": [g.value for g in MeyerdingGrade]},
        "catalogue": list(CATALOGUE.values()),
        "complication_categories": [c.value for c in ComplicationCategory],
        "clavien_dindo": [g.value for g in ClavienDindo],
        "instruments": [(i.definition.code, i.definition.title) for i in instruments.all()],
        "default_instruments": list(instruments.listed(instruments.Listing.VISIT_DEFAULT)),
        "approaches": list(APPROACHES),
        "patient_languages": [("en", "English"), ("es", "Español")],
        "arm_labels": plots.ARM_LABELS,
    }
    return {**vocab, "vocab": vocab}


# ---------------------------------------------------------------------------------- patient list
