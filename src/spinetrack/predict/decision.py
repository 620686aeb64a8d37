"""The decision-support document for one patient: red-flag screening, guideline criteria and
the expected outcomes of each treatment option, in one JSON-serialisable dict that the API
(``GET /api/v1/patients/{id}/decision-support``), the decision-aid pages, the PDF and
``spinetrack predict --patient ID --json`` all serialise the same way.

Order of precedence:

1. **Red flags override everything.** When the episode's latest screening records a red flag,
   the document carries the urgent-referral message and nothing else: no options, no outcomes,
   no models.
2. **Guideline criteria** of the episode's diagnosis are listed as met / not met / unknown with
   their citations (``domain.screening``); they are questions for the clinician, never a rule.
3. **Expected outcomes** per option come from the clinic's models (``predict.options``), or from
   the literature for the average patient when the clinic has too few patients, or nothing.
   A row (one outcome across the options) whose numbers come from different sources — the
   clinic's model for one option, published studies for another — says so on the row
   (``mixed_sources`` and ``sources_note``), because its numbers are not like for like.

The episode is the patient's most recent one (by enrolment date) unless one is named. The
predictors are those of the episode's baseline (``predict.profile``): age in the year of its
index date (or enrolment), its baseline scores — not today's age. Reads go through the store,
so they are authorised and audited there.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

from spinetrack import __version__, clock
from spinetrack.domain.comparisons import APPROACHES, CONSERVATIVE, TREATMENTS
from spinetrack.domain.diagnosis import DIAGNOSES, get_diagnosis, parse_levels
from spinetrack.domain.pathway import EpisodeRecord, PatientRecord
from spinetrack.errors import NotFoundError
from spinetrack.predict.card import model_card
from spinetrack.predict.files import load_models
from spinetrack.predict.model import FORMAT_VERSION, ModelSet
from spinetrack.predict.options import OptionPredictions, predict_options
from spinetrack.predict.profile import BASELINE_SCORES, PatientProfile, baseline_date
from spinetrack.predict.spec import OUTCOMES, care_group_of
from spinetrack.store import reads
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.screening import screen_episode

__all__ = ["BASELINE_INSTRUMENTS", "OPTION_LABELS", "build_decision_support", "model_set_or_empty"]

BASELINE_INSTRUMENTS = {"odi": "odi", "nrs_back": "nrs_back", "nrs_leg": "nrs_leg"}
"""Instrument code in the store → the profile's baseline-score key."""

OPTION_LABELS = {CONSERVATIVE: "Non-surgical care", "mis": "Minimally invasive surgery", "open": "Open surgery"}
"""Treatment code (``domain.comparisons.TREATMENTS``) → its label for patients."""
if set(OPTION_LABELS) != set(TREATMENTS):
    raise RuntimeError("predict.decision.OPTION_LABELS must label every treatment of domain.comparisons.TREATMENTS")

# outcomes where a larger number is better for the patient (every other outcome: smaller is better)
_HIGHER_IS_BETTER = frozenset({"odi_mcid_12m"})

_PATIENT_FIELDS = ("pseudo_id", "birth_year", "sex", "bmi", "smoking", "diabetes", "asa_grade", "work_status",
                   "symptom_duration_weeks", "prior_spine_surgery")

_NO_MODELS = "no prediction models have been trained at this site yet (spinetrack models train)"
_OLD_MODELS = ("the trained models were written by an older spinetrack and are not used: retrain them "
               "(spinetrack models train)")
_SOURCE_WORDS = {"clinic": "the clinic's model (adjusted to this patient)",
                 "literature": "published studies (their average patient, not adjusted)"}


def model_set_or_empty(models_dir: str | Path | None) -> tuple[ModelSet, str | None]:
    """The trained models in ``models_dir``, or an empty set and the reason when there are none
    or they were written in an older format (every option then falls back to the literature,
    labelled so)."""
    if models_dir is not None and (Path(models_dir) / "index.json").is_file():
        try:
            version = json.loads((Path(models_dir) / "index.json").read_text(encoding="utf-8")).get("format_version")
        except (OSError, ValueError):
            version = None
        if version == FORMAT_VERSION:
            return load_models(models_dir), None
        empty_reason = _OLD_MODELS
    else:
        empty_reason = _NO_MODELS
    empty = ModelSet(MappingProxyType({}), (), MappingProxyType({}), __version__, "", MappingProxyType({}))
    return empty, empty_reason


