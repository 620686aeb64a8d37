"""The clinic patient page's view model: labels for the stored codes, and the summary at the top
of the page (diagnosis, procedure, latest scores against the MCID, open follow-up, red flags,
reoperations), computed from what the page already read (no store access here: pure).

Labels are spinetrack's own display wording for the domain's codes (the domain enums carry the
codes only); a code without a label here is shown with its underscores replaced, never hidden.

Scores against the MCID: the latest valid score of each timeline instrument of the shown episode
is compared with its baseline by :func:`spinetrack.instruments.thresholds.classify_change` (the
instrument's default threshold set, absolute criterion: Ostelo 2008 for ODI and NRS, see
STANDARDS.md); an instrument without a shipped MCID (EQ-5D-5L) says so and gets no verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spinetrack import instruments
from spinetrack.domain import CATALOGUE, DIAGNOSES
from spinetrack.domain.complications import ClavienDindo, ComplicationCategory, ReoperationReason
from spinetrack.domain.procedure import Approach, ProcedureFamily, Technique
from spinetrack.errors import ValidationError
from spinetrack.i18n import lazy_gettext as _l
from spinetrack.instruments import thresholds
from spinetrack.store.queries import TIMELINE_INSTRUMENTS, TimelinePoint
from spinetrack.web import plots

__all__ = [
    "APPROACH_LABELS",
    "COMPLICATION_LABELS",
    "ENTITY_LABELS",
    "FIELD_LABELS",
    "REOPERATION_LABELS",
    "TECHNIQUE_LABELS",
    "ScoreVerdict",
    "Summary",
    "code_label",
    "corrections_by_record",
    "diagnosis_label",
    "display_value",
    "procedure_label",
    "summarise",
]

APPROACH_LABELS: dict[str, Any] = {Approach.MIS.value: _l("Minimally invasive"), Approach.OPEN.value: _l("Open")}
FAMILY_LABELS: dict[str, Any] = {ProcedureFamily.DISCECTOMY.value: _l("Discectomy"),
                                 ProcedureFamily.DECOMPRESSION.value: _l("Decompression"),
                                 ProcedureFamily.FUSION.value: _l("Fusion")}
TECHNIQUE_LABELS: dict[str, Any] = {
    Technique.TUBULAR.value: _l("tubular"),
    Technique.FULL_ENDOSCOPIC_TRANSFORAMINAL.value: _l("full-endoscopic, transforaminal"),
    Technique.FULL_ENDOSCOPIC_INTERLAMINAR.value: _l("full-endoscopic, interlaminar"),
    Technique.PERCUTANEOUS.value: _l("percutaneous"),
}
COMPLICATION_LABELS: dict[str, Any] = {
    ComplicationCategory.SSI_SUPERFICIAL.value: _l("Surgical site infection, superficial"),
    ComplicationCategory.SSI_DEEP.value: _l("Surgical site infection, deep"),
    ComplicationCategory.SSI_ORGAN_SPACE.value: _l("Surgical site infection, organ/space"),
    ComplicationCategory.DURAL_TEAR.value: _l("Dural tear"),
    ComplicationCategory.NEUROLOGICAL_DEFICIT.value: _l("Neurological deficit"),
    ComplicationCategory.VENOUS_THROMBOEMBOLISM.value: _l("Venous thromboembolism"),
    ComplicationCategory.WRONG_LEVEL.value: _l("Wrong level"),
    ComplicationCategory.NERVE_ROOT_INJURY.value: _l("Nerve root injury"),
    ComplicationCategory.CAUDA_EQUINA_SYNDROME.value: _l("Cauda equina syndrome"),
    ComplicationCategory.PULMONARY_EMBOLISM.value: _l("Pulmonary embolism"),
    ComplicationCategory.WRONG_SITE.value: _l("Wrong site or side"),
    ComplicationCategory.VASCULAR_INJURY.value: _l("Vascular injury"),
    ComplicationCategory.OTHER.value: _l("Other"),
}
CLAVIEN_DINDO_LABELS: dict[str, Any] = {g.value: _l("Grade %(grade)s", grade=g.value) for g in ClavienDindo}
REOPERATION_LABELS: dict[str, Any] = {
    ReoperationReason.RECURRENT_HERNIATION.value: _l("Recurrent disc herniation"),
    ReoperationReason.RESTENOSIS.value: _l("Restenosis"),
    ReoperationReason.COMPLICATION.value: _l("A complication"),
    ReoperationReason.ADJACENT_SEGMENT.value: _l("Adjacent segment disease"),
    ReoperationReason.NONUNION_OR_IMPLANT.value: _l("Non-union or implant failure"),
    ReoperationReason.IMPLANT_MALPOSITION.value: _l("Misplaced implant"),
    ReoperationReason.OTHER.value: _l("Other"),
}
ENTITY_LABELS: dict[str, Any] = {"procedure": _l("Procedure"), "complication": _l("Complication"),
                                 "readmission": _l("Readmission"), "reoperation": _l("Reoperation"),
                                 "episode": _l("Episode")}
FIELD_LABELS: dict[str, Any] = {
    "performed_on": _l("Date"), "levels": _l("Levels"), "converted_to_open": _l("Converted to open"),
    "incision_mm": _l("Incision (mm)"), "ebl_ml": _l("Blood loss (mL)"), "op_time_min": _l("Operative time (min)"),
    "fluoro_s": _l("Fluoroscopy time (s)"), "fluoro_dose_mgy": _l("Fluoroscopy dose (mGy)"),
    "los_days": _l("Length of stay (days)"), "transfusion": _l("Transfusion"), "category": _l("Category"),
    "clavien_dindo": _l("Clavien–Dindo grade"), "occurred_on": _l("Date"), "detail": _l("Detail"),
    "admitted_on": _l("Admitted on"), "reason": _l("Reason"), "diagnosis_code": _l("Diagnosis"),
}
_BY_KIND: dict[str, Mapping[str, Any]] = {"approach": APPROACH_LABELS, "technique": TECHNIQUE_LABELS,
                                          "family": FAMILY_LABELS, "complication": COMPLICATION_LABELS,
                                          "clavien_dindo": CLAVIEN_DINDO_LABELS, "reoperation": REOPERATION_LABELS,
                                          "entity": ENTITY_LABELS, "field": FIELD_LABELS}


def code_label(kind: str, code: Any) -> str:
    """The display label of ``code`` in vocabulary ``kind``; an unknown code shown readably."""
    if code is None or code == "":
        return "—"
    label = _BY_KIND.get(kind, {}).get(str(code))
    return str(label) if label is not None else str(code).replace("_", " ")


def procedure_label(proc: Mapping[str, Any]) -> str:
    """``Open laminectomy``; ``Tubular / microendoscopic discectomy (minimally invasive, tubular)``;
    with ``, converted to open`` when an MIS procedure was converted during the operation."""
    entry = CATALOGUE.get(str(proc.get("procedure_code")))
    label = entry.label if entry else str(proc.get("procedure_code", "")).replace("_", " ")
    if proc.get("approach") == Approach.MIS.value:
        label += f" ({str(APPROACH_LABELS['mis']).lower()}, {code_label('technique', proc.get('technique'))})"
        if proc.get("converted_to_open"):
            label += ", " + str(_l("converted to open"))
    return label


def diagnosis_label(code: str | None) -> str:
    d = DIAGNOSES.get(code or "")
    return f"{d.label} ({d.code})" if d else (code or "—")


@dataclass(frozen=True, slots=True)
class ScoreVerdict:
    """The latest score of one instrument against its baseline and MCID."""

    instrument: str
    title: str
    baseline: float | None
    latest: float | None
    latest_timepoint: str | None
    latest_on: dt.date | None
    change: float | None           # latest - baseline, in the instrument's points
    mcid: float | None             # the absolute MCID (points), None when none is shipped
    reached: bool | None           # improvement >= MCID; None without baseline, follow-up or MCID
    category: str | None           # improved / unchanged / worsened (classify_change)
    source: str | None             # the MCID's citation
    higher_is_better: bool
    fmt: str


@dataclass(frozen=True, slots=True)
class Summary:
    diagnosis: str
    levels: str
    treatment: str
    procedure: str | None
    converted_to_open: bool
    scores: tuple[ScoreVerdict, ...]
    open_visits: tuple[Any, ...]
    next_visit: Any
    red_flags: str                 # "urgent", "none", "incomplete", "not_recorded", "hidden"
    red_flag_labels: tuple[str, ...]
    reoperations: tuple[dict[str, Any], ...]
    ended_on: dt.date | None
    corrected: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _threshold(code: str) -> thresholds.Threshold | None:
    try:
        return thresholds.get(code)
    except ValidationError:
        return None


def score_verdicts(points: Iterable[TimelinePoint], labels: Mapping[str, str],
                   codes: Sequence[str] = TIMELINE_INSTRUMENTS) -> tuple[ScoreVerdict, ...]:
    """Per instrument: baseline, the latest valid follow-up score, the change and the MCID verdict."""
    pts = [p for p in points if p.valid and p.score is not None]
    out = []
    for code in codes:
        mine = [p for p in pts if p.instrument == code]
        base = next((p for p in mine if p.timepoint == "baseline"), None)
        later = [p for p in mine if p.timepoint != "baseline"]
        last = max(later, key=lambda p: (p.collected_on, p.days_from_index or 0)) if later else None
        t = _threshold(code)
        hib = instruments.get(code).definition.higher_is_better
        change = reached = category = None
        if base is not None and last is not None:
            assert base.score is not None and last.score is not None
            change = last.score - base.score
            if t is not None:
                c = thresholds.classify_change(code, base.score, last.score)
                category = c.category.value
                reached = c.category is thresholds.ChangeClass.IMPROVED
        out.append(ScoreVerdict(
            code, plots.INSTRUMENT_SHORT.get(code, code), base.score if base else None,
            last.score if last else None, labels.get(last.timepoint, last.timepoint) if last else None,
            last.collected_on if last else None, change, t.absolute if t else None, reached, category,
            t.source if t else None, hib, plots.SCORE_FORMAT.get(code, "%.1f")))
    return tuple(out)


def summarise(episode: Mapping[str, Any] | None, points: Iterable[TimelinePoint], labels: Mapping[str, str],
              visits: Sequence[Any], screening: Any, corrections: Sequence[Any] = ()) -> Summary | None:
    """The summary of the shown episode (None when the patient has no episode)."""
    if episode is None:
        return None
    procs = episode.get("procedures") or []
    proc = procs[0] if procs else None
    open_visits = tuple(v for v in visits if v.status in ("due", "overdue"))
    upcoming = [v for v in visits if v.status == "upcoming"]
    if screening is None:
        flags, flag_labels = "hidden", ()
    elif not screening.recorded:
        flags, flag_labels = "not_recorded", ()
    elif screening.urgent:
        flags, flag_labels = "urgent", tuple(f.label for f in screening.present)
    elif screening.unanswered:
        flags, flag_labels = "incomplete", ()
    else:
        flags, flag_labels = "none", ()
    reops = tuple(sorted(episode.get("reoperations") or [], key=lambda r: r["performed_on"]))
    treatment = plots.ARM_LABELS.get(episode.get("treatment") or "", str(_l("not decided")))
    family = episode.get("treatment_family")
    if family:
        treatment += " · " + code_label("family", family).lower()
    return Summary(
        diagnosis=diagnosis_label(episode.get("diagnosis_code")),
        levels=(episode.get("levels") or "").replace(",", ", "),
        treatment=treatment,
        procedure=procedure_label(proc) if proc else None,
        converted_to_open=bool(proc and proc.get("converted_to_open")),
        scores=score_verdicts([p for p in points if p.episode_id == episode["id"]], labels),
        open_visits=open_visits,
        next_visit=min(upcoming, key=lambda v: v.opens_on) if upcoming else None,
        red_flags=flags,
        red_flag_labels=flag_labels,
        reoperations=reops,
        ended_on=episode.get("ended_on"),
        corrected=len(corrections),
    )


def corrections_by_record(corrections: Iterable[Any]) -> dict[tuple[str, int], list[Any]]:
    """Corrections grouped by (entity, id), oldest first: the page's "corrected" markers."""
    out: dict[tuple[str, int], list[Any]] = {}
    for c in corrections:
        out.setdefault((c.entity, c.entity_id), []).append(c)
    return out


def display_value(entity: str, field_name: str, value: Any) -> str:
    """A stored (or corrected) value as the page shows it: labels for codes, yes/no, dates as text."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(_l("yes")) if value else str(_l("no"))
    kind = {("complication", "category"): "complication", ("complication", "clavien_dindo"): "clavien_dindo",
            ("reoperation", "reason"): "reoperation"}.get((entity, field_name))
    if kind:
        return code_label(kind, value)
    if field_name == "diagnosis_code":
        return diagnosis_label(str(value))
    if field_name == "levels":
        return str(value).replace(",", ", ")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
