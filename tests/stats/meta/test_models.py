"""Pooled estimates (FE, MH, DL, REML, PM, HKSJ, prediction interval) against published
worked examples. Tolerance: the printed precision unless a test says otherwise."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from spinetrack.errors import InputError
from spinetrack.stats.meta import (
    EffectSizeTable,
    effect_sizes_binary,
    effect_sizes_continuous,
    effect_sizes_from_se,
    effect_sizes_from_variances,
    pool_studies,
)
from spinetrack.stats.meta._distributions import t_ppf
from tests.stats.meta.reference_data import (
    BCG_CNEG,
    BCG_CPOS,
    BCG_LABELS,
    BCG_TNEG,
    BCG_TPOS,
    CLASP_A,
    CLASP_C,
    CLASP_N1,
    CLASP_N2,
    HACKSHAW_LABELS,
    HACKSHAW_VI,
    HACKSHAW_YI,
    HINE,
    MAGNESIUM,
    NORMAND,
    assert_printed,
    column,
)


def bcg(measure: str) -> EffectSizeTable:
    return effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                               measure=measure, labels=BCG_LABELS)  # type: ignore[arg-type]


# metafor tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r: rma.uni against Stata's
# metan on dat.bcg ("fixedi"/"randomi"): estimate, CI, z, Q (FE) / tau^2, I^2 (DL), exp(.) CI.
METAN_IV = [
    ("RR", "FE", "-0.4303", "-0.5097", "-0.3509", "-10.6247", {"q": "152.2330"}, ("0.6503", "0.6007", "0.7040")),
    ("RR", "DL", "-0.7141", "-1.0644", "-0.3638", "-3.9952", {"tau2": "0.3088", "i2": "92.1173"},
     ("0.4896", "0.3449", "0.6950")),
    ("OR", "FE", "-0.4361", "-0.5190", "-0.3533", "-10.3190", {"q": "163.1649"}, ("0.6465", "0.5951", "0.7024")),
    ("OR", "DL", "-0.7474", "-1.1242", "-0.3706", "-3.8873", {"tau2": "0.3663", "i2": "92.6455"},
     ("0.4736", "0.3249", "0.6903")),
    ("RD", "FE", "-0.0009", "-0.0014", "-0.0005", "-4.0448", {"q": "276.4737"}, None),
    ("RD", "DL", "-0.0071", "-0.0101", "-0.0040", "-4.5128", {"tau2": "0.0000", "i2": "95.6596"}, None),
]


@pytest.mark.parametrize(("measure", "method", "est", "lo", "hi", "z", "het", "ratio"), METAN_IV)
def test_inverse_variance_fe_and_dl_match_stata_metan_bcg(measure: str, method: str, est: str, lo: str, hi: str,
                                                          z: str, het: dict[str, str],
                                                          ratio: tuple[str, str, str] | None) -> None:
    r = pool_studies(bcg(measure), method=method)  # type: ignore[arg-type]
    assert_printed(r.estimate, est)
    assert_printed(r.ci_low, lo)
    assert_printed(r.ci_high, hi)
    assert_printed(r.statistic, z)
    for field, printed in het.items():
        assert_printed(getattr(r, field), printed)
    if ratio is None:
        assert r.ratio is None
    else:
        assert r.ratio is not None
        assert_printed(r.ratio.estimate, ratio[0])
        assert_printed(r.ratio.ci_low, ratio[1])
        assert_printed(r.ratio.ci_high, ratio[2])
    assert r.k == 13 and r.q_df == 12 and r.statistic_name == "z"


def test_fe_heterogeneity_printout_bcg() -> None:
    """Oracle: metafor rma.uni help page, ``rma(yi, vi, data=dat, method="FE")`` on BCG log RRs:
    I^2 = 92.12%, H^2 = 12.69, Q(df = 12) = 152.2330, se 0.0405."""
    r = pool_studies(bcg("RR"), method="FE")
    assert_printed(r.i2, "92.12")
    assert_printed(r.h2, "12.69")
    assert_printed(r.standard_error, "0.0405")
    assert r.tau2 == 0.0 and r.tau2_ci_low is None and r.pi_low is None and r.model == "fixed"


def test_reml_matches_metafor_rma_uni_help_page_bcg() -> None:
    """Oracle: metafor rma.uni help page (docs/reference/rma.uni.html), ``rma(yi, vi, data=dat,
    method="REML")`` on BCG log RRs: tau^2 0.3132 (SE = 0.1664), tau 0.5597, I^2 92.22%, H^2 12.86,
    Q(df = 12) = 152.2330, estimate -0.7145, se 0.1798, z -3.9744, p < .0001, CI -1.0669 to
    -0.3622; and the predict.rma help page, ``predict(res, transf=exp)``: 0.4894 (0.3441, 0.6962),
    prediction interval 0.1546 to 1.5490. Q-profile interval (metafor test_misc_confint.r):
    tau^2 0.1197 to 1.1115, I^2 up to 97.6781, H^2 up to 43.0680. metafor finds those limits with
    uniroot's default tolerance (about 1.2e-4 on tau^2), which moves the I^2 and H^2 limits in
    the 3rd decimal: there the tolerance is 0.02 (I^2) and 0.005 (H^2), the propagated uniroot
    error; the exact roots are checked in test_heterogeneity.py."""
    r = pool_studies(bcg("RR"), method="REML")
    for field, printed in [("tau2", "0.3132"), ("tau2_se", "0.1664"), ("tau", "0.5597"), ("i2", "92.22"),
                           ("h2", "12.86"), ("q", "152.2330"), ("estimate", "-0.7145"),
                           ("standard_error", "0.1798"), ("statistic", "-3.9744"), ("ci_low", "-1.0669"),
                           ("ci_high", "-0.3622"), ("tau2_ci_low", "0.1197"), ("tau2_ci_high", "1.1115"),
                           ("i2_ci_high", "97.6781")]:
        assert_printed(getattr(r, field), printed)
    assert r.p_value < 1e-4 and r.q_p_value is not None and r.q_p_value < 1e-4
    assert r.ratio is not None and r.ratio.pi_low is not None and r.ratio.pi_high is not None
    for got, printed in [(r.ratio.estimate, "0.4894"), (r.ratio.ci_low, "0.3441"), (r.ratio.ci_high, "0.6962"),
                         (r.ratio.pi_low, "0.1546"), (r.ratio.pi_high, "1.5490")]:
        assert_printed(got, printed)
    assert_printed(r.i2_ci_low, "81.9177", slack=0.02)
    assert_printed(r.h2_ci_low, "5.5303", slack=0.005)
    assert_printed(r.h2_ci_high, "43.0680", slack=0.005)
    # metafor test_misc_influence.r: influence(res)$inf$weight[1] = 5.05948307931551 (percent)
    assert r.weights[0] == pytest.approx(5.05948307931551, rel=1e-6)
    assert r.weights.sum() == pytest.approx(100.0)


def test_estimates_with_standard_errors_give_the_same_fit() -> None:
    """Oracle: metafor rma.uni help page, ``rma(yi, sei=sei, data=dat)`` with ``sei =
    sqrt(vi)`` prints the same REML result as with ``vi``: -0.7145 (se 0.1798), tau^2 0.3132."""
    t = bcg("RR")
    r = pool_studies(effect_sizes_from_se(t.yi, np.sqrt(t.vi), measure="RR"))
    assert_printed(r.estimate, "-0.7145")
    assert_printed(r.standard_error, "0.1798")
    assert_printed(r.tau2, "0.3132")
    with pytest.raises(InputError, match="standard_error must be positive"):
        effect_sizes_from_se([0.1], [0.0])


def test_hksj_matches_metafor_readme_bcg() -> None:
    """Oracle: metafor README.md, ``rma(yi, vi, data=dat, test="knha")`` on BCG log RRs:
    estimate -0.7145, se 0.1808, t -3.9522, df 12, p 0.0019, CI -1.1084 to -0.3206;
    ``predict(res, transf=exp, digits=2)``: 0.49 (0.33, 0.73), prediction interval 0.14 to 1.76."""
    r = pool_studies(bcg("RR"), method="REML", hksj=True)
    for field, printed in [("estimate", "-0.7145"), ("standard_error", "0.1808"), ("statistic", "-3.9522"),
                           ("p_value", "0.0019"), ("ci_low", "-1.1084"), ("ci_high", "-0.3206")]:
        assert_printed(getattr(r, field), printed)
    assert r.statistic_name == "t" and r.df == 12 and r.hksj and "Hartung" in r.description
    assert r.ratio is not None
    for got, printed in [(r.ratio.estimate, "0.49"), (r.ratio.ci_low, "0.33"), (r.ratio.ci_high, "0.73"),
                         (r.ratio.pi_low, "0.14"), (r.ratio.pi_high, "1.76")]:
        assert_printed(got, printed)


@pytest.mark.parametrize(("measure", "est", "lo", "hi", "z", "q", "ratio"), [
    ("RR", "-0.4537", "-0.5308", "-0.3766", "-11.5338", "152.5676", ("0.6353", "0.5881", "0.6862")),
    ("OR", "-0.4734", "-0.5538", "-0.3930", "-11.5444", "163.9426", ("0.6229", "0.5748", "0.6750")),
    ("RD", "-0.0033", "-0.0039", "-0.0027", "-11.4708", "386.7759", None),
])
def test_mantel_haenszel_matches_metafor_rma_mh_bcg(measure: str, est: str, lo: str, hi: str, z: str, q: str,
                                                    ratio: tuple[str, str, str] | None) -> None:
    """Oracle: metafor tests/testthat/test_misc_metan_vs_rma.mh_with_dat.bcg.r (rma.mh against
    Stata metan "fixed"): estimate, CI, z (RD: Sato, Greenland & Robins 1989 variance, as
    metafor), Cochran's Q around the MH estimate, and exp(.) for RR/OR."""
    r = pool_studies(bcg(measure), method="MH")
    assert_printed(r.estimate, est)
    assert_printed(r.ci_low, lo)
    assert_printed(r.ci_high, hi)
    assert_printed(r.statistic, z)
    assert_printed(r.q, q)
    if ratio is not None:
        assert r.ratio is not None
        for got, printed in zip((r.ratio.estimate, r.ratio.ci_low, r.ratio.ci_high), ratio, strict=True):
            assert_printed(got, printed)
    assert r.weights.sum() == pytest.approx(100.0) and r.method == "MH" and r.model == "fixed"


