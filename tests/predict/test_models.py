"""The trained model set: every option × outcome decided by the minimum-data rule, overfitted
models shrunk (not discarded), the files round-trip, the cards carry the performance, the AFT
distribution choice and the calibration by risk group, and the reliability diagram draws the
groups."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinetrack.errors import InputError
from spinetrack.predict import CARE_GROUPS, OUTCOMES, load_models, model_card, predict_options
from spinetrack.predict.spec import MIN_PATIENTS_PER_OPTION
from spinetrack.reports.prediction_plots import model_reliability_diagram


def test_every_option_and_outcome_is_decided_by_the_minimum_data_rule(trained) -> None:  # type: ignore[no-untyped-def]
    ms = trained.models
    expected = {(g.key, o.key, opt) for g in CARE_GROUPS for o in OUTCOMES for opt in g.options
                if not (opt == "conservative" and o.surgical_only)}
    got = {(a.care_group, a.outcome, a.option) for a in ms.availability}
    assert got == expected
    for a in ms.availability:
        if a.source == "clinic":
            m = ms.models[a.model_id]
            assert a.n_patients >= MIN_PATIENTS_PER_OPTION and m.n_by_option[a.option] == a.n_patients
            slope = m.performance.metric("calibration_slope").corrected
            assert slope is not None
            # an overfitted model is shrunk by its corrected slope, never discarded for it
            assert m.shrinkage == (None if slope >= 1 else max(0.0, slope))
            if m.kind != "continuous":
                assert m.events_per_parameter is not None and m.events_per_parameter >= 10
        else:
            assert a.source == "fallback" and "minimum-data rule" in a.reason, a
            assert "Riley" not in a.reason and "overfitted" not in a.reason
    assert sum(a.source == "clinic" for a in ms.availability) >= 20  # a 6,000-patient cohort supports most


def test_models_round_trip_through_their_files(trained, validation) -> None:  # type: ignore[no-untyped-def]
    loaded = load_models(trained.out_dir)
    assert set(loaded.models) == set(trained.models.models)
    for mid, m in trained.models.models.items():
        assert loaded.models[mid].as_dict() == m.as_dict()
    assert loaded.index_dict() == trained.models.index_dict()
    for row in validation[:50]:
        assert predict_options(row.profile, loaded).as_dict() == predict_options(row.profile, trained.models).as_dict()


def test_model_card_reports_discrimination_calibration_brier_and_n(trained) -> None:  # type: ignore[no-untyped-def]
    ms = trained.models
    binary = next(m for m in ms.models.values() if m.kind == "binary")
    card = model_card(binary, ms)
    d = card.as_dict()
    metrics = d["performance"]["metrics"]
    assert set(metrics) == {"c_statistic", "calibration_intercept", "calibration_slope", "brier"}
    for v in metrics.values():
        assert v["apparent"] is not None and v["corrected"] is not None
        assert v["corrected"] == pytest.approx(v["apparent"] - v["optimism"])
    assert metrics["calibration_slope"]["apparent"] == pytest.approx(1.0, abs=1e-6)
    assert d["performance"]["bootstrap"] == 50 and d["performance"]["n"] == binary.n == d["population"]["n"]
    assert d["population"]["n_events"] == binary.n_events
    assert len(d["reliability"]["bins"]) == 10 and sum(b["n"] for b in d["reliability"]["bins"]) == binary.n
    assert {a["option"] for a in d["minimum_data_rule"]["options"]} == set(binary.arms)
    rule = d["minimum_data_rule"]["rule"]
    assert "Peduzzi" in rule and "Nam-D'Agostino" in rule and "shrunk, not discarded" in rule
    assert d["training"]["snapshot"]["id"] and d["training"]["software_version"]
    assert any("SYNTHETIC" in x for x in d["limitations"])
    md = card.markdown()
    for text in ("C-statistic", "calibration intercept", "calibration slope", "Brier score", "optimism-corrected",
                 f"n = {binary.n}", "Peduzzi"):
        assert text in md, text
    # the card files written by train_models are these cards
    on_disk = json.loads((trained.out_dir / "cards" / f"{binary.model_id}.json").read_text())
    assert on_disk == json.loads(json.dumps(d))
    assert (trained.out_dir / "cards" / f"{binary.model_id}.md").read_text() == md


def test_reoperation_is_a_censored_time_to_event_model(trained) -> None:  # type: ignore[no-untyped-def]
    """The 2-year reoperation risk is 1 − S(730 | x) of an AFT model fitted to
    the censored times of the claim ``reoperation_free`` (nobody is dropped for short follow-up);
    its card names the distribution chosen by AIC and the calibration by risk group at day 730."""
    from spinetrack.analysis.claims import claim
    from spinetrack.analysis.design import outcome_spec
    from spinetrack.predict.spec import outcome_def

    o = outcome_def("reoperation_2y")
    assert (o.kind, o.prediction, o.horizon_days) == ("time_to_event", "probability", 730)
    assert dict(o.columns)["event"] == dict(outcome_spec(claim("reoperation_free")).columns)["event"]
    assert o.where == outcome_spec(claim("reoperation_free")).where
    assert "excluded" not in o.definition and "censored" in o.definition
    m = trained.models.models["discectomy.reoperation_2y.surgical"]
    assert m.kind == "time_to_event" and m.horizon_days == 730 and m.distribution in ("weibull", "lognormal",
                                                                                      "loglogistic")
    assert m.distribution_aic[m.distribution] == min(v for v in m.distribution_aic.values() if v is not None)
    d = model_card(m, trained.models).as_dict()
    assert d["calibration_by_group"]["time"] == 730 and d["method"]["distribution"] == m.distribution
    assert not any("excluded" in x for x in d["limitations"])
    md = model_card(m, trained.models).markdown()
    assert "Distribution (chosen by AIC)" in md and "(chosen)" in md and "Calibration by risk group" in md


def test_reliability_diagram_draws_the_model_groups(trained) -> None:  # type: ignore[no-untyped-def]
    """reports.prediction_plots draws what the model holds: one point per group (ten), an
    accessible title, deterministic output; for a censored outcome, the groups of its
    calibration check by risk group."""
    m = next(m for m in trained.models.models.values() if m.kind == "binary")
    svg = model_reliability_diagram(m)
    assert svg is not None and svg.startswith("<svg") and svg == model_reliability_diagram(m)
    assert "Reliability: " in svg and m.model_id in svg and "<desc" in svg
    for b in m.reliability.bins:
        assert f">{b.n}<" in svg
    # a time-to-event model: its calibration by risk group (Kaplan-Meier against predicted survival)
    tte = trained.models.models["discectomy.return_to_activity.surgical"]
    svg = model_reliability_diagram(tte)
    assert svg is not None and "Calibration by risk group" in svg and "Greenwood-Nam-D" in svg
    for n in tte.calibration_groups.n:
        assert f">{n}<" in svg


def test_a_covariate_without_events_is_dropped_before_an_aft_fit() -> None:
    """A 0/1 covariate with no event among the patients who have it (two patients with a
    missing baseline ODI and no reoperation, as in a 20,000-patient demo cohort) has no finite
    time ratio: the AFT likelihood keeps rising as it grows (oracle: fitted anyway, its
    coefficient runs off with a standard error above 10^6; on the demo cohort the fits failed).
    The trainer drops it and says why, as it drops a covariate that separates a binary outcome."""
    from spinetrack.predict.training import _fit
    from spinetrack.stats.aft import fit_aft

    g = np.random.default_rng(3)
    n = 600
    x = g.normal(size=n)
    rare = np.zeros(n)
    rare[:3] = 1.0
    t = np.exp(5 + 0.5 * x + 0.8 * g.normal(size=n))
    d = (t < 400).astype(float)
    t = np.minimum(t, 400.0)
    d[:3], t[:3] = 0.0, 400.0  # no event among the patients with the rare indicator
    X = np.column_stack([np.ones(n), x, rare])
    names = ["intercept", "x_age10", "x_odi0_missing"]
    # the oracle: no finite estimate. Fitted anyway, the coefficient runs off with a standard error above
    # 10^6 -- or, as floating point on some processors has it, the step halving gives up first
    try:
        assert fit_aft(X, t, d, "lognormal").standard_errors[2] > 1e6
    except InputError as exc:
        assert "step halving failed" in str(exc)
    fit, kept, dropped, selection = _fit("time_to_event", X, np.zeros(n), t, d, names, names)
    assert kept == ["intercept", "x_age10"] and selection is not None and fit.converged
    assert dropped == [("x_odi0_missing", "no event among the 3 patients with it in the training data (dropped: no "
                                          "finite estimate)")]
