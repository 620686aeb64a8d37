"""Below the minimum-data rule an option × outcome falls back to the published arm of the
evidence package (with its citation), or to no figure (with the reason); and the row cap.

Oracles: the arm figures of ``spinetrack/evidence/data/arm_data.csv`` (row ids named in each
assertion) and statsmodels ``proportion_confint(method="wilson")`` for the arm intervals.
"""

from __future__ import annotations

import pytest
from statsmodels.stats.proportion import proportion_confint

from spinetrack.evidence import load_arm_data
from spinetrack.predict import PatientProfile, predict_options, train_models
from spinetrack.predict.literature import LiteratureFigure, literature_figure

TINY = {"patients": 300, "seed": 9}


@pytest.fixture(scope="module")
def tiny_models(snapshot_factory, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return train_models(snapshot_factory(**TINY), "duckdb", tmp_path_factory.mktemp("tiny"), bootstrap=5, seed=1).models


def _arm(arm_id: str):  # type: ignore[no-untyped-def]
    return next(a for a in load_arm_data() if a.id == arm_id)


def test_tiny_cohort_uses_no_clinic_model(tiny_models) -> None:  # type: ignore[no-untyped-def]
    assert tiny_models.availability and all(a.source == "fallback" for a in tiny_models.availability)
    assert all("minimum-data rule" in a.reason for a in tiny_models.availability)
    # the counts behind each decision are kept
    assert any(0 < a.n_patients < 100 for a in tiny_models.availability)


def test_fallback_to_the_published_arm_with_its_citation(tiny_models) -> None:  # type: ignore[no-untyped-def]
    """Disc herniation: reoperation within 2 years from the SIPS trial arms (arm-sips2y-reoperation:
    MIS 15% of 167, open 10% of 161; PMID 21792119), Wilson intervals."""
    po = predict_options(PatientProfile("disc_herniation_radiculopathy", 1, age_years=40.0), tiny_models)
    assert po.options == ("conservative", "mis", "open")
    arm = _arm("arm-sips2y-reoperation")
    for option, pct, n in (("mis", arm.mis_pct, arm.mis_n), ("open", arm.open_pct, arm.open_n)):
        p = po.get(option, "reoperation_2y")
        assert p.source == "literature" and p.model_id is None
        assert p.estimate == pytest.approx(pct / 100) and p.n_patients == n
        lo, hi = proportion_confint(pct / 100 * n, n, method="wilson")
        assert (p.ci_low, p.ci_high) == pytest.approx((lo, hi), abs=1e-12)
        assert "21792119" in p.citation and "average patient" in p.note and "minimum-data rule" in p.note
        assert p.kind == "probability" and p.unit == "probability"


def test_fallback_without_a_published_figure_gives_no_number(tiny_models) -> None:  # type: ignore[no-untyped-def]
    po = predict_options(PatientProfile("degenerative_spondylolisthesis", 1), tiny_models)
    odi = po.get("mis", "odi_12m")
    assert odi.source == "none" and odi.estimate is None and odi.ci_low is None and odi.citation is None
    assert "evidence package" in odi.note and "minimum-data rule" in odi.note
    cons = po.get("conservative", "odi_12m")
    assert cons.source == "none" and "conservative-care arm" in cons.note
    # fusion length of stay: one study (the largest, Hockley 2019, arm-hockley2019-los) for both arms
    los_mis, los_open = po.get("mis", "length_of_stay"), po.get("open", "length_of_stay")
    arm = _arm("arm-hockley2019-los")
    assert (los_mis.estimate, los_open.estimate) == (arm.mis_mean, arm.open_mean)
    assert los_mis.source == los_open.source == "literature" and "31448196" in los_mis.citation
    assert los_mis.ci_low is None and "no SD" in los_mis.note  # mean_only: no interval is made up
    with pytest.raises(KeyError):
        po.get("conservative", "length_of_stay")  # surgical outcomes are not predicted for conservative care


def test_nonspecific_low_back_pain_has_no_surgical_option(tiny_models) -> None:  # type: ignore[no-untyped-def]
    po = predict_options(PatientProfile("nonspecific_low_back_pain", 1), tiny_models)
    assert po.options == ("conservative",) and po.family is None
    assert {p.option for p in po.predictions} == {"conservative"}
    assert {p.outcome for p in po.predictions} == {"odi_mcid_12m", "odi_12m", "leg_pain_12m", "back_pain_12m",
                                                   "return_to_activity"}
    assert any("no surgical option" in n for n in po.notes) and any("SYNTHETIC" in n for n in po.notes)


def test_literature_figures_are_unflagged_family_rows_and_one_study_per_family() -> None:
    arms = {a.id: a for a in load_arm_data()}
    for family in ("discectomy", "decompression", "fusion"):
        for outcome in ("odi_mcid_12m", "odi_12m", "leg_pain_12m", "back_pain_12m", "length_of_stay",
                        "any_complication", "return_to_activity", "reoperation_2y"):
            figs = {opt: literature_figure(family, opt, outcome) for opt in ("mis", "open")}
            if all(isinstance(f, LiteratureFigure) for f in figs.values()):
                assert figs["mis"].arm_id == figs["open"].arm_id  # type: ignore[union-attr]
            for f in figs.values():
                if isinstance(f, LiteratureFigure):
                    a = arms[f.arm_id]
                    assert a.comparison.value == family and not a.flagged and f.citation
                else:
                    assert isinstance(f, str) and f
    assert isinstance(literature_figure("fusion", "conservative", "odi_12m"), str)
    assert isinstance(literature_figure(None, "conservative", "odi_12m"), str)


def test_row_cap_samples_deterministically(snapshot_factory, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """With a cap of 60 rows per model, every population above it is thinned by the engine's
    hashed sample of the episode key and cut to the cap; the same snapshot gives the same rows.
    (The rule is relaxed so that models are fitted on so few rows.)"""
    snap = snapshot_factory(**TINY)
    kw = {"bootstrap": 0, "max_rows": 60, "min_patients_per_option": 5, "min_events_per_parameter": 0.1}
    a = train_models(snap, "duckdb", tmp_path_factory.mktemp("cap1"), **kw).models
    b = train_models(snap, "duckdb", tmp_path_factory.mktemp("cap2"), **kw).models
    assert a.models, "no model fitted"
    sampled = [m for m in a.models.values() if m.sampled]
    assert sampled, "no population above the cap"
    for m in a.models.values():
        assert m.n <= 60
        assert m.as_dict() | {"created_at": None} == b.models[m.model_id].as_dict() | {"created_at": None}
    for m in sampled:
        assert m.population_rows > 60
        assert any("no bootstrap" in n for n in m.notes)