def test_mantel_haenszel_with_a_zero_cell_matches_statsmodels() -> None:
    """Oracle: statsmodels ``StratifiedTable`` (Mantel-Haenszel pooled odds ratio and its
    Robins-Breslow-Greenland SE) on the magnesium trials, which include a zero cell (Bertschat
    1989: no correction is needed by MH). rtol 1e-10."""
    from statsmodels.stats.contingency_tables import StratifiedTable

    a, n1, c, n2 = (column(MAGNESIUM, i) for i in (2, 3, 4, 5))
    t = effect_sizes_binary(events1=a, n1=n1, events2=c, n2=n2, measure="OR")
    r = pool_studies(t, method="MH")
    tables = [np.array([[ai, n1i - ai], [ci, n2i - ci]]) for ai, n1i, ci, n2i in zip(a, n1, c, n2, strict=True)]
    st = StratifiedTable(tables)
    assert r.estimate == pytest.approx(st.logodds_pooled, rel=1e-10)
    assert r.standard_error == pytest.approx(st.logodds_pooled_se, rel=1e-10)


def test_clasp_pm_dl_reml_match_dersimonian_kacker_2007() -> None:
    """Oracle: DerSimonian & Kacker (2007) Tables 3 and 4 (pp. 111-112) via metafor
    test_analysis_example_dersimonian2007.r: mu (se) = -0.3811 (0.2060) PM, -0.3240 (0.1540) DL,
    -0.2980 (0.1343) REML, CLASP log odds ratios."""
    t = effect_sizes_binary(events1=CLASP_A, n1=CLASP_N1, events2=CLASP_C, n2=CLASP_N2, measure="OR")
    for method, mu, se in [("PM", "-0.3811", "0.2060"), ("DL", "-0.3240", "0.1540"), ("REML", "-0.2980", "0.1343")]:
        r = pool_studies(t, method=method)  # type: ignore[arg-type]
        assert_printed(r.estimate, mu)
        assert_printed(r.standard_error, se)


