"""The patient page's event forms: readmissions, reoperations, and correcting a stored record with a
reason (the old value is kept: :mod:`spinetrack.store.corrections`).

Every form is for the clinicians and coordinators of the patient's site (another site's patient or
episode is "not found", as on the rest of the page), carries the session's CSRF token (checked by
the role dependency), is audited by the store, and answers with a redirect to the patient page
(POST/redirect/GET). A refused form is shown again with every problem beside its field at once
(each field is checked on its own by the domain rules, then the whole record) and what was typed.

Routes
------
``POST /clinic/patients/{id}/episodes/{eid}/readmissions``   record a readmission
``POST /clinic/patients/{id}/episodes/{eid}/reoperations``   record a reoperation
``POST /clinic/patients/{id}/corrections``                   correct one field of a record, with a reason
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from spinetrack import clock
from spinetrack.domain.pathway import ReadmissionRecord, ReoperationRecord
from spinetrack.errors import ConflictError, SpinetrackError, ValidationError
from spinetrack.store import corrections
from spinetrack.web.deps import ClinicStaff, StoreDep
from spinetrack.web.routes.clinic import _check_episode, _patient_page
from spinetrack.web.routes.clinic_forms import FormDep, _list, _number, _text, _values, _yes_no, input_name

__all__ = ["collect_errors", "router"]

router = APIRouter(include_in_schema=False)

Errors = dict[str, str]


def _message(exc: SpinetrackError) -> str:
    """The store's message without the dotted field prefix (the message sits beside its field)."""
    field = getattr(exc, "field", None)
    text = str(exc)
    if field and text.startswith(field):
        text = text[len(field):].lstrip(": ")
    return text[:1].upper() + text[1:] if text else text


def collect_errors(create: Callable[[Mapping[str, Any]], Any], data: Mapping[str, Any],
                   good: Mapping[str, Any]) -> Errors:
    """Every problem of ``data`` at once, as {form input: message}: each field is checked with the
    others set to a valid ``good`` value, then the whole record (rules across fields)."""
    errors: Errors = {}
    for name, value in data.items():
        try:
            create({**good, name: value})
        except ValidationError as exc:
            errors.setdefault(input_name(exc.field) or name, _message(exc))
    if not errors:
        try:
            create(data)
        except ValidationError as exc:
            errors[input_name(exc.field) or "form"] = _message(exc)
    return errors


def _index_date(episode: Mapping[str, Any]) -> dt.date | None:
    value = episode.get("index_date")
    return value if isinstance(value, dt.date) else None


def _refused(request: Request, user: Any, patient_id: int, episode_id: int | None, key: str, errors: Errors,
             form: FormData, status: int = 422) -> Response:
    return _patient_page(request, user, patient_id, episode_id=episode_id, status=status,
                         errors={key: {"fields": errors, "message": next(iter(errors.values()))}},
                         values={key: _values(form)})


def _store_event(request: Request, user: Any, patient_id: int, episode_id: int, form: FormData, kind: str,
                 errors: Errors, save: Callable[[], Any]) -> Response:
    """Store the event when no problem was found (the store checks it again, in its transaction),
    then redirect to the page; else show the form again with every problem."""
    if not errors:
        try:
            save()
        except (ValidationError, ConflictError) as exc:
            errors = {input_name(getattr(exc, "field", None)) or "form": _message(exc)}
    if errors:
        return _refused(request, user, patient_id, episode_id, kind, errors, form)
    return RedirectResponse(
        f"/clinic/patients/{patient_id}?episode={episode_id}&notice={kind}-saved#events", status_code=303)


@router.post("/clinic/patients/{patient_id}/episodes/{episode_id}/readmissions")
def add_readmission(request: Request, patient_id: int, episode_id: int, user: ClinicStaff, form: FormDep,
                    store: StoreDep) -> Response:
    episode = _check_episode(request, user, patient_id, episode_id)
    data = {"admitted_on": _text(form, "admitted_on"), "reason": _text(form, "reason")}
    index = _index_date(episode)
    errors = collect_errors(lambda d: ReadmissionRecord.create(d, performed_on=index), data,
                            {"admitted_on": (index or clock.today()).isoformat(), "reason": None})
    return _store_event(request, user, patient_id, episode_id, form, "readmission", errors,
                        lambda: store.add_readmission(user.actor, episode_id, data))


