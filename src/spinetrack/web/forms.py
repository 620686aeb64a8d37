"""Form errors that help: every problem of a submitted form at once, each in plain words beside
its field, the form keeping what was typed.

The domain validates one record at a time and stops at the first refused field
(:class:`~spinetrack.errors.ValidationError`, e.g. ``episode.imaging_findings[0].stenosis_grade:
None is not allowed; allowed: A, B, C, D``). A form needs all of them, worded for a clinician.
So each part of a form is checked field by field with the domain's own ``create`` methods (the
field under test on a record whose other fields are known to be valid: no rule is written twice),
then the whole record is checked for the rules between fields. :class:`FormErrors` gathers the
problems as ``{input name: message}``; :func:`plain_message` words one refusal ("Stenosis grade:
choose A, B, C or D (Schizas)").

Use in a route::

    errors = FormErrors()
    patient = errors.check_fields(PatientRecord.create, PATIENT_BASE, data)
    if errors:
        return render(..., {"error": errors, "values": form_values})

and in a template (``templates/clinic/_forms.html``, imported ``with context``)::

    {{ f.error_box(error) }}           the summary: role=alert, one link per problem
    {{ f.text('mrn', 'Hospital number', v.mrn, error) }}   the message beside the field

A :class:`FormErrors` made with ``prefix`` links the summary to inputs whose ids carry that
prefix (two forms on one page).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from spinetrack import clock
from spinetrack.domain._validate import EARLIEST_DATE
from spinetrack.domain.diagnosis import _FINDING_FIELDS, _GRADE_ENUMS, FindingKind, ImagingFinding, Level
from spinetrack.domain.pathway import EpisodeRecord, PatientRecord
from spinetrack.errors import ConflictError, SpinetrackError, ValidationError
from spinetrack.store.repositories import validate_identity

__all__ = [
    "FIELD_LABELS",
    "FormErrors",
    "check_enrolment",
    "check_episode",
    "input_name",
    "plain_message",
]

# The label of each form input (as the form shows it) and, where it helps, what the allowed
# values mean. The finding rows' inputs ``finding{i}_{name}`` use ``name``'s entry.
FIELD_LABELS: dict[str, str] = {
    "full_name": "Full name", "mrn": "Hospital number", "email": "E-mail", "phone": "Phone",
    "language": "Patient's language",
    "birth_year": "Year of birth", "sex": "Sex", "bmi": "BMI", "smoking": "Smoking", "diabetes": "Diabetes",
    "asa_grade": "ASA physical status", "work_status": "Work status",
    "symptom_duration_weeks": "Symptom duration", "prior_spine_surgery": "Prior spine surgery",
    "diagnosis_code": "Diagnosis", "levels": "Levels", "enrolled_on": "Enrolled on",
    "conservative_care": "Conservative care tried", "conservative_care_weeks": "Conservative care (weeks)",
    "treatment": "Treatment chosen", "treatment_family": "Procedure family", "index_date": "Index date",
    "level": "Level", "kind": "Kind", "morphology": "Morphology", "zone": "Zone",
    "pfirrmann": "Pfirrmann grade", "stenosis_grade": "Stenosis grade", "meyerding": "Meyerding grade",
    "procedure_code": "Procedure", "performed_on": "Date of operation", "incision_mm": "Incision",
    "ebl_ml": "Blood loss", "op_time_min": "Operative time", "fluoro_s": "Fluoroscopy time",
    "fluoro_dose_mgy": "Fluoroscopy dose", "los_days": "Length of stay", "transfusion": "Transfusion",
    "category": "Category", "clavien_dindo": "Clavien-Dindo grade", "occurred_on": "Date", "detail": "Detail",
    "username": "User name", "display_name": "Display name", "role": "Role", "site_id": "Site",
    "code": "Code", "name": "Name", "country": "Country",
}

# The source of a grading scale, named after the allowed values.
_SCALES = {"stenosis_grade": "Schizas", "pfirrmann": "Pfirrmann", "meyerding": "Meyerding",
           "morphology": "lumbar disc nomenclature 2.0", "zone": "lumbar disc nomenclature 2.0",
           "asa_grade": "ASA", "clavien_dindo": "Clavien-Dindo"}

# Value labels where the code is not plain enough.
_VALUE_LABELS = {"mis": "MIS surgery", "open": "open surgery", "conservative": "conservative care",
                 "yes": "yes", "no": "no", "en": "English", "es": "Español"}

_MULTI = frozenset({"levels", "conservative_care", "instruments"})  # checkbox groups
_FINDING = re.compile(r"finding(\d+)_(\w+)")


def input_name(field: str | None) -> str | None:
    """The form input a store field name points at: ``patient.bmi`` → ``bmi``,
    ``episode.imaging_findings[1].zone`` → ``finding1_zone``, ``invitation.instruments`` →
    ``instruments``."""
    if not field:
        return None
    m = re.fullmatch(r"episode\.imaging_findings\[(\d+)\]\.(\w+)", field)
    if m:
        return f"finding{m.group(1)}_{m.group(2)}"
    if field.startswith("episode.imaging_findings"):
        return "finding0_level"
    return field.rsplit(".", 1)[-1]


def label_of(name: str) -> str:
    """The label of a form input: ``finding0_stenosis_grade`` → "Stenosis grade (finding 1)"."""
    m = _FINDING.fullmatch(name)
    if m:
        inner = FIELD_LABELS.get(m.group(2), m.group(2).replace("_", " ").capitalize())
        return f"{inner} (finding {int(m.group(1)) + 1})"
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def _join_or(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _value_label(code: str) -> str:
    return _VALUE_LABELS.get(code, code.replace("_", " "))


def _hint(name: str, exc: ValidationError) -> str:
    """What to enter, in plain words, from the refusal's allowed values."""
    base = _FINDING.fullmatch(name).group(2) if _FINDING.fullmatch(name) else name  # type: ignore[union-attr]
    allowed = exc.allowed
    scale = f" ({_SCALES[base]})" if base in _SCALES else ""
    if allowed == "empty":
        return "leave this empty"
    m = re.fullmatch(r"a date from (\S+) to (\S+)(?: \((.*?)\))?(?: as YYYY-MM-DD)?", allowed)
    if m:
        latest = "today" if m.group(3) and m.group(3).startswith("today:") else m.group(2)
        return f"enter a date from {m.group(1)} to {latest} (year-month-day)"
    m = re.fullmatch(r"(-?[\d.]+) to (-?[\d.]+)( [^()]+)?( \(whole numbers\))?", allowed)
    if m:
        what = "a whole number" if (m.group(4) or _whole(exc)) else "a number"
        return f"enter {what} from {m.group(1)} to {m.group(2)}{m.group(3) or ''}"
    if m is None and re.fullmatch(r"(at least|at most) .*", allowed):
        return f"enter a number {allowed}"
    codes = [c.strip() for c in allowed.split(",")]
    if base in _MULTI and len(codes) > 1:
        labels = [_value_label(c) for c in codes]
        return f"tick one or more of {', '.join(labels[:-1])} and {labels[-1]}"
    if len(codes) > 1 or (codes and re.fullmatch(r"[\w-]+", codes[0] or "") and base != "full_name"):
        return f"choose {_join_or([_value_label(c) for c in codes])}{scale}"
    return f"enter {allowed}"


