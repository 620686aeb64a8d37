"""Funnel plots (``spinetrack.stats.funnel``): limits, O/E intervals, overdispersion, shrinkage, flags.

Oracles, named in each test:
- Spiegelhalter DJ, Stat Med 2005;24:1185-1202: the variance function of Table I, the normal limits
  ``theta0 ± z sqrt(g(theta0) / rho)``, the exact limits for counts with the interpolation of the
  appendix (``r_q`` the smallest count with ``P(R <= r_q) >= q``, ``alpha = (P(R <= r_q) - q) /
  P(R = r_q)``, limit ``(r_q - alpha) / rho``) computed here with ``scipy.stats.binom`` /
  ``scipy.stats.poisson``; the overdispersed limits ``theta0 ± z sqrt(phi s^2)`` and
  ``theta0 ± z sqrt(s^2 + tau2)``; §6's winsorised ``phi`` and moment estimator of ``tau2``, written
  out by hand below.
- Garwood's exact Poisson interval from ``scipy.stats.chi2`` quantiles, and the commonly tabulated
  exact 95% limits for 10 events, 4.795 to 18.39.
- The normal-normal posterior mean written in its precision-weighted form.
"""

from __future__ import annotations

import doctest
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from spinetrack.errors import ValidationError
from spinetrack.stats import funnel
from spinetrack.stats.funnel import (
    Overdispersion,
    choose_overdispersion,
    estimate_overdispersion,
    flag,
    funnel_limits,
    null_standard_error,
    oe_interval,
    overdispersion_parameters,
    shrink,
)

SRC = Path(__file__).resolve().parents[2] / "src"
Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)
Z998 = 3.090232306167813  # scipy.stats.norm.ppf(0.999)


