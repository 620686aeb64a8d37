"""On the demo, the decision aid of a typical patient has a clinic figure in every cell of their
treatment family, and those figures cover the synthetic truth.

What used to leave the cells empty (issue 19, section 5), measured on ``spinetrack demo`` (seed 7,
dated relative to today) and ``spinetrack models train``:

1. **The ODI improvement (MCID) for every option**: its own logistic model never met the
   events-per-coefficient rule (rule 2 of ``predict.spec``): after a discectomy about 94 in 100
   patients reach the MCID, so the rarer kind (the 6 in 100 who do not) is 16 to 24 patients for
   13 coefficients at 2,000 to 4,000 demo patients. The chance is now read from the clinic's
   12-month ODI model, which meets the rule (``predict.options``, module docstring).
2. **The rarer approach of each family** (open discectomy, MIS decompression, MIS fusion): 57 to
   61 patients with a 12-month score at 2,000 demo patients, below the 100 of rule 1; the demo of
   ``make run`` is too small, not the rule too strict. 4,000 demo patients give 100 to 150 in
   every such cell (this test's cohort).

The truth: ``spinetrack demo --truth-out`` (``synth/truth.py``): the mean outcome of the family's
operated patients had they all had MIS (``ate_treated``) or open surgery (``ate_control``), from
each patient's potential outcomes. Every operated patient of the demo (profiles read from its
snapshot, as ``tests/predict`` do, and ``predict_options`` with the trained models; one in
:data:`EVERY` in episode order, a systematic sample of the whole population) is predicted;
for each clinic cell the average of the patients' 95% confidence bounds (a lenient band: each
bound is a single patient's, wider than the bound of the average) must contain that mean. Over
the whole population, not a sample of it: the truth is the population's mean.
Return to activity is left out: the aid gives a median of a
censored time, the truth file a restricted mean, which are different quantities.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

pytestmark = pytest.mark.slow

DEMO_PATIENTS = 4000
DEMO_SEED = 7  # the Makefile's
FAMILY_OUTCOMES = ("odi_mcid_12m", "odi_12m", "leg_pain_12m", "back_pain_12m", "return_to_activity",
                   "length_of_stay")
RISKS = ("any_complication", "reoperation_2y")
TRUTH_OUTCOMES = ("odi_mcid_12m", "odi_12m", "leg_pain_12m", "back_pain_12m", "length_of_stay")
PER_FAMILY = 20
EVERY = 3


def _cli(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "spinetrack.cli", *args], capture_output=True, text=True,
                          check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, Any]]:
    work = tmp_path_factory.mktemp("demo-aid")
    db = f"sqlite:///{work / 'demo.db'}"
    _cli("demo", "--patients", str(DEMO_PATIENTS), "--seed", str(DEMO_SEED), "--no-followup", "--no-logins",
         "--truth-out", str(work / "truth.json"), "--database-url", db, "--json")
    _cli("snapshot", "--out", str(work / "snap"), "--database-url", db, "--json")
    _cli("models", "train", "--snapshot", str(work / "snap"), "--database-url", db, "--out", str(work / "models"),
         "--bootstrap", "0", "--json")
    return db, work / "models", json.loads((work / "truth.json").read_text())


def _documents(db: str, models: Path) -> list[tuple[str | None, dict[str, Any]]]:
    """The decision-support documents of the first operated patients of each family whose
    baseline scores are recorded (a typical patient), with the family they were operated in."""
    from sqlalchemy import select

    from spinetrack.predict.decision import build_decision_support
    from spinetrack.store.repositories import Actor, Store
    from spinetrack.store.session import make_engine
    from spinetrack.store.tables import EpisodeRow, PatientRow, ProcedureRow

    engine = make_engine(db)
    try:
        store = Store(engine)
        with engine.connect() as c:
            rows = c.execute(select(PatientRow.id, PatientRow.site_id, ProcedureRow.family)
                             .join(EpisodeRow, EpisodeRow.patient_id == PatientRow.id)
                             .join(ProcedureRow, ProcedureRow.episode_id == EpisodeRow.id)
                             .order_by(PatientRow.id)).all()
        out: list[tuple[str | None, dict[str, Any]]] = []
        taken: dict[str, int] = {}
        for pid, site, family in rows:
            if taken.get(family, 0) >= PER_FAMILY:
                continue
            doc = build_decision_support(store, Actor("tests", "clinician", site), pid, models_dir=models)
            if doc["episode"]["family"] != family or doc["baseline_scores_missing"]:
                continue
            taken[family] = taken.get(family, 0) + 1
            out.append((family, doc))
        assert set(taken) == {"discectomy", "decompression", "fusion"} and min(taken.values()) == PER_FAMILY, taken
        return out
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def documents(demo: tuple[str, Path, dict[str, Any]]) -> list[tuple[str | None, dict[str, Any]]]:
    return _documents(demo[0], demo[1])


def test_a_typical_patient_has_a_clinic_figure_in_every_cell_of_their_family(documents) -> None:  # type: ignore[no-untyped-def]
    from spinetrack.i18n import use_locale
    from spinetrack.reports.decision_aid import build_patient_aid

    for family, doc in documents:
        options = {o["key"] for o in doc["options"] if o["available"]}
        assert options == {"conservative", "mis", "open"}
        rows = {o["key"]: o["by_option"] for o in doc["outcomes"]}
        for key in FAMILY_OUTCOMES:
            for option, cell in rows[key].items():
                assert cell["source"] == "clinic" and cell["estimate"] is not None, (family, key, option, cell["note"])
        for key in RISKS:  # rare events: a figure where the data allow, else the reason, never silence
            for option, cell in rows[key].items():
                assert cell["estimate"] is not None or "minimum-data rule" in cell["note"], (family, key, option)
        if family == "discectomy":  # the browser tests' typical patient: every cell, risks too
            for key in RISKS:
                assert all(c["estimate"] is not None for c in rows[key].values()), (key, rows[key])
        # what the patient reads: no "no estimate" among the family's outcomes
        doc = {**doc, "screening": {**doc["screening"], "recorded": True, "unanswered": [], "urgent": False}}
        with use_locale("en"):
            aid = build_patient_aid(doc)
        for outcome in aid.outcomes:
            if outcome.key in FAMILY_OUTCOMES:
                assert all(s.cell != "no estimate" for s in outcome.statements), (family, outcome.key)


def test_the_clinic_figures_cover_the_synthetic_truth(demo) -> None:  # type: ignore[no-untyped-def]
    from spinetrack.predict import load_models, predict_options
    from tests.predict.conftest import validation_rows

    _db, models_dir, truth = demo
    models = load_models(models_dir)
    rows, _ = validation_rows(models_dir.parent / "snap")
    bands: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    operated = [row for row in rows if row.option in ("mis", "open")]
    for row in operated[::EVERY]:
        po = predict_options(row.profile, models)
        if po.family != row.family:  # operated in another family than the diagnosis's (a few): not predicted
            continue
        for key in TRUTH_OUTCOMES:
            for option in ("mis", "open"):
                p = po.get(option, key)
                if p.source == "clinic" and p.ci_low is not None and p.ci_high is not None:
                    bands.setdefault((row.family, key, option), []).append((p.ci_low, p.ci_high))
    assert len(bands) == 3 * len(TRUTH_OUTCOMES) * 2, sorted(bands)
    for (family, key, option), cells in sorted(bands.items()):
        assert len(cells) >= 80, (family, key, option, len(cells))
        true = truth[family][key]["ate_treated" if option == "mis" else "ate_control"]
        low, high = mean(lo for lo, _ in cells), mean(hi for _, hi in cells)
        assert low <= true <= high, (family, key, option, (low, high), true)
