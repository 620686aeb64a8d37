"""The decision aid (``spinetrack.reports.decision_aid``): patient text, icon arrays, the
side-by-side table, the clinician view and the PDF, rendered from hand-made documents of the
shape that ``spinetrack.predict.decision.build_decision_support`` returns.

Five documents (:data:`FIXTURES`): a normal patient (every number from the clinic's models),
a red-flag patient (urgent, nothing else), an unscreened patient, one whose numbers fall back
to the literature, and one with cells of source ``none`` and an option that is not available.
The numbers in them are made up for the tests; the expected strings are those numbers rounded
by hand (0.62 → "about 62", interval 0.55–0.69 → "between 55 and 69").

Readability: the running text of every fixture's patient version must have a Flesch–Kincaid
grade of 8 or less, measured with ``spinetrack.reports.readability``.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from spinetrack.reports.decision_aid import (
    OPTION_NAMES,
    build_patient_aid,
    icon_array,
    patient_text,
    render_decision_aid_html,
    render_decision_aid_pdf,
    render_patient_body,
)
from spinetrack.reports.decision_support import build_clinician_view, safe_svg
from spinetrack.reports.readability import measure_readability

FK_MAX_GRADE = 8.0
SVG_NS = "{http://www.w3.org/2000/svg}"
RELIABILITY_SVG = ('<?xml version="1.0" encoding="utf-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
                   'viewBox="0 0 100 100" width="240" height="240"><title>Reliability diagram</title>'
                   '<path d="M 10 90 L 90 10" stroke="#4a4a4a" fill="none"/>'
                   '<circle cx="30" cy="72" r="3"/><circle cx="60" cy="38" r="3"/></svg>')

RED_FLAG_QUESTIONS = ("saddle_anaesthesia", "bladder_bowel_dysfunction", "bilateral_leg_symptoms",
                      "suspected_infection", "suspected_malignancy", "suspected_fracture",
                      "progressive_motor_deficit", "severe_motor_deficit")
RED_FLAGS = (("cauda_equina", "Suspected cauda equina syndrome"), ("infection", "Suspected spinal infection"),
             ("malignancy", "Suspected malignancy"), ("fracture", "Suspected fracture"),
             ("motor_deficit", "Progressive or severe motor deficit"))
NICE = "NICE NG59, Low back pain and sciatica in over 16s: assessment and management (2016, updated 2020)"
NASS_LDH = ("NASS Evidence-Based Clinical Guidelines: "
            "Diagnosis and Treatment of Lumbar Disc Herniation with Radiculopathy (2012)")


def _est(estimate: float | None, low: float | None, high: float | None, source: str = "clinic", *,
         n: int | None = 412, model: str | None = None, citation: str | None = None,
         note: str | None = None, pi: tuple[float | None, float | None] | None = None,
         beyond: float | None = None) -> dict[str, Any]:
    return {"estimate": estimate, "ci_low": low, "ci_high": high, "source": source, "n_patients": n,
            "model_id": model, "citation": citation, "note": note,
            "pi_low": None if pi is None else pi[0], "pi_high": None if pi is None else pi[1],
            "pi_level": None if pi is None else 0.9, "pi_beyond_days": beyond,
            "uses_baseline_scores": True if source == "clinic" else None}


def _outcome(key: str, label: str, kind: str, unit: str, better: str, by_option: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "label": label, "kind": kind, "unit": unit, "better": better, "mixed_sources": False,
            "sources_note": None, "by_option": by_option}


def _screening(*, recorded: bool = True, present: tuple[str, ...] = (),
               unknown: tuple[str, ...] = ()) -> dict[str, Any]:
    flags = [{"flag": k, "label": label, "status": "present" if k in present else "unknown" if k in unknown
              else "absent", "citation": NICE} for k, label in RED_FLAGS]
    return {
        "recorded": recorded, "assessed_on": "2026-11-20" if recorded else None, "urgent": bool(present),
        "message": ("Red flag: suspected cauda equina syndrome. The patient needs urgent assessment (urgent "
                    "referral). No candidacy criteria and no treatment comparison are shown while a red flag is "
                    "present.") if present else None,
        "red_flags": flags, "unanswered": list(unknown),
        "criteria": [] if present else [
            {"key": "leg_dominant_pain", "question": "Is leg pain worse than back pain?", "status": "met",
             "detail": "leg NRS 7, back NRS 4 at baseline", "citation": NASS_LDH},
            {"key": "conservative_6w", "question": "Has the patient had six weeks of non-operative care?",
             "status": "not_met" if recorded else "unknown", "detail": "4 weeks recorded", "citation": NICE},
            {"key": "imaging_concordant", "question": "Does the imaging match the symptoms and signs?",
             "status": "unknown", "detail": None, "citation": NASS_LDH},
        ],
    }


def _normal() -> dict[str, Any]:
    c, m, o = "conservative", "mis", "open"
    fam = "discectomy"
    return {
        "patient": {"id": 12, "pseudo_id": "P-0012", "age": 47, "sex": "female"},
        "generated_on": "2026-11-26",
        "episode": {"id": 5, "diagnosis_code": "M51.16", "diagnosis_group": "disc_herniation_radiculopathy",
                    "diagnosis_label": "Intervertebral disc disorders with radiculopathy, lumbar region",
                    "levels": "L4-L5", "family": fam, "age_at_baseline": 47, "baseline_date": "2026-11-02"},
        "screening": _screening(),
        "options": [{"key": c, "label": "Conservative care", "available": True, "reason": None},
                    {"key": m, "label": "MIS discectomy", "available": True, "reason": None},
                    {"key": o, "label": "Open discectomy", "available": True, "reason": None}],
        "outcomes": [
            _outcome("odi_mcid_12m", "ODI improvement of at least 10 points at 12 months", "probability", "proportion",
                     "higher", {c: _est(0.41, 0.34, 0.48, n=388, model="conservative.odi_mcid_12m"),
                                m: _est(0.62, 0.55, 0.69, model=f"{fam}.odi_mcid_12m"),
                                o: _est(0.58, 0.50, 0.66, n=301, model=f"{fam}.odi_mcid_12m")}),
            _outcome("odi_12m", "ODI at 12 months", "mean", "ODI points (0-100)", "lower",
                     {c: _est(27.4, 24.9, 29.8, n=388, model="conservative.odi_12m", pi=(12.6, 42.2)),
                      m: _est(18.2, 15.6, 20.9, model=f"{fam}.odi_12m", pi=(3.4, 33.0)),
                      o: _est(19.6, 16.8, 22.4, n=301, model=f"{fam}.odi_12m", pi=(4.7, 34.5))}),
            _outcome("nrs_leg_12m", "Leg pain NRS at 12 months", "mean", "NRS points (0-10)", "lower",
                     {c: _est(3.6, 3.2, 4.1, n=388, model="conservative.nrs_leg_12m", pi=(1.1, 6.1)),
                      m: _est(2.3, 1.9, 2.7, model=f"{fam}.nrs_leg_12m", pi=(0.0, 4.8)),
                      o: _est(2.5, 2.1, 2.9, n=301, model=f"{fam}.nrs_leg_12m", pi=(0.1, 5.0))}),
            _outcome("nrs_back_12m", "Back pain NRS at 12 months", "mean", "NRS points (0-10)", "lower",
                     {c: _est(3.1, 2.7, 3.5, n=388, model="conservative.nrs_back_12m", pi=(0.7, 5.5)),
                      m: _est(2.4, 2.0, 2.8, model=f"{fam}.nrs_back_12m", pi=(0.0, 4.8)),
                      o: _est(2.9, 2.5, 3.3, n=301, model=f"{fam}.nrs_back_12m", pi=(0.5, 5.3))}),
            _outcome("los_days", "Length of stay", "median_days", "days", "lower",
                     {m: _est(1.0, 1.0, 1.0, model=f"{fam}.los_days", pi=(0.4, 2.6)),
                      o: _est(3.0, 2.0, 4.0, n=301, model=f"{fam}.los_days", pi=(1.2, 6.8))}),
            _outcome("any_complication", "Any complication", "probability", "proportion", "lower",
                     {c: _est(0.02, 0.01, 0.04, n=388, model="conservative.any_complication"),
                      m: _est(0.06, 0.04, 0.09, model=f"{fam}.any_complication"),
                      o: _est(0.09, 0.06, 0.13, n=301, model=f"{fam}.any_complication")}),
            _outcome("return_to_activity_days", "Days to return to activity", "median_days", "days", "lower",
                     {c: _est(42.0, 35.0, 56.0, n=388, model="conservative.return_to_activity_days", pi=(12.0, None),
                              beyond=406.0),
                      m: _est(21.0, 14.0, 28.0, model=f"{fam}.return_to_activity_days", pi=(7.5, 61.0)),
                      o: _est(35.0, 28.0, 42.0, n=301, model=f"{fam}.return_to_activity_days", pi=(12.2, 98.0))}),
            _outcome("reoperation_2y", "Reoperation within 2 years", "probability", "proportion", "lower",
                     {m: _est(0.07, 0.05, 0.10, model=f"{fam}.reoperation_2y"),
                      o: _est(0.06, 0.04, 0.09, n=301, model=f"{fam}.reoperation_2y")}),
        ],
        "models": [
            {"model_id": f"{fam}.odi_mcid_12m", "outcome": "odi_mcid_12m", "n_patients": 713, "c_statistic": 0.71,
             "c_statistic_corrected": 0.69, "calibration_intercept": 0.01, "calibration_slope": 0.97,
             "calibration_slope_corrected": 0.93, "brier": 0.2, "r2": None, "rmse": None,
             "reliability_svg": RELIABILITY_SVG},
            {"model_id": f"{fam}.odi_12m", "outcome": "odi_12m", "n_patients": 713, "c_statistic": None,
             "c_statistic_corrected": None, "calibration_intercept": -0.4, "calibration_slope": 1.02,
             "calibration_slope_corrected": 0.98, "brier": None, "r2": 0.31, "rmse": 14.2, "reliability_svg": None},
        ],
        "sources": ["spinetrack clinic models fitted on this registry's patients (snapshot 2026-11-01)", NICE],
        "synthetic_data": False,
        "baseline_scores_missing": [],
    }


def _red_flag() -> dict[str, Any]:
    doc = _normal()
    doc["screening"] = _screening(present=("cauda_equina",))
    doc["options"], doc["outcomes"], doc["models"] = [], [], []
    return doc


def _unscreened() -> dict[str, Any]:
    doc = _normal()
    doc["screening"] = _screening(recorded=False, unknown=tuple(k for k, _ in RED_FLAGS))
    doc["screening"]["unanswered"] = list(RED_FLAG_QUESTIONS)
    return doc


def _literature() -> dict[str, Any]:
    doc = _normal()
    doc["patient"] = {"id": 31, "pseudo_id": "P-0031", "age": 71, "sex": "male"}
    doc["episode"] = {"id": 40, "diagnosis_code": "M48.062", "diagnosis_group": "stenosis_with_claudication",
                      "diagnosis_label": "Spinal stenosis, lumbar region with neurogenic claudication",
                      "levels": "L3-L4,L4-L5", "family": "decompression"}
    lit = "Example A et al. Minimally invasive versus open decompression: a meta-analysis. Spine J 2020"
    for outcome in doc["outcomes"]:
        for key, cell in outcome["by_option"].items():
            if key in ("mis", "open"):
                cell.update(source="literature", n_patients=None, model_id=None, citation=lit,
                            note="pooled estimate for an average patient; not adjusted", uses_baseline_scores=None)
                if outcome["key"] != "odi_12m":  # only a mean with a published SD has a range of patients
                    cell.update(pi_low=None, pi_high=None, pi_level=None, pi_beyond_days=None)
        if "conservative" in outcome["by_option"]:  # clinic beside published studies: the builder flags the row
            outcome.update(mixed_sources=True, sources_note="Sources differ in this row: Non-surgical care from the "
                           "clinic's model (adjusted to this patient); Minimally invasive surgery and Open surgery "
                           "from published studies (their average patient, not adjusted). The numbers are not like "
                           "for like.")
    doc["synthetic_data"] = True
    doc["sources"] = [lit, NICE]
    return doc


def _none_source() -> dict[str, Any]:
    doc = _normal()
    doc["episode"]["diagnosis_group"] = "degenerative_spondylolisthesis"
    doc["episode"]["family"] = "fusion"
    doc["options"][2] = {"key": "open", "label": "Open fusion", "available": False,
                         "reason": "ASA grade 4: open fusion not offered at this site"}
    for outcome in doc["outcomes"]:
        outcome["by_option"].pop("open", None)
        if outcome["key"] in ("reoperation_2y", "return_to_activity_days", "nrs_back_12m"):
            for cell in outcome["by_option"].values():
                cell.update(estimate=None, ci_low=None, ci_high=None, source="none", n_patients=None,
                            model_id=None, note="too few patients with this follow-up")
    return doc


def _builder_keys() -> dict[str, Any]:
    """The normal patient as ``spinetrack.predict.decision`` spells it today (outcome keys and
    units of ``predict.spec.OUTCOMES``, a mean length of stay, reliability groups instead of an
    SVG, and fields beyond the documented shape: notes, definitions, the profile …)."""
    doc = _normal()
    rename = {"nrs_leg_12m": "leg_pain_12m", "nrs_back_12m": "back_pain_12m", "los_days": "length_of_stay",
              "return_to_activity_days": "return_to_activity"}
    for outcome in doc["outcomes"]:
        outcome["key"] = rename.get(outcome["key"], outcome["key"])
        outcome["unit"] = "probability" if outcome["unit"] == "proportion" else outcome["unit"]
        outcome["definition"] = "as in predict.spec"
        if outcome["key"] == "length_of_stay":
            outcome["kind"] = "mean"
    doc["episode"].update(treatment=None, index_date=None)
    doc["screening"].update(answers={"assessed_on": "2026-11-20"}, diagnosis_group="disc_herniation_radiculopathy")
    for flag in doc["screening"]["red_flags"]:
        flag.update(raised_by=[], questions=["saddle_anaesthesia"])
    doc["models"][0].update(reliability_svg=None, title="MIS/open discectomy: ODI MCID", reliability={
        "kind": "binary", "ci_level": 0.95, "grouping": "deciles",
        "bins": [{"mean_predicted": 0.3 + 0.05 * i, "observed": 0.28 + 0.055 * i, "ci_low": 0.2 + 0.05 * i,
                  "ci_high": 0.38 + 0.05 * i, "n": 71} for i in range(10)]})
    doc["models"][1].update(reliability=None)
    doc.update(notes=["no prediction models have been trained at this site yet (spinetrack models train)"],
               profile={"age": 47}, missing_predictors=["bmi"], software_version="0.1.0", models_created_at=None)
    return doc


def _no_baseline() -> dict[str, Any]:
    """The normal patient without a baseline ODI: the improvement is not estimated and every
    clinic estimate says it does not use the patient's own scores (as the builder writes it)."""
    doc = _normal()
    doc["baseline_scores_missing"] = ["odi_pct"]
    for outcome in doc["outcomes"]:
        for cell in outcome["by_option"].values():
            if outcome["key"] == "odi_mcid_12m":
                cell.update(estimate=None, ci_low=None, ci_high=None, source="none", n_patients=None, model_id=None,
                            uses_baseline_scores=None,
                            note="the patient's baseline ODI is not recorded: the improvement is measured from it")
            else:
                cell.update(uses_baseline_scores=False)
    return doc


