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
