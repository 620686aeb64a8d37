"""tau^2 estimators, Cochran's Q and the Q-profile interval against published values.
Tolerance: the printed precision unless a test says otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from spinetrack.errors import InputError
from spinetrack.stats.meta import (
    cochran_q,
    effect_sizes_binary,
    effect_sizes_continuous,
    estimate_tau2,
    generalized_q,
    q_profile_tau2_ci,
    typical_sampling_variance,
)
from spinetrack.stats.meta._distributions import chi2_ppf
from tests.stats.meta.reference_data import (
    BCG_ALLOC,
    BCG_CNEG,
    BCG_CPOS,
    BCG_TNEG,
    BCG_TPOS,
    CLASP_A,
    CLASP_C,
    CLASP_N1,
    CLASP_N2,
    HACKSHAW_VI,
    HACKSHAW_YI,
    HINE,
    NORMAND,
    VIECHTBAUER2005_EX1,
    VIECHTBAUER2005_EX2,
    assert_printed,
    column,
)

BCG_RR = effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                             measure="RR")
CLASP_OR = effect_sizes_binary(events1=CLASP_A, n1=CLASP_N1, events2=CLASP_C, n2=CLASP_N2, measure="OR")


def test_bcg_tau2_by_dl_reml_pm() -> None:
    """Oracles (BCG, log RR): DL 0.3088 — metafor test_misc_metan_vs_rma.uni_with_dat.bcg.r
    (Stata metan, randomi); REML 0.3132 (SE 0.1664) — metafor rma.uni help page; PM 0.3181 —
    metafor test_misc_rma_uni.r gives 0.3181 for the iterated DL estimator ("DLIT"), whose fixed
    point is the Paule-Mandel equation Q(tau^2) = k - 1 (DerSimonian & Kacker 2007, §2.3);
    cross-checked against statsmodels ``combine_effects(method_re="iterated")`` (Paule-Mandel),
    rtol 1e-6."""
    dl = estimate_tau2(BCG_RR.yi, BCG_RR.vi, "DL")
    reml = estimate_tau2(BCG_RR.yi, BCG_RR.vi, "REML")
    pm = estimate_tau2(BCG_RR.yi, BCG_RR.vi, "PM")
    assert_printed(dl.tau2, "0.3088")
    assert_printed(reml.tau2, "0.3132")
    assert_printed(reml.standard_error, "0.1664")
    assert_printed(pm.tau2, "0.3181")
    sm = combine_effects(np.asarray(BCG_RR.yi), np.asarray(BCG_RR.vi), method_re="iterated")
    assert pm.tau2 == pytest.approx(sm.tau2, rel=1e-6)
    assert generalized_q(BCG_RR.yi, BCG_RR.vi, pm.tau2) == pytest.approx(12.0, rel=1e-10)
    assert pm.iterations > 0 and reml.iterations > 0


def test_clasp_tau_by_pm_dl_reml_matches_dersimonian_kacker_2007() -> None:
    """Oracle: DerSimonian & Kacker (2007) Tables 3 and 4 (pp. 111-112), as checked in metafor
    tests/testthat/test_analysis_example_dersimonian2007.r: tau = 0.3681 (PM), 0.2323 (DL),
    0.1843 (REML) for the CLASP log odds ratios."""
    assert_printed(estimate_tau2(CLASP_OR.yi, CLASP_OR.vi, "PM").tau2 ** 0.5, "0.3681")
    assert_printed(estimate_tau2(CLASP_OR.yi, CLASP_OR.vi, "DL").tau2 ** 0.5, "0.2323")
    assert_printed(estimate_tau2(CLASP_OR.yi, CLASP_OR.vi, "REML").tau2 ** 0.5, "0.1843")


def test_q_profile_interval_matches_metafor_confint() -> None:
    """Oracle: metafor tests/testthat/test_misc_confint.r, ``confint(rma(yi, vi, data=dat,
    method="DL"))`` for BCG: tau^2 0.3088 (0.1197, 1.1115). The limits are also checked as roots
    (Q(limit) equals the chi-square(12) 97.5% / 2.5% quantiles, rtol 1e-9)."""
    lo, hi = q_profile_tau2_ci(BCG_RR.yi, BCG_RR.vi)
    assert_printed(lo, "0.1197")
    assert_printed(hi, "1.1115")
    assert generalized_q(BCG_RR.yi, BCG_RR.vi, lo) == pytest.approx(chi2_ppf(0.975, 12), rel=1e-9)
    assert generalized_q(BCG_RR.yi, BCG_RR.vi, hi) == pytest.approx(chi2_ppf(0.025, 12), rel=1e-9)
    # lidocaine RDs: Q(0) = 0.8597 is below the 97.5% quantile (lower limit 0) but above the
    # 2.5% quantile 0.8312 (so the upper limit is a small positive root)
    hine = effect_sizes_binary(events1=column(HINE, 3), n1=column(HINE, 1), events2=column(HINE, 4),
                               n2=column(HINE, 2), measure="RD")
    lo0, hi0 = q_profile_tau2_ci(hine.yi, hine.vi)
    assert lo0 == 0.0 and 0.0 < hi0 < 1e-3
    assert generalized_q(hine.yi, hine.vi, hi0) == pytest.approx(chi2_ppf(0.025, 5), rel=1e-9)
    # below both quantiles: [0, 0]
    assert q_profile_tau2_ci([0.0, 0.001, 0.002], [1.0, 1.0, 1.0]) == (0.0, 0.0)


def test_reml_smd_normand_subset() -> None:
    """Oracle: metafor tests/testthat/test_misc_rma_uni.r, ``rma(yi, vi)`` on the SMDs of
    dat.normand1999[1:4]: tau^2 = 1.0090."""
    rows = NORMAND[:4]
    t = effect_sizes_continuous(n1=column(rows, 1), mean1=column(rows, 2), sd1=column(rows, 3), n2=column(rows, 4),
                                mean2=column(rows, 5), sd2=column(rows, 6), measure="SMD")
    assert_printed(estimate_tau2(t.yi, t.vi, "REML").tau2, "1.0090")


def test_tau2_zero_boundary_for_reml_and_pm() -> None:
    """Oracle: metafor dat.hine1989 help page, ``rma(yi, vi)`` (REML) on the lidocaine RDs:
    tau^2 = 0 (SE = 0.0006), Q(df = 5) = 0.8597. PM is 0 by definition when Q(0) <= k - 1
    (Paule & Mandel 1982), and statsmodels' Paule-Mandel agrees (atol 1e-12)."""
    t = effect_sizes_binary(events1=column(HINE, 3), n1=column(HINE, 1), events2=column(HINE, 4),
                            n2=column(HINE, 2), measure="RD")
    reml = estimate_tau2(t.yi, t.vi, "REML")
    assert reml.tau2 == 0.0
    assert_printed(reml.standard_error, "0.0006")
    assert_printed(cochran_q(t.yi, t.vi), "0.8597")
    assert estimate_tau2(t.yi, t.vi, "PM").tau2 == 0.0
    assert estimate_tau2(t.yi, t.vi, "DL").tau2 == 0.0
    sm = combine_effects(np.asarray(t.yi), np.asarray(t.vi), method_re="iterated")
    assert sm.tau2 == pytest.approx(0.0, abs=1e-12)


