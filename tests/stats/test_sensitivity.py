"""E-values (``spinetrack.stats.sensitivity``).

Oracles: the worked example of VanderWeele & Ding (Ann Intern Med 2017;167:268-274) —
formula-fed infants' respiratory death, RR 3.9 (95% CI 1.8 to 8.7), E-value 7.26 — whose
value 7.263034 is printed by episensr's ``confounders.evalue(est = 3.9, type = "RR")``
(D. Haine, "New in episensr 0.9.3 - E-value", https://www.denishaine.ca/blog/episensr-vdw/);
otherwise hand-derived values from the formulas written in each test, which are those of the
R package EValue (``evalues.RR``, ``evalues.MD``: RR = exp(0.91 d), CI exp(0.91 d ± 1.78 se)).

Augmented overlap weighting (Mao, Li & Greene 2019). Oracles: :func:`augmented_overlap_oracle`
below — statsmodels ``Logit`` for the propensity score and ``OLS`` per arm for the outcome
regressions, the estimator written out as in Mao et al. §3.2 (and in PSW's ``psw.aug.core``),
and the sandwich of the stacked estimating equations with ``A`` by central differences of
``SUM psi`` — a different route from the closed-form influence function of
``stats.sensitivity``; a nonparametric bootstrap of the whole procedure; and the identity with
the plain overlap-weighted difference when the outcome regressions have only an intercept.
(PSweight's documented examples, e.g. ``PSweight(..., augmentation = TRUE)`` on ``psdata``,
print no numbers for a two-arm design that could be reproduced here.) ``tests/analysis/
test_augmented_overlap.py`` imports the oracle.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from spinetrack.errors import InputError
from spinetrack.stats.augmented_overlap import (
    AugmentedVarianceSums,
    augmented_overlap_sums_numpy,
    augmented_variance_sums_numpy,
    compute_augmented_influence,
    estimate_augmented_overlap,
)
from spinetrack.stats.effects import estimate_weighted_difference, weighting_sums_numpy
from spinetrack.stats.sensitivity import (
    e_value,
    evalue_mean_difference,
    evalue_risk_ratio,
    evalue_smd,
)


def test_evalue_vanderweele_ding_breastfeeding_example() -> None:
    """Oracle: VanderWeele & Ding (2017) breastfeeding example, RR 3.9 (1.8, 8.7): point
    E-value 7.263034 (episensr output, 6 decimals); CI E-value from the lower limit,
    1.8 + sqrt(1.8 * 0.8) = 1.8 + 1.2 = 3.0 exactly. Tolerance 5e-7 / 1e-12."""
    res = evalue_risk_ratio(3.9, 1.8, 8.7)
    assert res.e_value == pytest.approx(7.263034, abs=5e-7)
    assert res.e_value_ci == pytest.approx(3.0, rel=1e-12)
    assert res.measure == "risk ratio"


def test_evalue_protective_estimate_uses_upper_limit() -> None:
    """Oracle: EValue's leukemia example ``evalues.RR(0.80, 0.71, 0.91)``, hand-derived:
    1/0.80 = 1.25 → 1.25 + sqrt(1.25 * 0.25); CI: the limit closer to 1 is 0.91 →
    1/0.91 + sqrt(1/0.91 * (1/0.91 - 1)). Symmetry: E(0.8) = E(1.25). rtol 1e-12."""
    res = evalue_risk_ratio(0.80, 0.71, 0.91)
    assert res.e_value == pytest.approx(1.25 + math.sqrt(1.25 * 0.25), rel=1e-12)
    assert res.e_value == pytest.approx(1.809017, abs=5e-7)
    inv = 1 / 0.91
    assert res.e_value_ci == pytest.approx(inv + math.sqrt(inv * (inv - 1)), rel=1e-12)
    assert e_value(0.8) == pytest.approx(e_value(1 / 0.8), rel=1e-12)


def test_evalue_ci_including_null_is_one() -> None:
    """Oracle: VanderWeele & Ding (2017): if the interval includes 1 its E-value is 1."""
    assert evalue_risk_ratio(1.3, 0.9, 1.8).e_value_ci == 1.0
    assert evalue_risk_ratio(0.7, 0.4, 1.2).e_value_ci == 1.0
    assert evalue_risk_ratio(1.0, 0.8, 1.2).e_value == 1.0
    assert evalue_risk_ratio(2.0).e_value_ci is None


def test_evalue_smd_conversion() -> None:
    """Oracle: EValue ``evalues.MD(0.5, 0.25)`` formulas by hand: RR = exp(0.91 * 0.5),
    CI exp(0.455 ± 1.78 * 0.25) = (exp(0.010), exp(0.900)); E = RR + sqrt(RR (RR - 1)); the
    CI E-value is that of exp(0.010). rtol 1e-12."""
    res = evalue_smd(0.5, 0.25)
    rr = math.exp(0.455)
    assert res.risk_ratio == pytest.approx(rr, rel=1e-12)
    assert res.ci_low == pytest.approx(math.exp(0.01), rel=1e-12)
    assert res.ci_high == pytest.approx(math.exp(0.9), rel=1e-12)
    assert res.e_value == pytest.approx(rr + math.sqrt(rr * (rr - 1)), rel=1e-12)
    lo = math.exp(0.01)
    assert res.e_value_ci == pytest.approx(lo + math.sqrt(lo * (lo - 1)), rel=1e-12)
    # a negative d is protective: the same E-value as +d
    assert evalue_smd(-0.5, 0.25).e_value == pytest.approx(res.e_value, rel=1e-12)
    # a mean difference of 5 points with outcome SD 10 is d = 0.5
    assert evalue_mean_difference(5.0, 2.5, 10.0).e_value == pytest.approx(res.e_value, rel=1e-12)
    assert json.loads(json.dumps(res.as_dict()))["measure"] == "standardized mean difference"


def test_evalue_refuses_bad_input() -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InputError):
            e_value(bad)
    with pytest.raises(InputError, match="ci_low"):
        evalue_risk_ratio(1.5, 1.8, 2.0)
    with pytest.raises(InputError, match="ci_high"):
        evalue_risk_ratio(1.5, 1.2, 1.4)
    with pytest.raises(InputError):
        evalue_smd(0.5, -0.1)
    with pytest.raises(InputError):
        evalue_mean_difference(1.0, 0.5, 0.0)


# --------------------------------------------------------------------------- augmented overlap weighting


def augmented_overlap_point(X: np.ndarray, Z: np.ndarray, t: np.ndarray, y: np.ndarray, observed: np.ndarray
                            ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Oracle estimate: the propensity score by statsmodels ``Logit`` on every row, ``OLS`` of
    ``y`` on ``Z`` per arm on the observed rows, then Mao, Li & Greene (2019, §3.2) with
    h = e(1-e), w1 = 1-e, w0 = e over the observed rows. Returns (tau, beta, gamma1, gamma0)."""
    import statsmodels.api as sm

    beta = np.asarray(sm.Logit(t, X).fit(disp=0, tol=1e-12, maxiter=100).params)
    s1, s0 = observed & (t == 1), observed & (t == 0)
    g1 = np.asarray(sm.OLS(y[s1], Z[s1]).fit().params)
    g0 = np.asarray(sm.OLS(y[s0], Z[s0]).fit().params)
    e = 1.0 / (1.0 + np.exp(-X @ beta))
    h, m1, m0 = e * (1 - e), Z @ g1, Z @ g0
    o = observed
    tau = (np.sum(h[o] * (m1 - m0)[o]) / np.sum(h[o])
           + np.sum(((1 - e) * (y - m1))[s1]) / np.sum((1 - e)[s1])
           - np.sum((e * (y - m0))[s0]) / np.sum(e[s0]))
    return float(tau), beta, g1, g0