def _whole(exc: ValidationError) -> bool:
    return isinstance(exc.value, float) and not float(exc.value).is_integer()


def plain_message(exc: SpinetrackError, name: str | None = None) -> str:
    """One refusal in plain words, starting with the field's label: "Stenosis grade: choose A,
    B, C or D (Schizas)", "BMI: “-5” is not allowed — enter a number from 10 to 90 kg/m2"."""
    name = name or input_name(getattr(exc, "field", None)) or ""
    label = label_of(name) if name else "This form"
    if not isinstance(exc, ValidationError):
        text = str(exc)
        field = getattr(exc, "field", None)
        if field and text.startswith(f"{field}: "):
            text = text[len(field) + 2:]
        return f"{label}: {text}"
    hint = _hint(name, exc)
    reason = exc.reason
    value = exc.value
    missing = value is None or value == "" or value == [] or reason in ("required", "at least one level is required")
    if missing and reason not in (None, "required", "at least one level is required"):
        return f"{label}: {reason}; {hint}."
    if missing:
        return f"{label}: {hint}."
    shown = value if isinstance(value, str) else str(value)
    if reason == "not a number":
        return f"{label}: “{shown[:40]}” is not a number; {hint}."
    if reason and reason != "unknown field":
        return f"{label}: {reason}; {hint}."
    return f"{label}: “{shown[:40]}” is not allowed; {hint}."