def test_normand_mean_differences_table_ix() -> None:
    """Oracle: Normand (1999) Table IX (p. 352) via metafor test_analysis_example_normand1999.r
    (pooled-SD variances): FE -3.49 (-5.03, -1.96); DL -14.10 (-24.45, -3.75), tau^2 218.72;
    REML -15.12 (-32.67, 2.43), tau^2 685.20."""
    t = effect_sizes_continuous(n1=column(NORMAND, 1), mean1=column(NORMAND, 2), sd1=column(NORMAND, 3),
                                n2=column(NORMAND, 4), mean2=column(NORMAND, 5), sd2=column(NORMAND, 6),
                                measure="MD", md_variance="pooled")
    for method, est, lo, hi, tau2 in [("FE", "-3.49", "-5.03", "-1.96", None),
                                      ("DL", "-14.10", "-24.45", "-3.75", "218.72"),
                                      ("REML", "-15.12", "-32.67", "2.43", "685.20")]:
        r = pool_studies(t, method=method)  # type: ignore[arg-type]
        assert_printed(r.estimate, est)
        assert_printed(r.ci_low, lo)
        assert_printed(r.ci_high, hi)
        if tau2 is not None:
            assert_printed(r.tau2, tau2)
        assert r.ratio is None


def test_reml_at_the_tau2_zero_boundary_lidocaine() -> None:
    """Oracle: metafor dat.hine1989 help page, ``rma(yi, vi)`` on the lidocaine risk
    differences: tau^2 0, I^2 0.00%, H^2 1.00, Q(df = 5) = 0.8597 (p = 0.9731), estimate 0.0294,
    se 0.0131, z 2.2531, p 0.0243, CI 0.0038 to 0.0551. And Normand (1999) Table VII (p. 349),
    via metafor test_analysis_example_normand1999.r: in percentage points FE = REML = DL = 2.94
    (0.4, 5.5) with tau^2 = 0.000; PM agrees (Q < df)."""
    t = effect_sizes_binary(events1=column(HINE, 3), n1=column(HINE, 1), events2=column(HINE, 4),
                            n2=column(HINE, 2), measure="RD")
    r = pool_studies(t, method="REML")
    assert r.tau2 == 0.0
    for field, printed in [("i2", "0.00"), ("h2", "1.00"), ("q", "0.8597"), ("q_p_value", "0.9731"),
                           ("estimate", "0.0294"), ("standard_error", "0.0131"), ("statistic", "2.2531"),
                           ("p_value", "0.0243"), ("ci_low", "0.0038"), ("ci_high", "0.0551")]:
        assert_printed(getattr(r, field), printed)
    assert any("boundary" in n for n in r.notes)
    pct = effect_sizes_from_variances(np.asarray(t.yi) * 100, np.asarray(t.vi) * 1e4, measure="RD")
    for method in ("FE", "REML", "DL", "PM"):
        p = pool_studies(pct, method=method)  # type: ignore[arg-type]
        assert_printed(p.estimate, "2.94")
        assert_printed(p.ci_low, "0.4")
        assert_printed(p.ci_high, "5.5")
        assert_printed(p.tau2, "0.000")