def test_common_tau2_across_subgroups_and_within_q() -> None:
    """Oracle: metafor rma.uni help page, ``rma(yi, vi, mods = ~ factor(alloc) - 1, data=dat)``
    on BCG: residual tau^2 = 0.3615 (SE = 0.2111), QE(df = 10) = 132.3676, I^2 = 88.77%."""
    est = estimate_tau2(BCG_RR.yi, BCG_RR.vi, "REML", groups=BCG_ALLOC)
    assert_printed(est.tau2, "0.3615")
    assert_printed(est.standard_error, "0.2111")
    assert_printed(cochran_q(BCG_RR.yi, BCG_RR.vi, groups=BCG_ALLOC), "132.3676")
    s2 = typical_sampling_variance(BCG_RR.vi, groups=BCG_ALLOC)
    assert_printed(100 * est.tau2 / (est.tau2 + s2), "88.77")


def test_degenerate_and_bad_input() -> None:
    assert estimate_tau2([0.3], [0.1], "REML").tau2 == 0.0
    assert np.isnan(q_profile_tau2_ci([0.3], [0.1])).all()
    assert np.isnan(typical_sampling_variance([0.1]))
    assert estimate_tau2([0.1, 0.5], [0.1, 0.2], "DL", groups=["a", "b"]).tau2 == 0.0
    with pytest.raises(InputError, match="tau\\^2 method"):
        estimate_tau2([0.1, 0.2], [0.1, 0.1], "HS")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="positive"):
        estimate_tau2([0.1, 0.2], [0.1, 0.0])
    with pytest.raises(InputError, match="groups"):
        cochran_q([0.1, 0.2], [0.1, 0.1], groups=["a"])
    assert estimate_tau2([0.1, 0.2], [0.1, 0.1]).as_dict()["method"] == "REML"


