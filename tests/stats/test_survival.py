"""Weighted Kaplan–Meier from grouped counts and RMST (``spinetrack.stats.survival``).

Oracles: lifelines ``KaplanMeierFitter().fit(durations, event_observed, weights=w)``
(survival, exponential-Greenwood = log(-log) CI) and ``lifelines.utils.
restricted_mean_survival_time``; exact identities for the RMST variance; a seeded bootstrap.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.exceptions import StatisticalWarning
from lifelines.utils import restricted_mean_survival_time as lifelines_rmst

from spinetrack.errors import InputError
from spinetrack.stats.survival import (
    at_risk_from_removals,
    grouped_counts_numpy,
    kaplan_meier_from_counts,
    restricted_mean_survival_time,
)


def _cohort(rng: np.random.Generator, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Days to return to activity (rounded to whole days, so there are ties), censored."""
    event_time = np.ceil(rng.weibull(1.3, n) * 40.0)
    censor_time = np.ceil(rng.uniform(5.0, 120.0, n))
    return np.minimum(event_time, censor_time), (event_time <= censor_time).astype(float)


def _curve(durations: np.ndarray, events: np.ndarray, w: np.ndarray | None = None, **kw):  # type: ignore[no-untyped-def]
    g = grouped_counts_numpy(durations, events, w)
    return kaplan_meier_from_counts(g.time, g.events, removals=g.removals, removals_w2=g.removals_w2, **kw)


def test_weighted_km_matches_lifelines() -> None:
    """Oracle: lifelines ``KaplanMeierFitter().fit(durations, event_observed, weights=w)``
    survival_function_ at every distinct time, with non-integer (propensity-like) weights.
    lifelines warns (StatisticalWarning) that its naive variance is biased for such weights —
    which is why only the survival is compared here. Tolerance: atol 1e-8 (seen: ~1e-15)."""
    rng = np.random.default_rng(2024)
    durations, events = _cohort(rng)
    w = rng.uniform(0.2, 3.0, durations.size)
    curve = _curve(durations, events, w)
    with pytest.warns(StatisticalWarning):
        kmf = KaplanMeierFitter().fit(durations, events, weights=w)
    expected = kmf.survival_function_.iloc[:, 0].loc[curve.time].to_numpy()
    np.testing.assert_allclose(curve.survival, expected, rtol=0, atol=1e-8)
    assert curve.n_initial == pytest.approx(w.sum(), rel=1e-12)


def test_unweighted_km_and_loglog_ci_match_lifelines() -> None:
    """Oracle: lifelines' default interval ("exponential Greenwood", i.e. log(-log) with
    Greenwood's variance), ``confidence_interval_`` at alpha = 0.05. Tolerance: atol 1e-8 on
    survival and both limits wherever lifelines' limits are finite (after the curve hits 0
    lifelines reports 0, we report NaN: the interval is undefined there)."""
    durations, events = _cohort(np.random.default_rng(11))
    curve = _curve(durations, events)
    kmf = KaplanMeierFitter().fit(durations, events)
    sf = kmf.survival_function_.iloc[:, 0].loc[curve.time].to_numpy()
    ci = kmf.confidence_interval_.loc[curve.time].to_numpy()
    np.testing.assert_allclose(curve.survival, sf, atol=1e-8, rtol=0)
    ok = curve.survival > 0
    assert ok.sum() > 20
    np.testing.assert_allclose(curve.ci_low[ok], ci[ok, 0], atol=1e-8, rtol=0)
    np.testing.assert_allclose(curve.ci_high[ok], ci[ok, 1], atol=1e-8, rtol=0)
    assert curve.ci_level == 0.95 and curve.ci_method == "log-log"