def test_reml_with_continuity_corrected_odds_ratios_magnesium() -> None:
    """Oracle: metafor regtest help page, ``rma(yi, vi, data=dat)`` on dat.egger2001 without
    ISIS-4 (log ORs, 0.5 added to Bertschat 1989): tau^2 0.1911 (SE = 0.2106), I^2 38.19%,
    H^2 1.62, Q(df = 14) = 20.9184, p = 0.1037, estimate -0.8745, se 0.2080, z -4.2049,
    CI -1.2822 to -0.4669."""
    a, n1, c, n2 = (column(MAGNESIUM, i) for i in (2, 3, 4, 5))
    r = pool_studies(effect_sizes_binary(events1=a, n1=n1, events2=c, n2=n2, measure="OR"), method="REML")
    for field, printed in [("tau2", "0.1911"), ("tau2_se", "0.2106"), ("i2", "38.19"), ("h2", "1.62"),
                           ("q", "20.9184"), ("q_p_value", "0.1037"), ("estimate", "-0.8745"),
                           ("standard_error", "0.2080"), ("statistic", "-4.2049"), ("ci_low", "-1.2822"),
                           ("ci_high", "-0.4669")]:
        assert_printed(getattr(r, field), printed)


def test_hksj_with_two_studies_matches_statsmodels() -> None:
    """No published k = 2 HKSJ example was found; oracle: statsmodels ``combine_effects(...,
    method_re="chi2", use_t=True).conf_int()`` (DerSimonian-Laird tau^2, HKSJ "wls" interval
    with t on k - 1 = 1 df). rtol 1e-10."""
    yi, vi = np.array([0.1, 0.9]), np.array([0.04, 0.09])
    r = pool_studies(effect_sizes_from_variances(yi, vi), method="DL", hksj=True)
    sm = combine_effects(yi, vi, method_re="chi2", use_t=True)
    lo, hi = sm.conf_int(use_t=True)[3]
    assert r.estimate == pytest.approx(sm.mean_effect_re, rel=1e-10)
    assert r.tau2 == pytest.approx(sm.tau2, rel=1e-10)
    assert r.ci_low == pytest.approx(lo, rel=1e-10) and r.ci_high == pytest.approx(hi, rel=1e-10)
    assert r.df == 1 and any("1 degree of freedom" in n for n in r.notes)