# --------------------------------------------------------------------------------------------
# standard error of tau^2


def _dense_p(v: np.ndarray, tau2: float, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """metafor's ``P = W - W X (X'WX)^-1 X'W`` with ``W = diag(1/(v + tau2))`` and ``X`` the
    subgroup indicators, as a dense matrix (rma.uni's own construction), and ``X``."""
    x = (groups[:, None] == np.unique(groups)[None, :]).astype(float)
    w = np.diag(1.0 / (v + tau2))
    return w - w @ x @ np.linalg.inv(x.T @ w @ x) @ x.T @ w, x


def test_tau2_standard_errors_match_viechtbauer_2005() -> None:
    """Oracle: Viechtbauer (2005) pp. 271-272, as checked in metafor
    tests/testthat/test_analysis_example_viechtbauer2005.r (``rma(yi, vi, method=...)``):
    example 1: DL tau^2 0.2768 (SE 0.1841), REML 0.2232 (SE 0.1464), EB 0.192 (SE 0.133);
    example 2: DL 0.0126 (SE 0.0159), REML 0.0157 (SE 0.0167), EB 0.0104 (SE 0.0156).
    The empirical Bayes estimate is the Paule-Mandel one: our PM tau^2 equals the printed EB
    value in both examples (asserted), and metafor computes the EB and PM standard errors with
    the same equation (rma.uni.r, metafor 5.1-12), so the printed EB SE is the expected PM SE.
    Tolerance: the printed precision."""
    published = {
        "ex1": (VIECHTBAUER2005_EX1, {"DL": ("0.2768", "0.1841"), "REML": ("0.2232", "0.1464"),
                                      "PM": ("0.192", "0.133")}),
        "ex2": (VIECHTBAUER2005_EX2, {"DL": ("0.0126", "0.0159"), "REML": ("0.0157", "0.0167"),
                                      "PM": ("0.0104", "0.0156")}),
    }
    for (yi, vi), by_method in published.values():
        for method, (tau2, se) in by_method.items():
            est = estimate_tau2(yi, vi, method)  # type: ignore[arg-type]
            assert_printed(est.tau2, tau2)
            assert_printed(est.standard_error, se)


def test_dl_standard_error_is_the_sd_of_the_moment_estimator() -> None:
    """Oracle, independent of metafor: ``Q = y'Py`` (``P`` from ``w = 1/v``) is a quadratic form
    in ``y ~ N(X mu, Sigma)``, ``Sigma = V + tau^2 I``, so ``Var((Q - df)/tr P) = 2 tr(P Sigma P
    Sigma) / tr(P)^2`` — computed here with dense matrices (rtol 1e-10), on the passive-smoking
    data (one mean) and on BCG with a mean per allocation group. And a seeded simulation:
    the standard deviation of the untruncated estimator over 40,000 draws from that model at the
    DL estimate agrees within 3% (its Monte Carlo error is about 0.4%)."""
    cases = [(HACKSHAW_YI, HACKSHAW_VI, np.zeros(len(HACKSHAW_YI), dtype=int)),
             (np.asarray(BCG_RR.yi), np.asarray(BCG_RR.vi), np.unique(BCG_ALLOC, return_inverse=True)[1])]
    for y, v, g in cases:
        est = estimate_tau2(y, v, "DL", groups=g)
        p, _ = _dense_p(v, 0.0, g)
        sigma = np.diag(v + est.tau2)
        expected = np.sqrt(2.0 * np.trace(p @ sigma @ p @ sigma)) / np.trace(p)
        assert est.standard_error == pytest.approx(expected, rel=1e-10)
    rng = np.random.default_rng(20250611)
    v = HACKSHAW_VI
    tau2 = estimate_tau2(HACKSHAW_YI, v, "DL").tau2
    draws = rng.normal(0.2, np.sqrt(v + tau2), size=(40_000, v.size))
    w = 1.0 / v
    mu = draws @ w / w.sum()
    q = ((draws - mu[:, None]) ** 2 * w).sum(axis=1)
    tr_p = w.sum() - (w**2).sum() / w.sum()
    sd = float(np.std((q - (v.size - 1)) / tr_p))
    assert estimate_tau2(HACKSHAW_YI, v, "DL").standard_error == pytest.approx(sd, rel=0.03)


def test_pm_standard_error_is_metafors_equation_in_both_forms() -> None:
    """Oracle: metafor's rma.uni.r (5.1-12) PM standard error, ``sqrt(2 k^2 / (k - p)) / SUM w``,
    and the longer form it states is identical, ``(k/(k-p))^2 / (SUM w)^2 (2 tr(PVPV) + 4 tau^2
    tr(PVP) + 2 tau^4 tr(PP))``, computed here with dense matrices (rtol 1e-10), with one mean and
    with a mean per BCG allocation group; at ``tau^2 = 0`` (lidocaine RDs, Q below its df)
    ``w = 1/v``."""
    hine = effect_sizes_binary(events1=column(HINE, 3), n1=column(HINE, 1), events2=column(HINE, 4),
                               n2=column(HINE, 2), measure="RD")
    cases = [(HACKSHAW_YI, HACKSHAW_VI, np.zeros(len(HACKSHAW_YI), dtype=int)),
             (np.asarray(BCG_RR.yi), np.asarray(BCG_RR.vi), np.unique(BCG_ALLOC, return_inverse=True)[1]),
             (np.asarray(hine.yi), np.asarray(hine.vi), np.zeros(hine.k, dtype=int))]
    for y, v, g in cases:
        est = estimate_tau2(y, v, "PM", groups=g)
        k, wsum = v.size, float(np.sum(1.0 / (v + est.tau2)))
        p, x = _dense_p(v, est.tau2, g)
        pv = p @ np.diag(v)
        long = (k / (k - x.shape[1])) ** 2 / wsum**2 * (2 * np.sum(pv * pv.T) + 4 * est.tau2 * np.sum(pv * p)
                                                        + 2 * est.tau2**2 * np.sum(p * p))
        assert est.standard_error == pytest.approx(np.sqrt(2 * k**2 / (k - x.shape[1])) / wsum, rel=1e-10)
        assert est.standard_error == pytest.approx(np.sqrt(long), rel=1e-10)
    assert estimate_tau2(hine.yi, hine.vi, "PM").tau2 == 0.0


def test_tau2_at_zero_keeps_a_standard_error_and_no_df_has_none() -> None:
    """Oracle: metafor rma.uni.r (5.1-12) evaluates the standard errors at ``max(tau^2, 0)``:
    for the lidocaine RDs (Q = 0.8597 < df = 5, so DL and PM give 0) DL has ``sqrt(2 df) / tr P``
    and PM ``sqrt(2 k^2 / df) / SUM(1/v)`` (computed here from the data, rtol 1e-12); REML's is
    metafor's printed 0.0006 (tested above). One study: no degrees of freedom, no standard error."""
    t = effect_sizes_binary(events1=column(HINE, 3), n1=column(HINE, 1), events2=column(HINE, 4),
                            n2=column(HINE, 2), measure="RD")
    w = 1.0 / np.asarray(t.vi)
    tr_p = w.sum() - (w**2).sum() / w.sum()
    dl = estimate_tau2(t.yi, t.vi, "DL")
    assert dl.tau2 == 0.0 and dl.standard_error == pytest.approx(np.sqrt(2 * 5) / tr_p, rel=1e-12)
    pm = estimate_tau2(t.yi, t.vi, "PM")
    assert pm.tau2 == 0.0 and pm.standard_error == pytest.approx(np.sqrt(2 * 36 / 5) / w.sum(), rel=1e-12)
    for method in ("DL", "REML", "PM"):
        one = estimate_tau2([0.3], [0.1], method)  # type: ignore[arg-type]
        assert one.tau2 == 0.0 and one.standard_error is None
        assert one.as_dict()["standard_error"] is None