FIXTURES = {"normal": _normal, "red_flag": _red_flag, "unscreened": _unscreened, "literature": _literature,
            "none_source": _none_source, "builder_keys": _builder_keys, "no_baseline": _no_baseline}


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of one fixture document (tests may change it)."""
    return copy.deepcopy(FIXTURES[name]())


# ---------------------------------------------------------------------------------- readability


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_patient_text_reads_at_or_below_grade_8(name: str) -> None:
    """The patient version is kept at or below school grade 8 (Flesch–Kincaid)."""
    text = patient_text(fixture(name))
    r = measure_readability(text)
    print(f"{name}: FK grade {r.flesch_kincaid_grade:.2f}, reading ease {r.flesch_reading_ease:.1f} "
          f"({r.sentences} sentences, {r.words} words, {r.syllables} syllables)")
    assert r.flesch_kincaid_grade <= FK_MAX_GRADE, text


def test_grid_questions_read_at_or_below_grade_8() -> None:
    aid = build_patient_aid(fixture("normal"))
    r = measure_readability("\n".join(q for q, _ in aid.grid()))
    assert r.flesch_kincaid_grade <= FK_MAX_GRADE


# ---------------------------------------------------------------------------------- the patient text


def test_normal_patient_sentences_give_numbers_intervals_and_sources() -> None:
    text = patient_text(fixture("normal"))
    assert "Out of 100 people like you, about 62 feel clearly better in daily life after one year." in text
    assert "We are fairly sure it is between 55 and 69." in text  # a chance: how sure we are of it
    assert "Out of 100 people like you, about 41 feel clearly better" in text  # conservative care
    assert "After one year, the score is about 18 out of 100 for people like you." in text  # ODI 18.2
    assert "After one year, leg pain is about 2 out of 10 for people like you." in text   # 2.3 → 2
    assert "Half of the people like you go home from hospital within about 1 day." in text
    assert "Half of the people like you are back to their usual activities within about 3 weeks." in text  # 21 d
    assert "This does not apply to care without surgery." in text                          # no stay, no reoperation
    assert text.count("This comes from this clinic's patients.") == 22                     # every estimate
    assert "published" not in text and "no estimate" not in text


def test_scores_and_days_show_how_much_people_differ_not_the_interval_of_the_mean() -> None:
    """For a score or a number of days the patient reads the prediction
    interval for one person ("9 in 10 people like you …", the document's ``pi_*``, rounded by
    hand here: ODI 3.4–33.0 → 3 and 33; leg pain 0.0–4.8 → 0 and 5; 7.5–61 days → 1 to 9 weeks),
    explained once at the top — not the 95% interval of the average (leg pain 1.9–2.7, which
    used to read "between 2 and 3"), which says nothing about one person."""
    text = patient_text(fixture("normal"))
    assert "9 in 10 people like you had a score between 3 and 33." in text
    assert "9 in 10 people like you had leg pain between 0 and 5." in text
    assert "9 in 10 people like you had back pain between 1 and 5." in text               # 0.5–5.3
    assert "9 in 10 people like you were back after 1 to 9 weeks." in text                # 7.5–61 days
    assert "9 in 10 people like you went home after 1 to 7 days." in text                 # 1.2–6.8 days
    # the top of the range beyond the data's longest follow-up (406 days = 58 weeks) is not made up
    assert "9 in 10 people like you were back after 2 to more than 58 weeks." in text
    assert "between 2 and 3." not in text and "between 16 and 21" not in text             # the old CI sentences
    assert "Nine in ten people like you had a result in that range." in text              # what a range means
    rows = dict(build_patient_aid(fixture("normal")).grid())
    # the table's cell: the score with its scale and direction, and its source (never a bare number)
    assert rows["How bad is leg pain after one year?"][1] == ("2 on a 0 to 10 scale (lower is better)",
                                                             "from this clinic's patients")


def test_missing_baseline_scores_are_said_plainly_to_the_patient() -> None:
    """Without the patient's baseline scores the page says so in plain words,
    once at the top and on every estimate that does not use them; the improvement that needs
    the baseline ODI shows no number."""
    aid = build_patient_aid(fixture("no_baseline"))
    text = patient_text(aid)
    assert "We do not have your own scores for pain and daily life from before treatment." in text
    assert text.count("This does not use your own scores from before treatment.") == 19  # 22 clinic cells - 3
    assert dict(aid.grid())["How many people feel clearly better in daily life after one year?"] == [
        ("no estimate", None)] * 3
    assert "centring" not in text and "no estimate" not in text.lower().replace("there is no estimate", "")
    assert measure_readability(text).flesch_kincaid_grade <= FK_MAX_GRADE


def test_a_question_whose_numbers_come_from_different_places_says_so() -> None:
    """On the patient page (running text, the outcome's section and the
    side-by-side table's row) and on the clinician's, a row that mixes the clinic's numbers
    with published studies is marked; a row from one source is not."""
    doc = fixture("literature")
    aid = build_patient_aid(doc)
    mixed = dict(zip((q for q, _ in aid.grid()), aid.mixed_rows(), strict=True))
    assert mixed["How many people feel clearly better in daily life after one year?"] is True
    assert mixed["How long do people stay in hospital?"] is False  # published studies only
    body = render_patient_body(aid)
    assert body.count('class="aid-mixed-tag"') == sum(aid.mixed_rows()) == 6
    assert body.count('class="aid-mixed"') == 6 and "come from different places" in patient_text(aid)
    assert "come from different places" not in patient_text(fixture("normal"))
    view = build_clinician_view(doc)
    row = next(r for r in view.rows if r["key"] == "odi_mcid_12m")
    assert row["mixed_sources"] and row["sources_note"].startswith("Sources differ in this row")
    assert not next(r for r in view.rows if r["key"] == "los_days")["mixed_sources"]


def test_literature_fallback_says_where_the_number_comes_from() -> None:
    text = patient_text(fixture("literature"))
    assert "Out of 100 people in published studies, about 62 feel clearly better" in text
    assert "This comes from published studies, for an average patient, not adjusted to you." in text
    assert "Out of 100 people like you, about 41" in text  # conservative care stays from the clinic
    assert "narrow spine that causes leg pain when you walk" in text
    assert "This is a demo. The numbers are made up for testing." in text


def test_source_none_says_there_is_no_estimate_and_unavailable_option_is_named() -> None:
    doc = fixture("none_source")
    aid = build_patient_aid(doc)
    text = patient_text(aid)
    assert "There is no estimate for this." in text
    assert "Open surgery is not a choice for you right now." in text
    assert "ASA" not in text  # the clinical reason stays on the clinician's page
    assert [c.key for c in aid.columns] == ["conservative", "mis"]
    rows = dict(aid.grid())
    assert rows["How many people need another back operation within two years?"] == [
        ("does not apply", None), ("no estimate", None)]
    assert rows["How many people feel clearly better in daily life after one year?"] == [
        ("41 in 100 people", "from this clinic's patients"), ("62 in 100 people", "from this clinic's patients")]
    lit = dict(build_patient_aid(fixture("literature")).grid())
    assert lit["How long do people stay in hospital?"] == [
        ("does not apply", None), ("about 1 day", "from published studies"), ("about 3 days", "from published studies")]


def test_red_flag_patient_sees_only_the_urgent_message() -> None:
    doc = fixture("red_flag")
    aid = build_patient_aid(doc)
    assert aid.state == "urgent" and not aid.options and not aid.outcomes
    body = render_patient_body(aid)
    text = re.sub(r"<[^>]+>", " ", body)
    for name in [*OPTION_NAMES.values(), "Conservative care", "discectomy", "surgery"]:
        assert name.lower() not in text.lower()
    assert not re.search(r"\d", text), text          # no numbers at all
    assert "Out of 100" not in text and "<svg" not in body and "<table" not in body
    assert "a doctor needs to check your back today" in text and "emergency department" in text
    assert "Red flag" not in text and "referral" not in text  # the clinician's wording stays on their page
    assert 'role="alert"' in body
    # the PDF document holds the same and nothing more
    html = render_decision_aid_html(doc)
    assert "emergency department" in html and "<svg" not in html and "Keyhole" not in html


def test_urgent_wins_even_if_the_document_still_carries_options() -> None:
    doc = fixture("normal")
    doc["screening"] = fixture("red_flag")["screening"]
    assert "Keyhole" not in render_patient_body(doc) and "62" not in patient_text(doc)


def test_unscreened_patient_is_asked_to_complete_screening_first() -> None:
    aid = build_patient_aid(fixture("unscreened"))
    assert aid.state == "unscreened"
    body = render_patient_body(aid)
    assert "safety questions" in body and "Keyhole" not in body and "<svg" not in body
    doc = fixture("normal")
    doc["screening"]["unanswered"] = ["saddle_anaesthesia"]  # recorded but not complete: still blocked
    assert build_patient_aid(doc).state == "unscreened"


def test_patient_body_escapes_document_text() -> None:
    doc = fixture("normal")
    doc["sources"] = ["<script>alert(1)</script> Example et al."]
    body = render_patient_body(doc)
    assert "<script>" not in body and "&lt;script&gt;" in body


def test_builder_spelling_of_outcomes_gets_the_same_words() -> None:
    text = patient_text(fixture("builder_keys"))
    assert "After one year, leg pain is about 2 out of 10 for people like you." in text
    assert "On average, people like you go home from hospital after about 1 day." in text
    assert "Half of the people like you are back to their usual activities within about 3 weeks." in text
    aid = build_patient_aid(fixture("builder_keys"))
    assert [o.question for o in aid.outcomes] == [q for q, _ in build_patient_aid(fixture("normal")).grid()]


# ---------------------------------------------------------------------------------- icon arrays


def test_icon_array_is_an_accessible_10_by_10_grid() -> None:
    ia = icon_array(62, label="About 62 out of 100 people feel better.", id_prefix="ia-odi-mis")
    root = ET.fromstring(ia.svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "ia-odi-mis-t ia-odi-mis-d"
    assert root.find(f"{SVG_NS}title").text == "About 62 out of 100 people feel better."  # type: ignore[union-attr]
    desc = root.find(f"{SVG_NS}desc").text  # type: ignore[union-attr]
    assert desc == "Sixty two filled circles and thirty eight empty circles, out of a hundred."
    circles = list(root.iter(f"{SVG_NS}circle"))
    assert len(circles) == 100
    assert {(c.get("cx"), c.get("cy")) for c in circles} == {(str(x), str(y)) for x in range(10, 200, 20)
                                                             for y in range(10, 200, 20)}
    groups = root.findall(f"{SVG_NS}g")
    filled, outlined = groups
    assert len(filled) == 62 and filled.get("fill") != "#ffffff"
    assert len(outlined) == 38 and outlined.get("fill") == "#ffffff" and outlined.get("stroke")
    # filled first, row by row from the top left
    assert {c.get("cy") for c in filled if c.get("cy") == "130"} == {"130"}
    assert sum(1 for c in filled if c.get("cy") == "130") == 2


@pytest.mark.parametrize(("count", "words"), [
    (0, "Zero filled circles and a hundred empty circles, out of a hundred."),
    (1, "One filled circle and ninety nine empty circles, out of a hundred."),
    (100, "A hundred filled circles and zero empty circles, out of a hundred."),
])
def test_icon_array_words_at_the_edges(count: int, words: str) -> None:
    assert icon_array(count, label="x", id_prefix="e").words == words


def test_patient_body_has_one_icon_array_per_probability_cell_with_the_sentence_as_title() -> None:
    body = render_patient_body(fixture("normal"))
    svgs = re.findall(r"<svg.*?</svg>", body, re.DOTALL)
    # odi_mcid_12m 3 + any_complication 3 + reoperation_2y 2 (no conservative cell)
    assert len(svgs) == 8
    assert len(set(re.findall(r'<title id="([^"]+)"', body))) == 8  # ids unique on the page
    first = ET.fromstring(svgs[0])
    assert first.find(f"{SVG_NS}title").text == (  # type: ignore[union-attr]
        "Out of 100 people like you, about 41 feel clearly better in daily life after one year.")
    assert sum(1 for c in first.iter(f"{SVG_NS}circle") if c.get("class") == "on") == 41


def test_side_by_side_table_has_options_as_columns_and_questions_as_rows() -> None:
    body = render_patient_body(fixture("normal"))
    table = re.search(r'<table class="aid-grid">.*?</table>', body, re.DOTALL)
    assert table
    heads = re.findall(r'<th scope="col">([^<]+)</th>', table.group(0))
    assert heads == ["Question", "Care without surgery", "Keyhole surgery", "Open surgery"]
    rows = re.findall(r'<th scope="row">([^<]+)</th>', table.group(0))
    assert len(rows) == 8 and rows[0] == "How many people feel clearly better in daily life after one year?"
    # every cell leads with its option's name (shown when the table stacks on a phone)
    assert ('<td data-option="Care without surgery"><span class="aid-opt">Care without surgery</span>'
            'does not apply</td>') in table.group(0)
    assert 'about 3 weeks<span class="aid-src">from this clinic&#x27;s patients</span></td>' in table.group(0)


# ---------------------------------------------------------------------------------- the clinician view


def test_clinician_view_formats_each_cell_with_interval_source_and_n() -> None:
    view = build_clinician_view(fixture("normal"))
    assert view.state == "ready"
    assert [c["key"] for c in view.columns] == ["conservative", "mis", "open"]
    first = view.rows[0]
    mis = first["cells"][1]
    assert (mis["text"], mis["interval"], mis["source_label"], mis["n"]) == ("62.0%", "55.0% to 69.0%",
                                                                             "clinic model", "412")
    los = next(r for r in view.rows if r["key"] == "los_days")
    assert los["cells"][0] == {"applies": False, "text": "does not apply"}
    odi = next(r for r in view.rows if r["key"] == "odi_12m")
    assert odi["cells"][1]["text"] == "18.2" and odi["cells"][1]["interval"] == "15.6 to 20.9"
    assert (odi["cells"][1]["spread"], odi["cells"][1]["spread_level"]) == ("3.4 to 33.0", "90%")
    assert mis["spread"] is None  # a probability has no range of patients
    rta = next(r for r in view.rows if r["key"] == "return_to_activity_days")
    assert rta["cells"][0]["spread"] == "12.0 to beyond 406.0 (the longest follow-up)"
    model = view.models[0]
    assert model["fmt"]["c_statistic"] == "0.71" and model["fmt"]["calibration_slope_corrected"] == "0.93"
    assert model["fmt"]["brier"] == "0.200" and model["fmt"]["r2"] == "—"
    assert model["svg"] is not None and model["svg"].startswith('<div role="img" aria-label="Reliability diagram')
    assert "<svg" in model["svg"] and "<?xml" not in model["svg"]
    statuses = {f["flag"]: f["status_text"] for f in view.screening["red_flags"]}
    assert statuses["cauda_equina"] == "absent"
    assert [c["status_text"] for c in view.screening["criteria"]] == ["met", "not met", "not answered"]


def test_clinician_view_states() -> None:
    assert build_clinician_view(fixture("red_flag")).state == "urgent"
    urgent = build_clinician_view(fixture("red_flag"))
    assert not urgent.rows and not urgent.models
    assert urgent.message[0] == "Red flag: suspected cauda equina syndrome."  # the document's own words
    assert build_clinician_view(fixture("unscreened")).state == "unscreened"
    doc = fixture("normal")
    doc["screening"]["unanswered"] = ["saddle_anaesthesia", "bilateral_leg_symptoms"]
    view = build_clinician_view(doc)
    assert view.state == "incomplete"
    assert view.screening["unanswered_labels"] == ["saddle anaesthesia", "bilateral leg symptoms"]
    lit = build_clinician_view(fixture("literature"))
    cell = lit.rows[0]["cells"][1]
    assert cell["source_label"] == "literature" and cell["citation"].startswith("Example A et al.")
    none = build_clinician_view(fixture("none_source"))
    reop = next(r for r in none.rows if r["key"] == "reoperation_2y")
    assert [c["text"] for c in reop["cells"]] == ["does not apply", "no estimate"]


def test_reliability_diagram_is_drawn_from_the_groups_when_the_document_has_no_svg() -> None:
    """The document of ``predict.decision`` carries the groups, not a picture: the view draws them
    with ``reports.prediction_plots.reliability_diagram`` (ten points with their intervals)."""
    view = build_clinician_view(fixture("builder_keys"))
    svg = view.models[0]["svg"]
    assert svg is not None and svg.startswith('<svg id="rel-discectomy-odi_mcid_12m"') and 'role="img"' in svg
    assert "<title" in svg and "<desc" in svg and "<script" not in svg
    assert view.models[0]["reliability_rows"][0] == {"predicted": "0.300", "observed": "0.280",
                                                     "interval": "0.200 to 0.380", "n": "71"}
    assert len(view.models[0]["reliability_rows"]) == 10
    assert view.models[1]["svg"] is None and view.notes == (
        "no prediction models have been trained at this site yet (spinetrack models train)",)


@pytest.mark.parametrize("svg", [
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><a href="https://example.org/x"><rect/></a></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
    '<html><body/></html>', "<svg", "",
])
def test_unsafe_or_broken_svg_is_refused(svg: str) -> None:
    assert safe_svg(svg) is None


def test_safe_svg_drops_the_xml_declaration() -> None:
    out = safe_svg(RELIABILITY_SVG)
    assert out is not None and out.startswith("<svg") and "<?xml" not in out


# ---------------------------------------------------------------------------------- the PDF


@pytest.mark.parametrize("name", ["normal", "red_flag"])
def test_pdf_is_a_pdf(name: str) -> None:
    pdf = render_decision_aid_pdf(fixture(name))
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 1000


def test_pdf_html_is_self_contained() -> None:
    html = render_decision_aid_html(fixture("normal"))
    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html and "@import" not in html


def test_docstring_examples_run() -> None:
    import doctest

    from spinetrack.reports import decision_aid, decision_aid_units, decision_support

    results = [doctest.testmod(m, optionflags=doctest.ELLIPSIS)
               for m in (decision_aid, decision_aid_units, decision_support)]
    assert sum(r.attempted for r in results) >= 5 and sum(r.failed for r in results) == 0


def test_clinician_model_table_names_shrinkage_distribution_and_calibration_by_group() -> None:
    """Issues 15 items 6-7: the clinician sees, per model, the shrinkage factor applied, the AFT
    distribution with the AICs it was chosen by, and the p-value of the calibration check by
    risk group — the document's numbers, formatted (made-up values here)."""
    doc = fixture("normal")
    doc["models"][0].update(shrinkage=0.874, distribution=None, distribution_aic=None, calibration_by_group=None)
    doc["models"][1].update(shrinkage=None, distribution="lognormal",
                            distribution_aic={"weibull": 10822.95, "lognormal": 10550.95, "loglogistic": 10559.83},
                            calibration_by_group={"time": 42.0, "p_value": 0.0464})
    view = build_clinician_view(doc)
    assert view.models[0]["design"] == "effects shrunk by 0.87"
    assert view.models[1]["design"] == ("log-normal (AIC: Weibull 10,823.0, log-normal 10,551.0, log-logistic "
                                        "10,559.8); Kaplan-Meier vs predicted by risk group at day 42: p = 0.046")
    assert build_clinician_view(fixture("builder_keys")).models[1]["design"] == "—"
