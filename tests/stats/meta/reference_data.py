"""Published data sets used as worked examples, with where each comes from.

All are public data tables reproduced in the documentation of the R package metafor
(Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw.
2010;36(3):1-48; data now in the metadat package). Retrieved 2025 from the metafor repository
(github.com/wviechtb/metafor: docs/reference/*.html, tests/testthat/*.r, README.md).

``assert_printed`` compares a computed value with a number as printed in a source: the
difference may be at most half a unit of the last printed digit (the rounding), plus ``slack``
when a test documents a known, small difference in how the source computed it.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

# --------------------------------------------------------------------------------------------
# BCG vaccine trials. Colditz GA, Brewer TF, Berkey CS, et al. Efficacy of BCG vaccine in the
# prevention of tuberculosis. JAMA. 1994;271(9):698-702. metafor's dat.bcg (as printed in the
# metafor documentation): author, year, tpos, tneg, cpos, cneg, ablat, alloc.
BCG: tuple[tuple[str, int, int, int, int, int, int, str], ...] = (
    ("Aronson", 1948, 4, 119, 11, 128, 44, "random"),
    ("Ferguson & Simes", 1949, 6, 300, 29, 274, 55, "random"),
    ("Rosenthal et al", 1960, 3, 228, 11, 209, 42, "random"),
    ("Hart & Sutherland", 1977, 62, 13536, 248, 12619, 52, "random"),
    ("Frimodt-Moller et al", 1973, 33, 5036, 47, 5761, 13, "alternate"),
    ("Stein & Aronson", 1953, 180, 1361, 372, 1079, 44, "alternate"),
    ("Vandiviere et al", 1973, 8, 2537, 10, 619, 19, "random"),
    ("TPT Madras", 1980, 505, 87886, 499, 87892, 13, "random"),
    ("Coetzee & Berjak", 1968, 29, 7470, 45, 7232, 27, "random"),
    ("Rosenthal et al", 1961, 17, 1699, 65, 1600, 42, "systematic"),
    ("Comstock et al", 1974, 186, 50448, 141, 27197, 18, "systematic"),
    ("Comstock & Webster", 1969, 5, 2493, 3, 2338, 33, "systematic"),
    ("Comstock et al", 1976, 27, 16886, 29, 17825, 33, "systematic"),
)
BCG_LABELS = [f"{r[0]}, {r[1]}" for r in BCG]
BCG_YEAR = [r[1] for r in BCG]
BCG_ALLOC = [r[7] for r in BCG]
BCG_TPOS = np.array([r[2] for r in BCG], dtype=float)
BCG_TNEG = np.array([r[3] for r in BCG], dtype=float)
BCG_CPOS = np.array([r[4] for r in BCG], dtype=float)
BCG_CNEG = np.array([r[5] for r in BCG], dtype=float)

# --------------------------------------------------------------------------------------------
# Normand S-LT. Meta-analysis: formulating, evaluating, combining, and reporting. Stat Med.
# 1999;18(3):321-359, Table VIII (p. 351): length of hospital stay (days) of stroke patients,
# specialist (arm 1) vs routine care (arm 2). metafor's dat.normand1999:
# source, n1i, m1i, sd1i, n2i, m2i, sd2i.
NORMAND: tuple[tuple[str, int, float, float, int, float, float], ...] = (
    ("Edinburgh", 155, 55, 47, 156, 75, 64),
    ("Orpington-Mild", 31, 27, 7, 32, 29, 4),
    ("Orpington-Moderate", 75, 64, 17, 71, 119, 29),
    ("Orpington-Severe", 18, 66, 20, 18, 137, 48),
    ("Montreal-Home", 8, 14, 8, 13, 18, 11),
    ("Montreal-Transfer", 57, 19, 7, 52, 18, 4),
    ("Newcastle", 34, 52, 45, 33, 41, 34),
    ("Umea", 110, 21, 16, 183, 31, 27),
    ("Uppsala", 60, 30, 27, 52, 23, 20),
)

# Normand (1999), Table I (p. 322): lidocaine and mortality (Hine et al. 1989); metafor's
# dat.hine1989: source, n1i (lidocaine), n2i (control), ai, ci (deaths).
HINE: tuple[tuple[str, int, int, int, int], ...] = (
    ("Chopra et al.", 39, 43, 2, 1),
    ("Mogensen", 44, 44, 4, 4),
    ("Pitt et al.", 107, 110, 6, 4),
    ("Darby et al.", 103, 100, 7, 5),
    ("Bennett et al.", 110, 106, 7, 3),
    ("O'Brien et al.", 154, 146, 11, 4),
)

# DerSimonian R, Kacker R. Random-effects model for meta-analysis of clinical trials: an
# update. Contemp Clin Trials. 2007;28(2):105-114: the CLASP example (aspirin in pregnancy),
# as entered in metafor's tests/testthat/test_analysis_example_dersimonian2007.r.
CLASP_N1 = [156, 303, 565, 1570, 103, 4659]
CLASP_N2 = [74, 303, 477, 1565, 105, 4650]
CLASP_A = [5, 5, 12, 69, 9, 313]
CLASP_C = [8, 17, 9, 94, 11, 352]

# Egger M, Davey Smith G, Altman DG (eds). Systematic Reviews in Health Care: Meta-Analysis
# in Context, 2nd ed. BMJ Books; 2001, Table 18.2: intravenous magnesium after myocardial
# infarction (metafor's dat.egger2001, without trial 16, ISIS-4, as in the regtest help page):
# study, year, ai (deaths, magnesium), n1i, ci (deaths, control), n2i.
MAGNESIUM: tuple[tuple[str, int, int, int, int, int], ...] = (
    ("Morton", 1984, 1, 40, 2, 36),
    ("Rasmussen", 1986, 9, 135, 23, 135),
    ("Smith", 1986, 2, 200, 7, 200),
    ("Abraham", 1987, 1, 48, 1, 46),
    ("Feldstedt", 1988, 10, 150, 8, 148),
    ("Shechter", 1989, 1, 59, 9, 56),
    ("Ceremuzynski", 1989, 1, 25, 3, 23),
    ("Bertschat", 1989, 0, 22, 1, 21),
    ("Singh", 1990, 6, 76, 11, 75),
    ("Pereira", 1990, 1, 27, 7, 27),
    ("Shechter", 1991, 2, 89, 12, 80),
    ("Golf", 1991, 5, 23, 13, 33),
    ("Thogersen", 1991, 4, 130, 8, 122),
    ("LIMIT-2", 1992, 90, 1159, 118, 1157),
    ("Shechter", 1995, 4, 107, 17, 108),
)


# Hackshaw AK, Law MR, Wald NJ. The accumulated evidence on lung cancer and environmental tobacco
# smoke. BMJ. 1997;315(7114):980-988 (and Hackshaw AK. Stat Methods Med Res. 1998;7(2):119-136):
# 37 studies of lung cancer in lifelong non-smoking women whose spouse smoked. metadat's
# dat.hackshaw1998 as entered in github.com/wviechtb/metadat data-raw/dat.hackshaw1998.txt
# (commit fc2ccb7; retrieved 2025): author, year, odds ratio, 95% CI lower and upper bound.
# metadat derives yi = log(or) and vi = ((log(ub) - log(lb)) / (2 qnorm(.975)))^2
# (data-raw/dat.hackshaw1998.r); HACKSHAW_YI / HACKSHAW_VI do the same.
HACKSHAW: tuple[tuple[str, int, float, float, float], ...] = (
    ("Garfinkel", 1981, 1.18, 0.90, 1.54), ("Hirayama", 1984, 1.45, 1.02, 2.08),
    ("Butler", 1988, 2.02, 0.48, 8.56), ("Cardenas", 1997, 1.20, 0.80, 1.60),
    ("Chan", 1982, 0.75, 0.43, 1.30), ("Correa", 1983, 2.07, 0.81, 5.25),
    ("Trichopolous", 1983, 2.13, 1.19, 3.83), ("Buffler", 1984, 0.80, 0.34, 1.90),
    ("Kabat", 1984, 0.79, 0.25, 2.45), ("Lam", 1985, 2.01, 1.09, 3.72),
    ("Garfinkel", 1985, 1.23, 0.81, 1.87), ("Wu", 1985, 1.20, 0.50, 3.30),
    ("Akiba", 1986, 1.52, 0.87, 2.63), ("Lee", 1986, 1.03, 0.41, 2.55),
    ("Koo", 1987, 1.55, 0.90, 2.67), ("Pershagen", 1987, 1.03, 0.61, 1.74),
    ("Humble", 1987, 2.34, 0.81, 6.75), ("Lam", 1987, 1.65, 1.16, 2.35),
    ("Gao", 1987, 1.19, 0.82, 1.73), ("Brownson", 1987, 1.52, 0.39, 5.96),
    ("Geng", 1988, 2.16, 1.08, 4.29), ("Shimizu", 1988, 1.08, 0.64, 1.82),
    ("Inoue", 1988, 2.55, 0.74, 8.78), ("Kalandidi", 1990, 1.62, 0.90, 2.91),
    ("Sobue", 1990, 1.06, 0.74, 1.52), ("Wu-Williams", 1990, 0.79, 0.62, 1.02),
    ("Liu", 1991, 0.74, 0.32, 1.69), ("Jockel", 1991, 2.27, 0.75, 6.82),
    ("Brownson", 1992, 0.97, 0.78, 1.21), ("Stockwell", 1992, 1.60, 0.80, 3.00),
    ("Du", 1993, 1.19, 0.66, 2.13), ("Liu", 1993, 1.66, 0.73, 3.78),
    ("Fontham", 1994, 1.26, 1.04, 1.54), ("Kabat", 1995, 1.10, 0.62, 1.96),
    ("Zaridze", 1995, 1.66, 1.12, 2.45), ("Sun", 1996, 1.16, 0.80, 1.69),
    ("Wang", 1996, 1.11, 0.67, 1.84),
)
HACKSHAW_LABELS = [f"{r[0]}, {r[1]}" for r in HACKSHAW]
HACKSHAW_YI = np.log([r[2] for r in HACKSHAW])
HACKSHAW_VI = ((np.log([r[4] for r in HACKSHAW]) - np.log([r[3] for r in HACKSHAW]))
               / (2.0 * NormalDist().inv_cdf(0.975))) ** 2

# Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the random-effects
# model. J Educ Behav Stat. 2005;30(3):261-293, examples 1 (k = 10) and 2 (k = 18): yi and vi as
# entered in metafor tests/testthat/test_analysis_example_viechtbauer2005.r (github.com/wviechtb/
# metafor, commit 71ae8f5; retrieved 2025), which checks metafor against the paper's pp. 271-272.
VIECHTBAUER2005_EX1 = (
    [-0.581, 0.530, 0.771, 1.031, 0.553, 0.295, 0.078, 0.573, -0.176, -0.232],
    [0.023, 0.052, 0.060, 0.115, 0.095, 0.203, 0.200, 0.211, 0.051, 0.040],
)
VIECHTBAUER2005_EX2 = (
    [0.100, -0.162, -0.090, -0.049, -0.046, -0.010, -0.431, -0.261, 0.134, 0.019, 0.175, 0.056, 0.045, 0.103,
     0.121, -0.482, 0.290, 0.342],
    [0.016, 0.015, 0.050, 0.050, 0.032, 0.052, 0.036, 0.024, 0.034, 0.033, 0.031, 0.034, 0.039, 0.167, 0.134,
     0.096, 0.016, 0.035],
)


def column(rows: tuple[tuple[object, ...], ...], i: int) -> np.ndarray:
    """Column ``i`` of a table above as a float array."""
    return np.array([r[i] for r in rows], dtype=float)


def assert_printed(value: float | None, printed: str, *, slack: float = 0.0) -> None:
    """``value`` agrees with ``printed`` to the printed precision (half a unit of the last digit)."""
    assert value is not None, f"expected {printed}, got None"
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    tol = 0.5 * 10.0 ** (-decimals) + slack + 1e-12
    assert math.isfinite(value) and abs(value - float(printed)) <= tol, (
        f"{value!r} does not round to the published {printed} (tolerance {tol:g})")