def test_frequency_weights_equal_expanded_rows_and_lifelines_ci() -> None:
    """Oracles: (1) the same rows repeated w times (frequency weights), and (2) lifelines with
    integer weights (its Greenwood term then uses exact integer counts). atol 1e-10 on the
    survival, variance and both CI limits."""
    rng = np.random.default_rng(5)
    durations, events = _cohort(rng, n=300)
    w = rng.integers(1, 4, durations.size).astype(float)
    weighted = _curve(durations, events, w)
    reps = w.astype(int)
    expanded = _curve(np.repeat(durations, reps), np.repeat(events, reps))
    for field in ("survival", "variance", "ci_low", "ci_high"):
        np.testing.assert_allclose(getattr(weighted, field), getattr(expanded, field), atol=1e-10, rtol=0)
    kmf = KaplanMeierFitter().fit(durations, events, weights=w)
    ci = kmf.confidence_interval_.loc[weighted.time].to_numpy()
    ok = weighted.survival > 0
    np.testing.assert_allclose(weighted.ci_low[ok], ci[ok, 0], atol=1e-10, rtol=0)


def test_at_risk_input_equals_removals_input() -> None:
    """Oracle: n_j = reverse cumulative sum of removals (the risk-set definition). Exact."""
    durations, events = _cohort(np.random.default_rng(1), n=200)
    g = grouped_counts_numpy(durations, events)
    n_risk = np.array([(durations >= s).sum() for s in g.time], dtype=float)
    np.testing.assert_array_equal(at_risk_from_removals(g.removals), n_risk)
    a = kaplan_meier_from_counts(g.time, g.events, removals=g.removals)
    b = kaplan_meier_from_counts(g.time, g.events, at_risk=n_risk)
    np.testing.assert_array_equal(a.survival, b.survival)
    np.testing.assert_array_equal(a.variance, b.variance)


def test_kish_variance_equals_greenwood_for_unit_weights_and_is_scale_free() -> None:
    """Oracle: with unit weights M_j = n_j, so the Kish variant reduces to Greenwood (rtol
    1e-12); multiplying all weights by 7 leaves the Kish variance unchanged (rtol 1e-10) but
    divides the naive weighted Greenwood by 7 — why the Kish form exists."""
    rng = np.random.default_rng(8)
    durations, events = _cohort(rng, n=400)
    ones = np.ones_like(durations)
    g = _curve(durations, events, ones)
    k = _curve(durations, events, ones, variance="kish")
    ok = g.survival > 0
    np.testing.assert_allclose(k.variance[ok], g.variance[ok], rtol=1e-12)
    w = rng.uniform(0.3, 2.5, durations.size)
    k1 = _curve(durations, events, w, variance="kish")
    k7 = _curve(durations, events, 7 * w, variance="kish")
    g1 = _curve(durations, events, w)
    g7 = _curve(durations, events, 7 * w)
    ok = k1.survival > 0
    np.testing.assert_allclose(k7.variance[ok], k1.variance[ok], rtol=1e-10)
    np.testing.assert_allclose(g7.variance[ok], g1.variance[ok] / 7, rtol=1e-10)


def test_rmst_matches_lifelines() -> None:
    """Oracle: ``lifelines.utils.restricted_mean_survival_time(kmf, t=horizon)`` (exact area
    under the KM step function), weighted and unweighted. Tolerance rtol 1e-10."""
    rng = np.random.default_rng(21)
    durations, events = _cohort(rng)
    w = rng.integers(1, 3, durations.size).astype(float)
    for weights in (None, w):
        curve = _curve(durations, events, weights)
        kmf = KaplanMeierFitter().fit(durations, events, weights=weights)
        for horizon in (30.0, 60.5, 200.0):
            rmst = restricted_mean_survival_time(curve, horizon)
            assert rmst.estimate == pytest.approx(lifelines_rmst(kmf, t=horizon), rel=1e-10)