def test_riley_prediction_interval_uses_t_k_minus_2() -> None:
    """No published number was found for ``pi.type="Riley"``; oracle: the definition (Riley,
    Higgins & Deeks 2011, BMJ 342:d549): mu ± t(k-2) sqrt(tau^2 + SE^2), with the REML BCG fit
    above (its other numbers are checked against metafor). rtol 1e-12."""
    r = pool_studies(bcg("RR"), prediction_interval="riley")
    half = t_ppf(0.975, 11) * math.sqrt(r.tau2 + r.standard_error**2)
    assert r.pi_low == pytest.approx(r.estimate - half, rel=1e-12)
    assert r.pi_high == pytest.approx(r.estimate + half, rel=1e-12)
    two = pool_studies(bcg("RR").subset([0, 1]), prediction_interval="riley")
    assert two.pi_low is None and any("Riley" in n for n in two.notes)


def test_single_study_is_its_own_estimate() -> None:
    """k = 1 (metafor returns the study with tau^2 = 0): estimate, SE and interval are the
    study's; heterogeneity is undefined and a note says so."""
    t = bcg("RR").subset([0])
    for method in ("FE", "REML", "DL", "PM", "MH"):
        r = pool_studies(t, method=method)  # type: ignore[arg-type]
        assert r.k == 1 and r.q == 0.0 and r.q_p_value is None and r.i2 is None and r.h2 is None
        assert r.pi_low is None and r.tau2_ci_low is None
        assert any("only one study" in n for n in r.notes)
        if method != "MH":
            assert r.estimate == pytest.approx(float(t.yi[0])) and r.standard_error == pytest.approx(
                math.sqrt(float(t.vi[0])))
    assert_printed(pool_studies(t).estimate, "-0.8893")
    with pytest.raises(InputError, match="at least 2"):
        pool_studies(t, hksj=True)


def test_fixed_tau2_and_argument_checks() -> None:
    t = bcg("RR")
    r = pool_studies(t, method="DL", tau2_fixed=0.3088218)
    assert_printed(r.estimate, "-0.7141")
    assert any("fixed at" in n for n in r.notes)
    generic = effect_sizes_from_variances([0.1, 0.2], [0.1, 0.1])
    with pytest.raises(InputError, match="Hartung"):
        pool_studies(t, method="FE", hksj=True)
    with pytest.raises(InputError, match="Mantel-Haenszel"):
        pool_studies(generic, method="MH")
    with pytest.raises(InputError, match="method must be one of"):
        pool_studies(t, method="ML")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="tau2_fixed"):
        pool_studies(t, method="FE", tau2_fixed=0.1)
    with pytest.raises(InputError, match="prediction_interval"):
        pool_studies(t, prediction_interval="hts")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="undefined"):
        pool_studies(effect_sizes_binary(events1=[0, 0], n1=[10, 10], events2=[1, 2], n2=[10, 10], measure="RR"),
                     method="MH")