def _interpolated_quantile(dist: sps.rv_discrete, q: float) -> float:
    """The paper's interpolated quantile ``r_q - alpha`` of a frozen scipy discrete distribution."""
    r = dist.ppf(q)
    alpha = (dist.cdf(r) - q) / dist.pmf(r)
    return float(r - alpha)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(funnel, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_import_is_pure() -> None:
    """Importing the funnel and CUSUM modules loads no scipy, pandas or statsmodels (the pure-core
    rule of ``spinetrack.stats``; these tests use scipy only as the oracle)."""
    code = ("import sys, spinetrack.stats.funnel, spinetrack.stats.cusum\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {'scipy', 'pandas', 'statsmodels'})))")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


# --- limits ------------------------------------------------------------------------------------


def test_binomial_exact_limits_match_the_papers_interpolation_p0_0_1() -> None:
    """p0 = 0.1, n = 100 and 1000: each limit is (r_q - alpha) / n with r_q and alpha from
    scipy.stats.binom (Spiegelhalter 2005, appendix), to 1e-9. Worked by hand for n = 100, upper 95%:
    r = 16, P(R <= 16) = 0.9794012, P(R = 16) = 0.0192917, alpha = (0.9794012 - 0.975) / 0.0192917
    = 0.22811, limit = 15.77189 / 100 = 0.157719."""
    n = np.array([100.0, 1000.0])
    lim = funnel_limits(0.1, n, kind="proportion")
    for level, q_low, q_high in ((0.95, 0.025, 0.975), (0.998, 0.001, 0.999)):
        lower, upper = lim[level]
        for i, size in enumerate((100, 1000)):
            dist = sps.binom(size, 0.1)
            assert lower[i] == pytest.approx(_interpolated_quantile(dist, q_low) / size, rel=1e-9)
            assert upper[i] == pytest.approx(_interpolated_quantile(dist, q_high) / size, rel=1e-9)
    assert lim[0.95][1][0] == pytest.approx(0.157719, abs=1e-6)
    assert lim[0.95][0][0] == pytest.approx(0.040381, abs=1e-6)
    assert lim[0.998][0][1] == pytest.approx(0.071341, abs=1e-6)
    assert lim[0.998][1][1] == pytest.approx(0.129918, abs=1e-6)


def test_binomial_normal_approximation_is_p0_plus_minus_z_sd() -> None:
    """p0 ± z sqrt(p0 (1 - p0) / n) (Spiegelhalter 2005, §3): n = 100 gives 0.1 ± 1.959964 × 0.03
    = 0.041201 to 0.158799 and 0.1 ± 3.090232 × 0.03 = 0.007293 to 0.192707."""
    n = np.array([100.0, 1000.0])
    lim = funnel_limits(0.1, n, kind="proportion", exact=False)
    sd = np.sqrt(0.1 * 0.9 / n)
    np.testing.assert_allclose(lim[0.95][0], 0.1 - Z95 * sd, rtol=1e-12)
    np.testing.assert_allclose(lim[0.95][1], 0.1 + Z95 * sd, rtol=1e-12)
    np.testing.assert_allclose(lim[0.998][0], 0.1 - Z998 * sd, rtol=1e-12)
    np.testing.assert_allclose(lim[0.998][1], 0.1 + Z998 * sd, rtol=1e-12)
    assert (round(float(lim[0.95][0][0]), 6), round(float(lim[0.95][1][0]), 6)) == (0.041201, 0.158799)
    assert (round(float(lim[0.998][0][0]), 6), round(float(lim[0.998][1][0]), 6)) == (0.007293, 0.192707)
    # the exact and normal limits come together as n grows
    big = funnel_limits(0.1, np.array([1e6]), kind="proportion")
    big_normal = funnel_limits(0.1, np.array([1e6]), kind="proportion", exact=False)
    assert big[0.998][1][0] == pytest.approx(big_normal[0.998][1][0], rel=2e-4)


@pytest.mark.parametrize("expected", [0.5, 3.0, 10.0, 100.0, 2500.5])
def test_poisson_ratio_limits_match_exact_quantiles(expected: float) -> None:
    """O ~ Poisson(E) under the null, O/E limits (r_q - alpha) / E from scipy.stats.poisson, to 1e-9;
    a lower limit below 0 (tiny E, where no events is unremarkable) is shown as 0."""
    lim = funnel_limits(1.0, np.array([expected]), kind="ratio")
    dist = sps.poisson(expected)
    for level, q_low, q_high in ((0.95, 0.025, 0.975), (0.998, 0.001, 0.999)):
        lower, upper = lim[level]
        assert lower[0] == pytest.approx(max(0.0, _interpolated_quantile(dist, q_low) / expected), rel=1e-9, abs=1e-12)
        assert upper[0] == pytest.approx(_interpolated_quantile(dist, q_high) / expected, rel=1e-9)


def test_poisson_limits_cross_checked_with_chi2_identity() -> None:
    """P(O <= r) = P(chi2_{2(r+1)} > 2E): the count at the upper 99.8% limit of E = 10 is the
    smallest r with chi2.sf(20, 2(r+1)) >= 0.999 (r = 21), and the limit lies in (20/10, 21/10]."""
    upper = funnel_limits(1.0, np.array([10.0]), kind="ratio")[0.998][1][0]
    r = next(k for k in range(100) if sps.chi2.sf(20.0, 2 * (k + 1)) >= 0.999)
    assert r == 21
    assert 2.0 < upper <= 2.1
    cdf_r, cdf_below = sps.chi2.sf(20.0, 2 * (r + 1)), sps.chi2.sf(20.0, 2 * r)
    assert upper == pytest.approx((r - (cdf_r - 0.999) / (cdf_r - cdf_below)) / 10.0, rel=1e-9)


def test_ratio_with_another_target_scales_the_poisson_mean() -> None:
    """Target ratio 1.2: O ~ Poisson(1.2 E); limits (r_q - alpha) / E."""
    lim = funnel_limits(1.2, np.array([50.0]), kind="ratio", levels=(0.95,))
    assert lim[0.95][1][0] == pytest.approx(_interpolated_quantile(sps.poisson(60.0), 0.975) / 50.0, rel=1e-9)


def test_multiplicative_and_additive_adjustments_follow_the_formulas() -> None:
    """Spiegelhalter 2005 §6: theta0 ± z sqrt(phi s^2) and theta0 ± z sqrt(s^2 + tau2), with
    s^2 = theta0 / E for a ratio and p0 (1 - p0) / n for a proportion. E = 25: s^2 = 0.04;
    phi = 2.5 gives 1 ± 1.959964 × sqrt(0.1) = 0.380205 to 1.619795."""
    e = np.array([5.0, 25.0, 400.0])
    s2 = 1.0 / e
    mult = funnel_limits(1.0, e, kind="ratio", phi=2.5)
    add = funnel_limits(1.0, e, kind="ratio", tau2=0.01)
    for level, z in ((0.95, Z95), (0.998, Z998)):
        np.testing.assert_allclose(mult[level][1], 1.0 + z * np.sqrt(2.5 * s2), rtol=1e-12)
        np.testing.assert_allclose(mult[level][0], np.maximum(0.0, 1.0 - z * np.sqrt(2.5 * s2)), rtol=1e-12)
        np.testing.assert_allclose(add[level][1], 1.0 + z * np.sqrt(s2 + 0.01), rtol=1e-12)
        np.testing.assert_allclose(add[level][0], np.maximum(0.0, 1.0 - z * np.sqrt(s2 + 0.01)), rtol=1e-12)
    assert mult[0.95][0][1] == pytest.approx(0.380205, abs=1e-6)
    assert mult[0.95][1][1] == pytest.approx(1.619795, abs=1e-6)
    # additive limits level off at ± z tau for large units; multiplicative ones keep narrowing
    huge = np.array([1e7])
    assert funnel_limits(1.0, huge, kind="ratio", tau2=0.01)[0.95][1][0] == pytest.approx(1 + Z95 * 0.1, rel=1e-5)
    assert funnel_limits(1.0, huge, kind="ratio", phi=2.5)[0.95][1][0] < 1.002
    prop = funnel_limits(0.2, np.array([50.0]), kind="proportion", phi=1.8, tau2=0.0)
    assert prop[0.95][1][0] == pytest.approx(0.2 + Z95 * math.sqrt(1.8 * 0.2 * 0.8 / 50), rel=1e-12)


def test_mean_limits_use_precision_n_over_sigma2() -> None:
    """A mean with known sigma: rho = n / sigma^2, limits mu0 ± z / sqrt(rho); n = 40, sigma = 6,
    mu0 = 4.5 days: 4.5 ± 1.959964 × 6 / sqrt(40) = 2.640615 to 6.359385 (6 / sqrt(40) = 0.948683)."""
    rho = np.array([40.0 / 36.0])
    lim = funnel_limits(4.5, rho, kind="mean")
    assert lim[0.95][0][0] == pytest.approx(4.5 - Z95 * 6 / math.sqrt(40), rel=1e-12)
    assert lim[0.95][1][0] == pytest.approx(6.359385, abs=1e-6)
    added = funnel_limits(4.5, rho, kind="mean", tau2=0.25, levels=(0.998,))
    assert added[0.998][1][0] == pytest.approx(4.5 + Z998 * math.sqrt(36 / 40 + 0.25), rel=1e-12)
    np.testing.assert_allclose(null_standard_error(4.5, rho, kind="mean"), [6 / math.sqrt(40)])
    np.testing.assert_allclose(null_standard_error(0.1, np.array([100.0]), kind="proportion"), [0.03])


def test_exact_limits_hold_the_false_alarm_rate_under_the_null() -> None:
    """Units drawn from the null (O ~ Poisson(E)) fall outside the exact 95% limits about 5% of the
    time and outside the 99.8% limits about 0.2% (seeded, 20,000 units with E from 5 to 200;
    binomial standard errors 0.15% and 0.03%, bounds at 3 of them plus discreteness)."""
    rng = np.random.default_rng(21)
    e = rng.uniform(5.0, 200.0, size=20_000)
    oe = rng.poisson(e) / e
    lim = funnel_limits(1.0, e, kind="ratio")
    flags = flag(oe, *lim[0.95], *lim[0.998])
    outside95 = np.mean([f != "ok" for f in flags])
    outside998 = np.mean([f == "alarm" for f in flags])
    assert 0.043 < outside95 < 0.057
    assert 0.0007 < outside998 < 0.0032


# --- O/E intervals -----------------------------------------------------------------------------


def test_garwood_interval_for_ten_events_matches_the_published_table() -> None:
    """Exact 95% limits for O = 10: 4.795 to 18.39 (the tabulated values; chi2.ppf(0.025, 20) / 2 =
    9.5908 / 2 and chi2.ppf(0.975, 22) / 2 = 36.7807 / 2); over E = 10 that is 0.4795 to 1.839."""
    low, high = oe_interval(10, 10.0, kind="binary")
    assert round(low * 10, 3) == 4.795
    assert round(high * 10, 2) == 18.39


@pytest.mark.parametrize("observed", [0, 1, 3, 25, 137])
@pytest.mark.parametrize("level", [0.95, 0.998])
def test_garwood_interval_against_chi2_quantiles(observed: int, level: float) -> None:
    """Lower chi2.ppf((1-level)/2, 2 O) / 2 (0 for O = 0), upper chi2.ppf((1+level)/2, 2 O + 2) / 2,
    both over E; to 1e-8."""
    expected = 12.5
    low, high = oe_interval(observed, expected, kind="binary", level=level)
    want_low = 0.0 if observed == 0 else sps.chi2.ppf((1 - level) / 2, 2 * observed) / 2
    want_high = sps.chi2.ppf((1 + level) / 2, 2 * observed + 2) / 2
    assert low == pytest.approx(want_low / expected, rel=1e-8, abs=1e-15)
    assert high == pytest.approx(want_high / expected, rel=1e-8)


def test_continuous_oe_interval_is_o_plus_minus_z_sd_over_e() -> None:
    """(O ± z sqrt(V)) / E: O = 50, V = 16, E = 40 gives (50 ± 1.959964 × 4) / 40 = 1.054000 to 1.446000."""
    low, high = oe_interval(50.0, 40.0, kind="continuous", variance=16.0)
    assert low == pytest.approx((50 - Z95 * 4) / 40, rel=1e-12)
    assert high == pytest.approx((50 + Z95 * 4) / 40, rel=1e-12)
    low998, _ = oe_interval(50.0, 40.0, kind="continuous", variance=16.0, level=0.998)
    assert low998 == pytest.approx((50 - Z998 * 4) / 40, rel=1e-12)


# --- overdispersion ----------------------------------------------------------------------------


Z_HAND = np.array([-3.0, -1.2, -0.5, 0.0, 0.3, 0.8, 1.1, 1.5, 2.0, 4.0])
SE_HAND = np.array([0.1, 0.1, 0.2, 0.2, 0.25, 0.25, 0.5, 0.5, 0.5, 1.0])


def test_phi_from_winsorised_z_scores_by_hand() -> None:
    """Spiegelhalter 2005 §6 on ten z-scores, winsorised at 10%. The 10th percentile (linear
    interpolation, position 0.9) is -3.0 + 0.9 × 1.8 = -1.38 and the 90th (position 8.1) is
    2.0 + 0.1 × 2.0 = 2.2, so -3.0 becomes -1.38 and 4.0 becomes 2.2; the squares sum to
    1.9044 + 1.44 + 0.25 + 0 + 0.09 + 0.64 + 1.21 + 2.25 + 4.0 + 4.84 = 16.6244: phi = 1.66244,
    chi-square I phi = 16.6244 on 9 df (target estimated)."""
    od = estimate_overdispersion(Z_HAND, SE_HAND)
    winsorised = np.array([-1.38, -1.2, -0.5, 0.0, 0.3, 0.8, 1.1, 1.5, 2.0, 2.2])
    assert od.phi == pytest.approx(float(np.mean(winsorised**2)), rel=1e-12)
    assert od.phi == pytest.approx(1.66244, rel=1e-12)
    assert od.chi2 == pytest.approx(16.6244, rel=1e-12)
    assert (od.df, od.n_units) == (9, 10)
    assert od.p_value == pytest.approx(sps.chi2.sf(16.6244, 9), rel=1e-9)
    external = estimate_overdispersion(Z_HAND, SE_HAND, target_estimated=False)
    assert external.df == 10 and external.p_value == pytest.approx(sps.chi2.sf(16.6244, 10), rel=1e-9)
    # no winsorising: the plain mean of squares
    raw = estimate_overdispersion(Z_HAND, SE_HAND, winsor=0.0)
    assert raw.phi == pytest.approx(float(np.mean(Z_HAND**2)), rel=1e-12)


def test_tau2_by_the_moment_formula() -> None:
    """tau2 = (I phi - (I - 1)) / (sum w - sum w^2 / sum w), w = 1 / s^2 (Spiegelhalter 2005 §6):
    w = 100, 100, 25, 25, 16, 16, 4, 4, 4, 1; sum w = 295, sum w^2 = 21811;
    tau2 = (16.6244 - 9) / (295 - 21811 / 295) = 7.6244 / 221.064407 = 0.0344895."""
    od = estimate_overdispersion(Z_HAND, SE_HAND)
    assert od.tau2 == pytest.approx((16.6244 - 9) / (295 - 21811 / 295), rel=1e-12)
    assert od.tau2 == pytest.approx(0.0344895, rel=1e-5)
    # less spread than chance: tau2 is truncated at 0
    calm = estimate_overdispersion(np.array([-0.5, 0.2, 0.1, -0.3, 0.4]), np.full(5, 0.2))
    assert calm.tau2 == 0.0 and calm.phi < 1.0


def test_overdispersion_is_recovered_from_simulated_units() -> None:
    """Seeded: 200 units with true ratios drawn around 1 with between-unit sd 0.15 (tau2 = 0.0225)
    and O ~ Poisson(theta E): the test rejects and the moment tau2 is within 0.01 of 0.0225; with no
    between-unit variation it does not reject and phi is near 1."""
    rng = np.random.default_rng(7)
    e = rng.uniform(20.0, 300.0, size=200)
    se = null_standard_error(1.0, e, kind="ratio")
    theta = rng.normal(1.0, 0.15, size=200)
    y = rng.poisson(theta * e) / e
    od = estimate_overdispersion((y - 1.0) / se, se, winsor=0.0)
    assert od.p_value < 1e-6
    assert abs(od.tau2 - 0.0225) < 0.01
    y0 = rng.poisson(e) / e
    od0 = estimate_overdispersion((y0 - 1.0) / se, se)
    assert od0.p_value > 0.05 and 0.7 < od0.phi < 1.3


def test_single_unit_cannot_be_tested() -> None:
    od = estimate_overdispersion(np.array([2.5]), np.array([0.1]))
    assert od.df == 0 and math.isnan(od.p_value) and od.tau2 == 0.0
    assert od.as_dict()["p_value"] is None
    method, reason = choose_overdispersion(od)
    assert method == "none" and "too few units" in reason


def test_choose_overdispersion_auto_and_forced() -> None:
    rejected = Overdispersion(phi=3.0, tau2=0.02, chi2=60.0, df=19, p_value=3.6e-06, n_units=20)
    method, reason = choose_overdispersion(rejected)
    assert method == "additive"
    assert "Spiegelhalter 2005" in reason and "tau2 = 0.02" in reason and "p < 0.0001" in reason
    assert overdispersion_parameters(rejected, method) == (1.0, 0.02)
    quiet = Overdispersion(phi=1.1, tau2=0.001, chi2=20.9, df=19, p_value=0.34, n_units=20)
    method, reason = choose_overdispersion(quiet)
    assert method == "none" and "p = 0.3400" in reason
    assert overdispersion_parameters(quiet, "none") == (1.0, 0.0)
    assert choose_overdispersion(quiet, "multiplicative")[0] == "multiplicative"
    assert overdispersion_parameters(quiet, "multiplicative") == (1.1, 0.0)
    assert choose_overdispersion(quiet, "additive")[0] == "additive"
    assert choose_overdispersion(rejected, "none")[0] == "none"
    assert rejected.as_dict() == {"phi": 3.0, "tau2": 0.02, "chi2": 60.0, "df": 19, "p_value": 3.6e-06,
                                  "n_units": 20}


# --- shrinkage and flags -----------------------------------------------------------------------


def test_shrinkage_is_the_normal_normal_posterior_mean() -> None:
    """Posterior mean (y / s^2 + theta0 / tau2) / (1 / s^2 + 1 / tau2): y = 2.0, s = 1, theta0 = 1,
    tau2 = 0.04 gives (2 + 25) / 26 = 1.038462; y = 1.5, s = 0.1: (150 + 25) / 125 = 1.4."""
    y = np.array([2.0, 1.5, 0.6, 1.0])
    se = np.array([1.0, 0.1, 0.3, 0.05])
    tau2 = 0.04
    want = (y / se**2 + 1.0 / tau2) / (1.0 / se**2 + 1.0 / tau2)
    np.testing.assert_allclose(shrink(y, se, 1.0, tau2), want, rtol=1e-12)
    assert shrink(y, se, 1.0, tau2)[0] == pytest.approx(27 / 26, rel=1e-12)
    np.testing.assert_allclose(shrink(y, se, 1.0, 0.0), np.ones(4))


def test_flags_ok_alert_alarm_with_limits_inclusive() -> None:
    y = np.array([1.0, 1.3, 1.31, 2.0, 2.01, 0.69, 0.49])
    got = flag(y, np.full(7, 0.7), np.full(7, 1.3), np.full(7, 0.5), np.full(7, 2.0))
    assert got == ["ok", "ok", "alert", "alert", "alarm", "alert", "alarm"]


# --- bad input ---------------------------------------------------------------------------------


def test_bad_input_names_the_field_and_allowed_values() -> None:
    with pytest.raises(ValidationError) as err:
        oe_interval(3, -2.0, kind="binary")
    assert err.value.field == "expected" and "positive" in err.value.allowed
    with pytest.raises(ValidationError) as err:
        oe_interval(3, 2.0, kind="ordinal")
    assert err.value.field == "kind" and err.value.allowed == "binary, continuous"
    with pytest.raises(ValidationError) as err:
        oe_interval(3.0, 2.0, kind="continuous")
    assert err.value.field == "variance"
    with pytest.raises(ValidationError) as err:
        oe_interval(-1, 2.0, kind="binary")
    assert err.value.field == "observed"
    with pytest.raises(ValidationError) as err:
        funnel_limits(1.0, np.array([10.0]), kind="rate")
    assert err.value.field == "kind" and err.value.allowed == "ratio, proportion, mean"
    with pytest.raises(ValidationError) as err:
        funnel_limits(1.0, np.array([10.0, -1.0]), kind="ratio")
    assert err.value.field == "precision"
    with pytest.raises(ValidationError) as err:
        funnel_limits(1.2, np.array([10.0]), kind="proportion")
    assert err.value.field == "target" and "between 0 and 1" in err.value.allowed
    with pytest.raises(ValidationError) as err:
        funnel_limits(0.1, np.array([10.5]), kind="proportion")
    assert err.value.field == "precision" and "whole numbers" in err.value.allowed
    with pytest.raises(ValidationError) as err:
        funnel_limits(1.0, np.array([10.0]), kind="ratio", levels=(0.95, 1.5))
    assert err.value.field == "levels"
    with pytest.raises(ValidationError) as err:
        funnel_limits(1.0, np.array([10.0]), kind="ratio", tau2=-0.1)
    assert err.value.field == "tau2"
    with pytest.raises(ValidationError) as err:
        choose_overdispersion(Overdispersion(1.0, 0.0, 5.0, 4, 0.3, 5), "both")
    assert err.value.field == "method" and err.value.allowed == "auto, none, multiplicative, additive"
    with pytest.raises(ValidationError) as err:
        estimate_overdispersion(np.array([1.0, 2.0]), np.array([0.1, 0.0]))
    assert err.value.field == "se"
    with pytest.raises(ValidationError) as err:
        estimate_overdispersion(np.array([1.0, 2.0]), np.array([0.1, 0.2]), winsor=0.5)
    assert err.value.field == "winsor"
    with pytest.raises(ValidationError) as err:
        flag(np.array([1.0, np.nan]), *([np.ones(2)] * 4))
    assert err.value.field == "y"
    with pytest.raises(ValidationError) as err:
        shrink(np.array([1.0]), np.array([0.1, 0.2]), 1.0, 0.1)
    assert err.value.field == "se"