def augmented_overlap_oracle(X: np.ndarray, Z: np.ndarray, t: np.ndarray, y: np.ndarray, observed: np.ndarray
                             ) -> tuple[float, float]:
    """Oracle (tau, standard error): :func:`augmented_overlap_point`, and the sandwich
    ``A^-1 B A^-T`` of the seven stacked estimating equations (PSW's ``psw.aug.core`` stacking:
    propensity score on every row; per-arm OLS, ``h (m_a - a_a)`` and ``w (y - m_a - c_a)`` on
    the observed rows), ``A = -d SUM psi / d theta'`` by central differences, ``B = SUM psi psi'``."""
    tau, beta, g1, g0 = augmented_overlap_point(X, Z, t, y, observed)
    p, q = X.shape[1], Z.shape[1]
    obs = observed.astype(float)
    yy = np.where(observed, y, 0.0)

    def psi(th: np.ndarray) -> np.ndarray:
        b, c1, c0 = th[:p], th[p:p + q], th[p + q:p + 2 * q]
        a1, a0, r1, r0 = th[p + 2 * q:]
        e = 1.0 / (1.0 + np.exp(-X @ b))
        h, m1, m0 = e * (1 - e), Z @ c1, Z @ c0
        return np.hstack([(t - e)[:, None] * X, (obs * t * (yy - m1))[:, None] * Z,
                          (obs * (1 - t) * (yy - m0))[:, None] * Z, (obs * h * (m1 - a1))[:, None],
                          (obs * h * (m0 - a0))[:, None], (obs * t * (1 - e) * (yy - m1 - r1))[:, None],
                          (obs * (1 - t) * e * (yy - m0 - r0))[:, None]])

    e = 1.0 / (1.0 + np.exp(-X @ beta))
    h, m1, m0 = e * (1 - e), Z @ g1, Z @ g0
    s1, s0 = observed & (t == 1), observed & (t == 0)
    a1 = np.sum((h * m1)[observed]) / np.sum(h[observed])
    a0 = np.sum((h * m0)[observed]) / np.sum(h[observed])
    r1 = np.sum(((1 - e) * (y - m1))[s1]) / np.sum((1 - e)[s1])
    r0 = np.sum((e * (y - m0))[s0]) / np.sum(e[s0])
    theta = np.concatenate([beta, g1, g0, [a1, a0, r1, r0]])
    rows = psi(theta)
    assert np.abs(rows.sum(axis=0)).max() < 1e-6 * len(t)  # theta solves the equations
    k = theta.size
    A = np.empty((k, k))
    for j in range(k):
        d = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += d
        down[j] -= d
        A[:, j] = -(psi(up).sum(axis=0) - psi(down).sum(axis=0)) / (2 * d)
    B = rows.T @ rows
    V = np.linalg.solve(A, np.linalg.solve(A, B).T).T
    c = np.zeros(k)
    c[-4:] = [1.0, -1.0, 1.0, -1.0]
    return tau, float(np.sqrt(c @ V @ c))