@router.post("/clinic/patients/{patient_id}/episodes/{episode_id}/reoperations")
def add_reoperation(request: Request, patient_id: int, episode_id: int, user: ClinicStaff, form: FormDep,
                    store: StoreDep) -> Response:
    episode = _check_episode(request, user, patient_id, episode_id)
    data: dict[str, Any] = {"performed_on": _text(form, "performed_on"), "reason": _text(form, "reason"),
                            "levels": _list(form, "levels")}
    index = _index_date(episode)
    errors = collect_errors(lambda d: ReoperationRecord.create(d, index_date=index), data,
                            {"performed_on": clock.today().isoformat(), "reason": "other", "levels": []})
    allowed = [x for x in (episode.get("levels") or "").split(",") if x]
    outside = [x for x in data["levels"] if x not in allowed]
    if outside and "levels" not in errors:
        errors["levels"] = f"{outside[0]} is not one of this episode's levels ({', '.join(allowed)})"
    return _store_event(request, user, patient_id, episode_id, form, "reoperation", errors,
                        lambda: store.add_reoperation(user.actor, episode_id, data))


# ---------------------------------------------------------------------------------- corrections

_BOOLEAN_FIELDS = ("converted_to_open", "transfusion")
_NUMBER_FIELDS = ("incision_mm", "ebl_ml", "op_time_min", "fluoro_s", "fluoro_dose_mgy", "los_days")


def _new_value(form: FormData, field: str | None) -> Any:
    """The corrected value as the domain takes it: yes/no as a boolean, numbers as numbers,
    levels as a list, anything else as text (empty: none)."""
    if field in _BOOLEAN_FIELDS:
        return _yes_no(form, "new_value")
    if field in _NUMBER_FIELDS:
        return _number(form, "new_value")
    if field == "levels":
        return _list(form, "new_levels") or _text(form, "new_value")
    return _text(form, "new_value")


@router.post("/clinic/patients/{patient_id}/corrections")
def correct_record(request: Request, patient_id: int, user: ClinicStaff, form: FormDep, store: StoreDep
                   ) -> Response:
    """Correct one field of a record (entity, entity_id, field, new_value, reason): the record
    takes the new value, the old one is kept in ``corrections`` and the audit log."""
    store.get_patient(user.actor, patient_id)  # another site's or an unknown patient: 404 before the form is judged
    entity, field = _text(form, "entity"), _text(form, "field")
    entity_id = _number(form, "entity_id")
    episode = _number(form, "episode")
    shown = episode if isinstance(episode, int) and 1 <= episode <= 2_147_483_647 else None
    errors: Errors = {}
    if not _text(form, "reason"):
        errors["reason"] = "Please give the reason for the correction (for example: typing error in the notes)."
    if not isinstance(entity_id, int) or not 1 <= entity_id <= 2_147_483_647:
        errors["entity_id"] = "The record to correct is missing; open the correction form from the record's row."
    if entity not in corrections.CORRECTABLE:
        errors["entity"] = f"Records that can be corrected: {', '.join(corrections.CORRECTABLE)}."
    elif field not in corrections.CORRECTABLE[entity]:
        errors["field"] = f"Choose what to correct: {', '.join(corrections.CORRECTABLE[entity])}."
    for key in ("entity", "entity_id"):  # no record's form to show the problem on: the error page says it
        if key in errors:
            raise ValidationError(field=f"correction.{key}", value=str(form.get(key) or "")[:40],
                                  allowed=(", ".join(corrections.CORRECTABLE) if key == "entity"
                                           else "the number of a record on this page"), reason=errors[key])
    if not errors:
        assert entity is not None and field is not None and isinstance(entity_id, int)
        try:
            corrections.correct(store, user.actor, entity, entity_id, field, _new_value(form, field),
                                _text(form, "reason"), patient_id=patient_id)
        except (ValidationError, ConflictError) as exc:
            name = input_name(getattr(exc, "field", None))
            errors["reason" if name == "reason" else "new_value"] = _message(exc)
    if errors:
        return _refused(request, user, patient_id, shown, "correction", errors, form)
    anchor = {"procedure": "procedure", "episode": "summary"}.get(entity or "", "events")
    query = f"?episode={shown}&notice=corrected" if shown else "?notice=corrected"
    return RedirectResponse(f"/clinic/patients/{patient_id}{query}#{anchor}", status_code=303)