def _option_label(option: str, family: str | None) -> str:
    if option == CONSERVATIVE or family is None:
        return OPTION_LABELS[option]
    return f"{OPTION_LABELS[option]} ({family})"


def _baseline_scores(store: Store, actor: Actor, episode_id: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in store.list_responses(actor, episode_id):
        key = BASELINE_INSTRUMENTS.get(r["instrument"])
        if key and r["timepoint"] == "baseline" and r["valid"] and r["score"] is not None:
            out[key] = float(r["score"])
    return out


def _pick_episode(episodes: list[dict[str, Any]], episode_id: int | None) -> dict[str, Any]:
    if episode_id is not None:
        for e in episodes:
            if e["id"] == episode_id:
                return e
        raise NotFoundError(entity="episode", key=episode_id)
    if not episodes:
        raise NotFoundError(entity="episode", key="any episode of this patient")
    return episodes[-1]  # list_episodes is oldest first


def _sources_note(by_option: dict[str, dict[str, Any]]) -> str | None:
    """The row's warning when its cells come from different sources (module docstring)."""
    groups: dict[str, list[str]] = {}
    for option, cell in by_option.items():
        if cell["source"] in _SOURCE_WORDS:
            groups.setdefault(cell["source"], []).append(OPTION_LABELS[option])
    if len(groups) < 2:
        return None
    parts = [f"{' and '.join(opts)} from {_SOURCE_WORDS[src]}" for src, opts in groups.items()]
    return "Sources differ in this row: " + "; ".join(parts) + ". The numbers are not like for like."


def _outcomes(predictions: OptionPredictions) -> list[dict[str, Any]]:
    out = []
    for o in OUTCOMES:
        by_option = {}
        for p in predictions.predictions:
            if p.outcome == o.key:
                by_option[p.option] = {"estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high,
                                       "pi_low": p.pi_low, "pi_high": p.pi_high, "pi_level": p.pi_level,
                                       "pi_beyond_days": p.pi_beyond_days,
                                       "uses_baseline_scores": p.uses_baseline_scores,
                                       "source": p.source, "n_patients": p.n_patients, "model_id": p.model_id,
                                       "citation": p.citation, "note": p.note or None}
        if not by_option:
            continue
        note = _sources_note(by_option)
        out.append({"key": o.key, "label": o.label, "kind": o.prediction, "unit": o.unit,
                    "better": "higher" if o.key in _HIGHER_IS_BETTER else "lower",
                    "definition": o.definition, "mixed_sources": note is not None, "sources_note": note,
                    "by_option": by_option})
    return out


def _metric(perf: dict[str, Any], name: str, which: str) -> float | None:
    m = perf["metrics"].get(name)
    return None if m is None else m.get(which)


def _model_summaries(predictions: OptionPredictions, models: ModelSet) -> list[dict[str, Any]]:
    used = sorted({p.model_id for p in predictions.predictions if p.model_id})
    out = []
    for mid in used:
        card = model_card(models.models[mid], models).as_dict()
        perf = card["performance"]
        out.append({
            "model_id": mid, "title": card["title"], "outcome": card["outcome"]["key"],
            "n_patients": card["population"]["n"], "n_events": card["population"]["n_events"],
            "n_by_option": card["population"]["n_by_option"], "model": card["method"]["model"],
            "c_statistic": _metric(perf, "c_statistic", "apparent"),
            "c_statistic_corrected": _metric(perf, "c_statistic", "corrected"),
            "calibration_intercept": _metric(perf, "calibration_intercept", "apparent"),
            "calibration_slope": _metric(perf, "calibration_slope", "apparent"),
            "calibration_slope_corrected": _metric(perf, "calibration_slope", "corrected"),
            "brier": _metric(perf, "brier", "apparent"),
            "r2": _metric(perf, "r2", "apparent"), "rmse": _metric(perf, "rmse", "apparent"),
            "bootstrap": perf["bootstrap_used"],
            "shrinkage": card["method"]["shrinkage"],
            "distribution": card["method"]["distribution"],
            "distribution_aic": card["method"]["distribution_aic"],
            "calibration_by_group": card["calibration_by_group"],
            "reliability": card["reliability"],
            "reliability_svg": None,  # drawn by the web/report layer from ``reliability``
        })
    return out


def build_decision_support(store: Store, actor: Actor, patient_id: int, *, models_dir: str | Path | None,
                           episode_id: int | None = None, today: dt.date | None = None) -> dict[str, Any]:
    """The decision-support document of one patient (module docstring).

    Raises
    ------
    spinetrack.errors.NotFoundError
        Unknown patient or episode, a patient of another site, or a patient with no episode.
    spinetrack.errors.AccessDeniedError
        When the actor may not read this patient (raised by the store).
    """
    on = today or clock.today()
    patient = store.get_patient(actor, patient_id)
    episodes = reads.list_episodes(store, actor, patient_id)
    ep = _pick_episode(episodes, episode_id)
    diagnosis = get_diagnosis(ep["diagnosis_code"])
    screening = screen_episode(store, actor, ep["id"])
    doc: dict[str, Any] = {
        "patient": {"id": patient["id"], "pseudo_id": patient["pseudo_id"],
                    "age": on.year - patient["birth_year"], "sex": patient["sex"]},
        "generated_on": on.isoformat(),
        "episode": {"id": ep["id"], "diagnosis_code": diagnosis.code, "diagnosis_group": diagnosis.group.value,
                    "diagnosis_label": DIAGNOSES[diagnosis.code].label, "levels": ep["levels"],
                    "family": care_group_of(diagnosis.group.value).family,
                    "treatment": ep.get("treatment"), "index_date": _iso(ep.get("index_date"))},
        "screening": screening.as_dict(),
        "options": [], "outcomes": [], "models": [], "notes": [], "sources": [],
        "synthetic_data": False, "software_version": __version__,
    }
    if screening.urgent:
        doc["sources"] = sorted({f["citation"] for f in doc["screening"]["red_flags"] if f.get("citation")})
        return doc

    patient_rec = PatientRecord.create({k: patient.get(k) for k in _PATIENT_FIELDS}, today=on)
    episode_rec = EpisodeRecord(diagnosis=diagnosis, levels=parse_levels(ep["levels"]), enrolled_on=ep["enrolled_on"],
                                index_date=ep.get("index_date"))
    profile = PatientProfile.from_records(patient_rec, episode_rec, _baseline_scores(store, actor, ep["id"]))
    doc["episode"]["baseline_date"] = baseline_date(episode_rec).isoformat()
    doc["episode"]["age_at_baseline"] = None if profile.age_years is None else int(profile.age_years)
    models, why_empty = model_set_or_empty(models_dir)
    predictions = predict_options(profile, models)
    family = predictions.family
    doc["episode"]["family"] = family
    doc["profile"] = profile.as_dict()
    doc["missing_predictors"] = list(profile.missing())
    doc["baseline_scores_missing"] = [f for f in BASELINE_SCORES if f in profile.missing()]
    doc["options"] = [{"key": o, "label": _option_label(o, family), "available": True, "reason": None}
                      for o in predictions.options]
    if family is None:
        doc["options"] += [{"key": o, "label": OPTION_LABELS[o], "available": False,
                            "reason": "no surgical procedure is indicated for this diagnosis"} for o in APPROACHES]
    doc["outcomes"] = _outcomes(predictions)
    doc["models"] = _model_summaries(predictions, models)
    doc["notes"] = ([why_empty] if why_empty else []) + list(predictions.notes)
    doc["models_created_at"] = predictions.models_created_at or None
    doc["synthetic_data"] = bool(models.snapshot.get("synthetic"))
    citations = {p.citation for p in predictions.predictions if p.citation}
    citations |= {c["citation"] for c in doc["screening"]["criteria"] if c.get("citation")}
    citations |= {f["citation"] for f in doc["screening"]["red_flags"] if f.get("citation")}
    doc["sources"] = sorted(citations)
    return doc


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v