def _simulated(rng: np.random.Generator, n: int, missing: float = 0.2) -> dict[str, np.ndarray]:
    """Three covariates (one 0/1); a logistic propensity score; an effect that varies with x1
    (ATE != ATO); a quadratic term the linear outcome regressions miss; outcome missing at random."""
    x1, x2, x3 = rng.normal(size=n), rng.binomial(1, 0.4, n).astype(float), rng.normal(size=n)
    X = np.column_stack([np.ones(n), x1, x2, x3])
    t = rng.binomial(1, 1.0 / (1.0 + np.exp(-(0.5 + 1.2 * x1 - 0.8 * x2 + 0.4 * x3)))).astype(float)
    y = 1.0 + x1 + 0.5 * x2 + 0.3 * x3 ** 2 + t * (1.0 + 1.5 * x1) + rng.normal(size=n) * (1.0 + 0.5 * np.abs(x3))
    observed = rng.random(n) >= missing
    return {"X": X, "t": t, "y": np.where(observed, y, np.nan), "observed": observed}


def _ours(X: np.ndarray, Z: np.ndarray, t: np.ndarray, y: np.ndarray, observed: np.ndarray):  # type: ignore[no-untyped-def]
    """stats.sensitivity fed with the oracle's fitted models (only the finishing math is ours)."""
    _, beta, g1, g0 = augmented_overlap_point(X, Z, t, y, observed)
    e = 1.0 / (1.0 + np.exp(-X @ beta))
    H = (X * (e * (1 - e))[:, None]).T @ X
    G = (X * ((t - e) ** 2)[:, None]).T @ X
    o = observed
    sums = augmented_overlap_sums_numpy(X[o], Z[o], t[o], y[o], e[o], g1, g0, info=H)
    influence = compute_augmented_influence(sums)
    var = augmented_variance_sums_numpy(X[o], Z[o], t[o], y[o], e[o], g1, g0, influence)
    return estimate_augmented_overlap(influence, var, G)