def test_result_serialises_to_json_and_is_frozen() -> None:
    r = pool_studies(bcg("OR"), method="PM", hksj=True)
    d = json.loads(json.dumps(r.as_dict(), allow_nan=False))
    assert d["method"] == "PM" and d["hksj"] is True and d["df"] == 12 and len(d["studies"]) == 13
    assert d["ratio"]["estimate"] == pytest.approx(math.exp(r.estimate))
    assert d["studies"][0]["label"] == "Aronson, 1948" and d["studies"][0]["weight_pct"] > 0
    single = json.loads(json.dumps(pool_studies(bcg("RR").subset([2])).as_dict(),
                                   allow_nan=False))
    assert single["q_p_value"] is None and single["i2"] is None
    with pytest.raises(AttributeError):
        r.estimate = 0.0  # type: ignore[misc]


def test_dl_with_tau2_standard_error_matches_metafor_on_passive_smoking() -> None:
    """Oracle: metadat's dat.hackshaw1998 help page (docs/reference/dat.hackshaw1998.html,
    github.com/wviechtb/metadat, commit 0cb96ce), ``res <- rma(yi, vi, data=dat, method="DL")``:
    tau^2 0.0170 (SE = 0.0171), tau 0.1305, I^2 24.21%, H^2 1.32, Q(df = 36) = 47.4979,
    p = 0.0952; estimate 0.2139, se 0.0471, z 4.5390, CI 0.1215 to 0.3062; and
    ``predict(res, transf=exp, digits=2)``: 1.24 (1.13, 1.36), prediction interval 0.94 to 1.63.
    The standard error of tau^2 is also in the JSON document (``as_dict``), as the CLI's
    ``pool --json`` prints it."""
    r = pool_studies(effect_sizes_from_variances(HACKSHAW_YI, HACKSHAW_VI, measure="OR", labels=HACKSHAW_LABELS),
                     method="DL")
    for field, printed in [("tau2", "0.0170"), ("tau2_se", "0.0171"), ("tau", "0.1305"), ("i2", "24.21"),
                           ("h2", "1.32"), ("q", "47.4979"), ("q_p_value", "0.0952"), ("estimate", "0.2139"),
                           ("standard_error", "0.0471"), ("statistic", "4.5390"), ("ci_low", "0.1215"),
                           ("ci_high", "0.3062")]:
        assert_printed(getattr(r, field), printed)
    assert r.k == 37 and r.q_df == 36
    assert r.ratio is not None and r.ratio.pi_low is not None and r.ratio.pi_high is not None
    for got, printed in [(r.ratio.estimate, "1.24"), (r.ratio.ci_low, "1.13"), (r.ratio.ci_high, "1.36"),
                         (r.ratio.pi_low, "0.94"), (r.ratio.pi_high, "1.63")]:
        assert_printed(got, printed)
    doc = json.loads(json.dumps(r.as_dict(), allow_nan=False))
    assert_printed(doc["tau2_se"], "0.0171")


@pytest.mark.parametrize("method", ["DL", "REML", "PM"])
def test_every_random_effects_method_reports_the_tau2_standard_error(method: str) -> None:
    """The pooled result carries the estimator's own standard error of tau^2 (checked against
    published values in test_heterogeneity.py); fixed-effect methods and a fixed tau^2 have none."""
    from spinetrack.stats.meta import estimate_tau2

    t = effect_sizes_from_variances(HACKSHAW_YI, HACKSHAW_VI, measure="OR")
    r = pool_studies(t, method=method)  # type: ignore[arg-type]
    assert r.tau2_se == estimate_tau2(HACKSHAW_YI, HACKSHAW_VI, method).standard_error  # type: ignore[arg-type]
    assert r.tau2_se is not None and r.tau2_se > 0 and r.as_dict()["tau2_se"] == r.tau2_se
    assert pool_studies(t, method=method, tau2_fixed=0.02).tau2_se is None  # type: ignore[arg-type]
    assert pool_studies(t, method="FE").tau2_se is None