class FormErrors:
    """Every problem of one submitted form, ``{input name: plain message}``, in the order found.

    ``prefix``: the prefix of the inputs' ids on the page (the summary links to ``#prefix+name``).
    Falsy when there is no problem. ``message`` (all messages as one sentence) and ``input`` (the
    first input) keep the single-error shape older templates read."""

    def __init__(self, prefix: str = "", id: str = "form-error") -> None:
        self.messages: dict[str, str] = {}
        self.prefix = prefix
        self.id = id

    # ----------------------------------------------------------------- collecting
    def add(self, name: str, message: str) -> None:
        """A problem at input ``name``; the first one found for an input is kept."""
        self.messages.setdefault(name, message)

    def add_exception(self, exc: SpinetrackError, name: str | None = None) -> None:
        """A domain or store refusal, placed at its field's input and worded plainly."""
        name = name or input_name(getattr(exc, "field", None)) or "form"
        self.add(name, plain_message(exc, name))

    def check(self, fn: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, or ``None`` with the refusal recorded."""
        try:
            return fn(*args, **kwargs)
        except (ValidationError, ConflictError) as exc:
            self.add_exception(exc, name)
            return None

    def check_fields(self, create: Callable[[Mapping[str, Any]], Any], base: Mapping[str, Any],
                     data: Mapping[str, Any], fields: list[str] | None = None,
                     names: Mapping[str, str] | None = None) -> None:
        """Check each of ``fields`` (default: all of ``data``) on its own: ``create`` of
        ``base`` (a valid record) with that one field from ``data``. ``names`` maps a data field
        to its input name when they differ."""
        for key in fields if fields is not None else list(data):
            self.check(create, {**base, key: data.get(key)}, name=(names or {}).get(key))

    # ----------------------------------------------------------------- reading
    def __bool__(self) -> bool:
        return bool(self.messages)

    def __contains__(self, name: object) -> bool:
        return name in self.messages

    def __iter__(self) -> Iterator[str]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    def get(self, name: str) -> str | None:
        return self.messages.get(name)

    def message_for(self, name: str) -> str | None:
        """The message shown beside input ``name`` (None when it is fine)."""
        return self.messages.get(name)

    def items(self) -> list[tuple[str, str]]:
        return list(self.messages.items())

    def anchor(self, name: str) -> str:
        """The id of the input the summary links to."""
        return f"{self.prefix}{name}"

    @property
    def message(self) -> str:
        return " ".join(self.messages.values())

    @property
    def input(self) -> str | None:
        return next(iter(self.messages), None)

    @property
    def field(self) -> str | None:
        return self.input

    def as_dict(self) -> dict[str, str]:
        return dict(self.messages)

    def sort(self, order: list[str]) -> FormErrors:
        """Put the problems in the order of the form's inputs (others last)."""
        rank = {name: i for i, name in enumerate(order)}
        self.messages = dict(sorted(self.messages.items(), key=lambda kv: rank.get(kv[0], len(rank))))
        return self


def from_exception(exc: SpinetrackError, prefix: str = "", id: str = "form-error") -> FormErrors:
    """A :class:`FormErrors` of one refusal (a store refusal after the form passed its checks)."""
    errors = FormErrors(prefix, id)
    errors.add_exception(exc)
    return errors


# ---------------------------------------------------------------------------------- whole forms

PATIENT_FIELDS = ["birth_year", "sex", "bmi", "smoking", "diabetes", "asa_grade", "work_status",
                  "symptom_duration_weeks", "prior_spine_surgery"]
EPISODE_FIELDS = ["diagnosis_code", "levels", "enrolled_on", "conservative_care", "conservative_care_weeks",
                  "treatment", "treatment_family", "index_date"]


def _patient_base(today: dt.date) -> dict[str, Any]:
    return {"pseudo_id": "ST-CHECK", "birth_year": today.year - 50, "sex": "unknown"}


def _episode_base(today: dt.date) -> dict[str, Any]:
    return {"diagnosis_code": _any_diagnosis(), "levels": [Level.L4_L5.value], "enrolled_on": today.isoformat()}


def _any_diagnosis() -> str:
    from spinetrack.domain import DIAGNOSES
    return sorted(DIAGNOSES)[0]


def check_identity(identity: Mapping[str, Any], errors: FormErrors) -> None:
    """Each identity field on its own, then together."""
    base = {"full_name": "Check"}
    for key in identity:
        errors.check(validate_identity, {**base, key: identity[key]}, name=key)
    if not errors:
        errors.check(validate_identity, identity)


def check_patient(patient: Mapping[str, Any], errors: FormErrors, today: dt.date | None = None) -> None:
    today = today or clock.today()
    base = _patient_base(today)
    before = len(errors)
    errors.check_fields(lambda d: PatientRecord.create(d, today=today), base, patient,
                        [k for k in PATIENT_FIELDS if k in patient])
    if len(errors) == before:
        errors.check(PatientRecord.create, {**patient, "pseudo_id": "ST-CHECK"}, today=today)


def check_episode(episode: Mapping[str, Any], errors: FormErrors, today: dt.date | None = None,
                  rows: list[int] | None = None) -> None:
    """Every field of an episode (as :func:`~spinetrack.web.routes.clinic_forms._episode_data`
    reads it), each imaging finding field by field, then the rules between fields (a surgical
    treatment needs a family, a finding lies at one of the episode's levels…).

    ``rows``: the form row of each finding in ``episode["imaging_findings"]`` (rows whose kind is
    empty are skipped by the reader), so that a message lands beside the right row."""
    today = today or clock.today()
    base = _episode_base(today)
    before = len(errors)
    simple = [k for k in EPISODE_FIELDS if k in episode and k not in ("treatment", "index_date")]
    errors.check_fields(EpisodeRecord.create, base, episode, simple)
    if "treatment" in episode:  # a treatment with the family chosen (surgery needs one)
        errors.check(EpisodeRecord.create, {**base, "treatment": episode["treatment"],
                                            "treatment_family": episode.get("treatment_family")})
    if episode.get("index_date") is not None:
        errors.check(EpisodeRecord.create, {**base, "treatment": "conservative",
                                            "enrolled_on": EARLIEST_DATE.isoformat(),
                                            "index_date": episode["index_date"]}, name="index_date")
    findings = list(episode.get("imaging_findings") or [])
    rows = rows if rows is not None and len(rows) == len(findings) else list(range(len(findings)))
    for row, finding in zip(rows, findings, strict=True):
        _check_finding(finding, row, errors)
    if len(errors) == before:
        try:
            EpisodeRecord.create(episode)
        except ValidationError as exc:
            name = input_name(exc.field)
            if exc.field == "episode.imaging_findings.level":  # the finding at a level not chosen
                bad = [r for r, f in zip(rows, findings, strict=True) if f.get("level") == exc.value]
                name = f"finding{bad[0] if bad else 0}_level"
                errors.add(name, f"{label_of(name)}: {exc.value} is not one of the episode's levels; "
                                 f"choose {_join_or(str(exc.allowed).split(', '))} or tick the level above.")
            else:
                errors.add_exception(exc, name)


def _check_finding(finding: Mapping[str, Any], row: int, errors: FormErrors) -> None:
    prefix = f"finding{row}_"
    field = f"episode.imaging_findings[{row}]"
    kind_raw = finding.get("kind")
    kind = None
    try:
        kind = FindingKind(kind_raw)
    except ValueError:
        errors.check(ImagingFinding.create, {"level": Level.L4_L5.value, "kind": kind_raw}, field, name=prefix + "kind")
    probe_kind = kind or FindingKind.DISC_DEGENERATION
    valid = {name: next(iter(_GRADE_ENUMS[name])).value for name in _FINDING_FIELDS[probe_kind]}
    base = {"level": Level.L4_L5.value, "kind": probe_kind.value, **valid}
    errors.check(ImagingFinding.create, {**base, "level": finding.get("level")}, field, name=prefix + "level")
    if kind is None:
        return
    for name in _GRADE_ENUMS:
        if name in _FINDING_FIELDS[kind] or finding.get(name) is not None:
            errors.check(ImagingFinding.create, {**base, name: finding.get(name)}, field, name=prefix + name)


def check_enrolment(identity: Mapping[str, Any], patient: Mapping[str, Any], episode: Mapping[str, Any],
                    today: dt.date | None = None, rows: list[int] | None = None) -> FormErrors:
    """Every problem of the enrolment form: identity, patient and first episode."""
    errors = FormErrors()
    check_identity(identity, errors)
    check_patient(patient, errors, today)
    check_episode(episode, errors, today, rows)
    return errors.sort(ENROL_ORDER)


def episode_order(n_rows: int = 3) -> list[str]:
    """The episode form's inputs, top to bottom."""
    rows = [f"finding{i}_{name}" for i in range(n_rows)
            for name in ("level", "kind", "morphology", "zone", "pfirrmann", "stenosis_grade", "meyerding")]
    return ["diagnosis_code", "enrolled_on", "levels", *rows, "conservative_care", "conservative_care_weeks",
            "treatment", "treatment_family", "index_date"]


ENROL_ORDER = ["full_name", "mrn", "email", "phone", "language", *PATIENT_FIELDS, *episode_order()]
