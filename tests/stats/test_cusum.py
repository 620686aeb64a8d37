"""Risk-adjusted CUSUM (``spinetrack.stats.cusum``).

Oracles, named in each test:
- Steiner SH, Cook RJ, Farewell VT, Treasure T. Biostatistics 2000;1(4):441-452, §2: the weight
  ``W_t = y_t log(R_A) - log(1 - p_t + R_A p_t)``, the chart ``X_t = max(0, X_{t-1} + W_t)``, the
  signal at ``h`` and the restart; worked here by hand for eight patients, and checked against the
  Bernoulli log-likelihood ratio written out.
- The average run length of the Markov-chain approximation (Brook & Evans, Biometrika 1972;59:539-549,
  as in Steiner et al. §3) against a seeded simulation of the chart itself, with the simulation's
  standard error stated; the bound is 3 standard errors.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from spinetrack.errors import ValidationError
from spinetrack.stats import cusum
from spinetrack.stats.cusum import (
    average_run_length,
    control_limit,
    cusum_weights,
    run_cusum,
    simulate_run_lengths,
)

# Eight patients in operation order: predicted risk and outcome (1 = complication).
P8 = np.array([0.05, 0.10, 0.20, 0.30, 0.10, 0.50, 0.05, 0.15])
Y8 = np.array([0, 1, 1, 0, 1, 1, 1, 0])


def _patient_mix(seed: int = 2000, size: int = 600) -> np.ndarray:
    """A seeded patient mix: complication risks Beta(1.5, 15) (mean 9%), kept inside (0.001, 0.9)."""
    return np.clip(np.random.default_rng(seed).beta(1.5, 15.0, size=size), 0.001, 0.9)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(cusum, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_weights_chart_reset_and_alarm_by_hand_deterioration() -> None:
    """R_A = 2, so 1 - p + 2p = 1 + p and W = y log 2 - log(1 + p), log 2 = 0.693147:

    t  p     y  W                                   X (h = 1.5)
    0  0.05  0  -log 1.05            = -0.048790    0
    1  0.10  1  0.693147 - 0.095310  =  0.597837    0.597837
    2  0.20  1  0.693147 - 0.182322  =  0.510826    1.108663
    3  0.30  0  -log 1.30            = -0.262364    0.846299
    4  0.10  1  0.597837                            1.444136
    5  0.50  1  0.693147 - 0.405465  =  0.287682    1.731818  >= 1.5: alarm, restart from 0
    6  0.05  1  0.693147 - 0.048790  =  0.644357    0.644357
    7  0.15  0  -log 1.15            = -0.139762    0.504595

    Without the restart the chart goes on 2.376175, 2.236413 and signals once (at t = 5)."""
    want_w = [-0.048790, 0.597837, 0.510826, -0.262364, 0.597837, 0.287682, 0.644357, -0.139762]
    np.testing.assert_allclose(cusum_weights(Y8, P8, 2.0), want_w, atol=1e-6)
    path = run_cusum(Y8, P8, odds_ratio=2.0, h=1.5)
    np.testing.assert_allclose(path.values, [0, 0.597837, 1.108663, 0.846299, 1.444136, 1.731818, 0.644357,
                                             0.504595], atol=2e-6)
    assert path.alarms.tolist() == [5]
    no_reset = run_cusum(Y8, P8, odds_ratio=2.0, h=1.5, reset=False)
    np.testing.assert_allclose(no_reset.values[5:], [1.731818, 2.376175, 2.236413], atol=2e-6)
    assert no_reset.alarms.tolist() == [5]
    assert path.as_dict()["alarms"] == [5] and path.as_dict()["h"] == 1.5


def test_weights_chart_by_hand_improvement() -> None:
    """R_A = 1/2 (Steiner et al.'s chart for improvement): 1 - p + p/2 = 1 - p/2 and
    W = -y log 2 - log(1 - p/2); a patient without complication adds, one with a complication
    subtracts. With h = 0.25:

    t  p     y  W                                   X
    0  0.05  0  -log 0.975           =  0.025318    0.025318
    1  0.10  1  -0.693147 + 0.051293 = -0.641854    0
    2  0.20  1  -0.693147 + 0.105361 = -0.587787    0
    3  0.30  0  -log 0.85            =  0.162519    0.162519
    4  0.10  1  -0.641854                           0
    5  0.50  1  -0.693147 + 0.287682 = -0.405465    0
    6  0.05  1  -0.693147 + 0.025318 = -0.667829    0
    7  0.15  0  -log 0.925           =  0.077962    0.077962   (no alarm)

    and with three complication-free high-risk patients (p = 0.3) the chart climbs 0.162519 a step
    and signals at the second (0.325038 >= 0.25)."""
    want_w = [0.025318, -0.641854, -0.587787, 0.162519, -0.641854, -0.405465, -0.667829, 0.077962]
    np.testing.assert_allclose(cusum_weights(Y8, P8, 0.5), want_w, atol=1e-6)
    path = run_cusum(Y8, P8, odds_ratio=0.5, h=0.25)
    np.testing.assert_allclose(path.values, [0.025318, 0, 0, 0.162519, 0, 0, 0, 0.077962], atol=1e-6)
    assert path.alarms.size == 0
    good = run_cusum(np.zeros(3), np.full(3, 0.3), odds_ratio=0.5, h=0.25)
    np.testing.assert_allclose(good.values, [0.162519, 0.325038, 0.162519], atol=1e-6)
    assert good.alarms.tolist() == [1]


def test_weights_are_the_bernoulli_log_likelihood_ratio() -> None:
    """log[p1^y (1 - p1)^(1 - y)] - log[p^y (1 - p)^(1 - y)] with p1 = R p / (1 - p + R p): the odds
    of p1 are R times the odds of p (Steiner et al. §2)."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.95, size=50)
    y = (rng.random(50) < 0.3).astype(float)
    for r in (2.0, 0.5, 1.7):
        p1 = r * p / (1 - p + r * p)
        np.testing.assert_allclose(p1 / (1 - p1), r * p / (1 - p), rtol=1e-12)
        want = y * np.log(p1 / p) + (1 - y) * np.log((1 - p1) / (1 - p))
        np.testing.assert_allclose(cusum_weights(y, p, r), want, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("odds_ratio", "h"), [(2.0, 3.0), (0.5, 2.5)])
def test_markov_chain_arl_agrees_with_simulation(odds_ratio: float, h: float) -> None:
    """In-control ARL (outcomes at the model's risks) by the 400-state Markov chain against 2,000
    seeded simulated charts on the same patient mix. The simulated ARL's standard error is
    sd / sqrt(2000), about 2.2% of the ARL (run lengths are close to geometric); the two agree
    within 3 standard errors. Also the out-of-control ARL when the odds are truly R_A times the
    model's (the chart's own alternative)."""
    mix = _patient_mix()
    arl_mc = average_run_length(h, mix, odds_ratio=odds_ratio)
    runs = simulate_run_lengths(mix, odds_ratio=odds_ratio, h=h, n_runs=2000, rng=np.random.default_rng(11))
    se = runs.std(ddof=1) / math.sqrt(runs.size)
    assert 0.015 < se / runs.mean() < 0.03
    assert abs(arl_mc - runs.mean()) < 3 * se, (arl_mc, runs.mean(), se)
    arl1_mc = average_run_length(h, mix, odds_ratio=odds_ratio, true_odds_ratio=odds_ratio)
    runs1 = simulate_run_lengths(mix, odds_ratio=odds_ratio, h=h, n_runs=2000, rng=np.random.default_rng(12),
                                 true_odds_ratio=odds_ratio)
    se1 = runs1.std(ddof=1) / math.sqrt(runs1.size)
    assert abs(arl1_mc - runs1.mean()) < 3 * se1, (arl1_mc, runs1.mean(), se1)
    assert arl1_mc < arl_mc / 4


def test_markov_chain_converges_with_more_states() -> None:
    """The discretisation error shrinks: 400 states are within 1% of 1,600."""
    mix = _patient_mix()
    fine = average_run_length(3.0, mix, odds_ratio=2.0, n_states=1600)
    assert average_run_length(3.0, mix, odds_ratio=2.0) == pytest.approx(fine, rel=0.01)
    assert average_run_length(2.0, mix, odds_ratio=2.0) < average_run_length(3.0, mix, odds_ratio=2.0)


@pytest.mark.parametrize("odds_ratio", [2.0, 0.5])
def test_control_limit_gives_the_stated_in_control_run_length(odds_ratio: float) -> None:
    """control_limit(arl0 = 1000): the ARL at h is within 2% of 1000 by the chain (and by a finer
    chain of 1,600 states), and 2,000 seeded simulated charts at h give 1000 within 3 standard errors."""
    mix = _patient_mix()
    limit = control_limit(mix, odds_ratio=odds_ratio, arl0=1000.0)
    assert abs(limit.arl0_achieved - 1000.0) / 1000.0 < 0.02
    fine = average_run_length(limit.h, mix, odds_ratio=odds_ratio, n_states=1600)
    assert abs(fine - 1000.0) / 1000.0 < 0.02
    runs = simulate_run_lengths(mix, odds_ratio=odds_ratio, h=limit.h, n_runs=2000,
                                rng=np.random.default_rng(21))
    se = runs.std(ddof=1) / math.sqrt(runs.size)
    assert abs(runs.mean() - 1000.0) < 3 * se, (runs.mean(), se)
    assert "Markov" in limit.method and limit.odds_ratio == odds_ratio and limit.arl0 == 1000.0
    assert set(limit.as_dict()) == {"h", "arl0_achieved", "method", "arl0", "odds_ratio", "n_states"}
    # a longer in-control run needs a higher limit
    assert control_limit(mix, odds_ratio=odds_ratio, arl0=5000.0).h > limit.h


def test_bad_input_names_the_field_and_allowed_values() -> None:
    with pytest.raises(ValidationError) as err:
        cusum_weights(np.array([0, 1]), np.array([0.2, 1.0]), 2.0)
    assert err.value.field == "p" and "strictly between 0 and 1" in err.value.allowed
    with pytest.raises(ValidationError) as err:
        cusum_weights(np.array([0, 2]), np.array([0.2, 0.3]), 2.0)
    assert err.value.field == "y" and "0 or 1" in err.value.allowed
    with pytest.raises(ValidationError) as err:
        cusum_weights(np.array([0]), np.array([0.2]), 1.0)
    assert err.value.field == "odds_ratio"
    with pytest.raises(ValidationError) as err:
        run_cusum(np.array([0]), np.array([0.2]), odds_ratio=2.0, h=0.0)
    assert err.value.field == "h"
    with pytest.raises(ValidationError) as err:
        control_limit(np.array([0.1, 0.2]), odds_ratio=2.0, arl0=1.0)
    assert err.value.field == "arl0" and "greater than 1" in err.value.allowed
    with pytest.raises(ValidationError) as err:
        control_limit(np.array([0.1, -0.2]), odds_ratio=2.0, arl0=100.0)
    assert err.value.field == "p_sample"
    with pytest.raises(ValidationError) as err:
        control_limit(np.array([0.1, 0.2]), odds_ratio=2.0, arl0=1e9, h_max=5.0)
    assert err.value.field == "arl0" and "h <= 5" in err.value.allowed
    with pytest.raises(ValidationError) as err:
        average_run_length(3.0, np.array([0.1]), odds_ratio=2.0, n_states=5)
    assert err.value.field == "n_states"