@pytest.mark.parametrize("outcome_columns", [[0, 1, 2, 3], [0, 1]])
def test_augmented_overlap_matches_statsmodels_oracle_and_stacked_sandwich(outcome_columns: list[int]) -> None:
    """Oracle: :func:`augmented_overlap_oracle` (statsmodels fits, Mao et al. §3.2 written out;
    sandwich of the stacked equations with a numerical Jacobian), 2,000 rows, 20% of outcomes
    missing, full and reduced outcome designs. Tolerance: estimate 1e-10, standard error rtol 1e-6
    (central differences)."""
    d = _simulated(np.random.default_rng(20190801), 2000)
    Z = d["X"][:, outcome_columns]
    tau, se = augmented_overlap_oracle(d["X"], Z, d["t"], d["y"], d["observed"])
    est = _ours(d["X"], Z, d["t"], d["y"], d["observed"])
    assert est.estimate == pytest.approx(tau, abs=1e-10)
    assert est.standard_error == pytest.approx(se, rel=1e-6)
    assert est.estimand == "ATO" and est.measure == "mean difference"
    assert est.method.startswith("augmented overlap weighting (Mao, Li & Greene 2019)")
    assert est.mean_treated - est.mean_control == pytest.approx(est.estimate, abs=1e-12)


def test_augmented_overlap_standard_error_agrees_with_the_bootstrap() -> None:
    """Oracle: nonparametric bootstrap of the whole procedure (rows resampled, propensity score
    refitted by statsmodels, OLS per arm, the estimate of :func:`augmented_overlap_point`):
    400 resamples, seed 7. Band: the sandwich SE within ±15% of the bootstrap SD (the SD's own
    Monte Carlo error is about 1/sqrt(2 * 400) = 3.5%)."""
    d = _simulated(np.random.default_rng(11), 1500)
    est = _ours(d["X"], d["X"], d["t"], d["y"], d["observed"])
    rng = np.random.default_rng(7)
    n = d["t"].size
    boot = []
    for _ in range(400):
        i = rng.integers(0, n, n)
        boot.append(augmented_overlap_point(d["X"][i], d["X"][i], d["t"][i], d["y"][i], d["observed"][i])[0])
    assert 0.85 < est.standard_error / float(np.std(boot, ddof=1)) < 1.15


def test_augmented_overlap_with_intercept_only_regressions_is_the_overlap_weighted_difference() -> None:
    """Oracle: ``estimate_weighted_difference`` (tests/stats/test_effects.py checks it against R).
    With m1, m0 constant, tau = SUM_t w y / SUM_t w - SUM_c w y / SUM_c w exactly, and the
    influence function reduces to the weighted difference's (lambda_gamma = 0, the h-terms
    vanish), so the sandwich is the same. Tolerance 1e-10 / rtol 1e-9."""
    d = _simulated(np.random.default_rng(3), 1500, missing=0.0)
    X, t, y = d["X"], d["t"], d["y"]
    est = _ours(X, X[:, :1], t, y, d["observed"])
    import statsmodels.api as sm

    e = np.asarray(sm.Logit(t, X).fit(disp=0, tol=1e-12).predict(X))
    ref = estimate_weighted_difference(weighting_sums_numpy(X, t, y, e, "ATO"))
    assert est.estimate == pytest.approx(ref.estimate, abs=1e-10)
    assert est.standard_error == pytest.approx(ref.standard_error, rel=1e-9)


def test_augmented_overlap_refuses_bad_sums() -> None:
    """Shapes are checked and an arm without rows is refused with InputError."""
    one = np.ones((2, 1))
    t, y, e = np.array([1, 0]), np.array([3.0, 1.0]), np.full(2, 0.5)
    s = augmented_overlap_sums_numpy(one, one, t, y, e, np.array([3.0]), np.array([1.0]))
    with pytest.raises(InputError, match="info"):
        compute_augmented_influence(type(s)(s.treated, s.control, np.eye(2)))
    with pytest.raises(InputError, match="both arms"):
        augmented_overlap_sums_numpy(one, one, np.array([1, 1]), y, e, np.array([3.0]), np.array([1.0]))
    inf = compute_augmented_influence(s)
    with pytest.raises(InputError, match="score_outer"):
        estimate_augmented_overlap(inf, AugmentedVarianceSums(0.0, 1.0), np.eye(3))