def test_rmst_variance_without_censoring_is_plugin_variance_of_mean() -> None:
    """Oracle (exact identity, derived): with no censoring and unit weights the KM curve is the
    empirical survival function and the Klein–Moeschberger variance
    SUM_j A_j^2 d_j / (n_j (n_j - d_j)) equals Var_plugin(min(T, tau)) / n =
    SUM_i (m_i - mean m)^2 / n^2. Tolerance rtol 1e-10."""
    rng = np.random.default_rng(4)
    t = np.ceil(rng.exponential(20.0, 500))
    curve = _curve(t, np.ones_like(t))
    for horizon in (10.0, 25.0, 1000.0):
        m = np.minimum(t, horizon)
        rmst = restricted_mean_survival_time(curve, horizon)
        assert rmst.estimate == pytest.approx(m.mean(), rel=1e-12)
        assert rmst.variance == pytest.approx(np.sum((m - m.mean()) ** 2) / m.size**2, rel=1e-10)
        assert rmst.ci_low < rmst.estimate < rmst.ci_high


def test_rmst_standard_error_agrees_with_bootstrap_under_censoring() -> None:
    """Oracle: nonparametric bootstrap (B = 400 resamples of rows, seeded) of the RMST at 60
    days with censoring. Monte Carlo band: SE ratio in [0.85, 1.15] (the bootstrap SE has
    ~3.5% relative sd at B = 400)."""
    rng = np.random.default_rng(77)
    durations, events = _cohort(rng, n=500)
    rmst = restricted_mean_survival_time(_curve(durations, events), 60.0)
    boot = np.empty(400)
    for b in range(boot.size):
        idx = rng.integers(0, durations.size, durations.size)
        boot[b] = restricted_mean_survival_time(_curve(durations[idx], events[idx]), 60.0).estimate
    assert 0.85 <= rmst.standard_error / boot.std(ddof=1) <= 1.15


def test_curve_edges_step_function_and_serialisation() -> None:
    """Hand-computed: times 1, 2, 3 with (events, removals) (0, 1), (1, 2), (1, 1):
    n = 4, 3, 1; S = 1, 2/3, 0. Before any event the interval is [1, 1]; at S = 0 the
    variance and interval are undefined (NaN)."""
    curve = kaplan_meier_from_counts([1.0, 2.0, 3.0], [0.0, 1.0, 1.0], removals=[1.0, 2.0, 1.0])
    np.testing.assert_allclose(curve.survival, [1.0, 2.0 / 3.0, 0.0])
    assert curve.ci_low[0] == curve.ci_high[0] == 1.0 and curve.variance[0] == 0.0
    assert curve.variance[1] == pytest.approx((2 / 3) ** 2 * (1 / (3 * 2)), rel=1e-14)
    assert np.isnan(curve.ci_low[2]) and np.isnan(curve.variance[2])
    np.testing.assert_allclose(curve.survival_at([0.5, 1.0, 2.5, 10.0]), [1.0, 1.0, 2 / 3, 0.0])
    d = json.loads(json.dumps(curve.as_dict()))
    assert d["ci_low"][2] is None and d["survival"][1] == pytest.approx(2 / 3)
    with pytest.raises(AttributeError):
        curve.ci_level = 0.9  # type: ignore[misc]


def test_survival_refuses_bad_input() -> None:
    with pytest.raises(InputError, match="strictly increasing"):
        kaplan_meier_from_counts([2.0, 1.0], [1.0, 1.0], removals=[1.0, 1.0])
    with pytest.raises(InputError, match="exactly one"):
        kaplan_meier_from_counts([1.0], [1.0])
    with pytest.raises(InputError, match="exceed"):
        kaplan_meier_from_counts([1.0], [3.0], at_risk=[2.0])
    with pytest.raises(InputError, match="increase"):
        kaplan_meier_from_counts([1.0, 2.0], [0.0, 1.0], at_risk=[2.0, 3.0])
    with pytest.raises(InputError, match="kish"):
        kaplan_meier_from_counts([1.0], [1.0], removals=[2.0], variance="kish")
    with pytest.raises(InputError):
        kaplan_meier_from_counts([1.0], [1.0], removals=[2.0], ci_level=1.5)
    with pytest.raises(InputError):
        grouped_counts_numpy(np.array([1.0, -1.0]), np.array([1, 0]))
    curve = kaplan_meier_from_counts([1.0], [1.0], removals=[2.0])
    with pytest.raises(InputError, match="horizon"):
        restricted_mean_survival_time(curve, 0.0)
