"""Presentation helpers of the report: number formats, labels and anchors. No statistics.

Every function here turns a value of the scorecard document into text; none derives a new
statistic. Risks, shares and probabilities are shown as percentages (differences as
percentage points); other differences keep the claim's unit. The number of decimals follows
the width of the interval, so that an interval always shows two significant digits of its
width (1 to 2 decimals; up to 3 for an index such as EQ-5D-5L).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from spinetrack.domain.comparisons import APPROACHES
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.instruments.registry import display_field
from spinetrack.instruments.registry import get as get_instrument

__all__ = [
    "MINUS",
    "MIN_CELL",
    "anchor",
    "arm_label",
    "arm_style",
    "ci_label",
    "covariate_label",
    "decimals_for",
    "esc",
    "fmt_count",
    "fmt_followup",
    "fmt_number",
    "fmt_patients",
    "fmt_share",
    "format_difference",
    "format_interval",
    "format_value",
    "instrument_short",
    "instrument_title",
    "is_percent_unit",
    "timepoint_label",
    "timepoint_order",
    "unit_label",
    "unit_scale",
]

MINUS = "\u2212"
PERCENT_UNITS = ("risk", "share", "probability")

# Arm colours, markers and dashes as on the clinic pages (web/plots.py): readable without
# colour because marker and line style differ too. Colours have >= 4.5:1 contrast on white.
_ARM_STYLES: dict[str, dict[str, str]] = {
    "mis": {"color": "#0b5cad", "marker": "o", "linestyle": "-"},
    "open": {"color": "#a4161a", "marker": "s", "linestyle": "--"},
    "conservative": {"color": "#1b6e2e", "marker": "D", "linestyle": ":"},
    "surgery": {"color": "#5b2a86", "marker": "o", "linestyle": "-"},
}
_ARM_NAMES = {"mis": "MIS", "open": "open", "conservative": "conservative care"}

# The follow-up schedule's codes and labels; the report calls the baseline "baseline".
_TIMEPOINTS: tuple[tuple[str, str], ...] = tuple(
    (tp.code, "baseline" if tp.is_baseline else tp.label) for tp in TIMEPOINTS)
_SURGERY = sorted(APPROACHES)  # an arm of every surgical approach is "surgery"

_COVARIATES = {
    "intercept": "intercept", "age10": "age (per 10 years)", "male": "male sex", "bmi5": "BMI (per 5 kg/m²)",
    "smoker_current": "current smoker", "smoker_former": "former smoker", "diabetes": "diabetes",
    "asa": "ASA grade", "extra_levels": "additional spinal levels", "odi0": "baseline ODI (per 10 points)",
    "back0": "baseline back pain (NRS)", "leg0": "baseline leg pain (NRS)",
    "log_symptom_weeks": "symptom duration (log weeks)", "prior_surgery": "prior spine surgery", "t": "treatment",
}


def esc(value: Any) -> str:
    """HTML-escape any value from the document (``None`` becomes an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def anchor(prefix: str, *keys: str) -> str:
    """A stable, valid HTML id from a prefix and document keys (``claim-odi_12m--pooled``)."""
    return prefix + "-" + "--".join(re.sub(r"[^A-Za-z0-9_]+", "-", k) for k in keys)


def fmt_number(x: float | None, decimals: int, *, sign: bool = False) -> str:
    """``x`` with ``decimals`` decimals, thousands separators, a true minus sign, no ``-0``,
    and a leading ``+`` when ``sign`` is set and ``x`` is positive."""
    if x is None or not math.isfinite(x):
        return "—"
    s = f"{x:,.{decimals}f}"
    body = s.lstrip("-")
    if float(body.replace(",", "")) == 0.0:
        return body
    if s.startswith("-"):
        return MINUS + body
    return "+" + body if sign else body


def fmt_count(n: float | None) -> str:
    """A count with thousands separators (weighted counts are rounded)."""
    return "—" if n is None else f"{round(n):,}"


MIN_CELL = 5
"""Counts of patients from 1 to ``MIN_CELL - 1`` are shown as ``<5``: the registry's small-cell rule
(:data:`spinetrack.store.reads.MIN_CELL_SIZE`, which the aggregates of the web app and the API
apply; not imported from there, which would load the database layer into every report; a test
checks that the two agree)."""


def fmt_patients(n: float | None) -> str:
    """A count of patients under the small-cell rule: ``3`` → ``<5``, ``0`` → ``0``, ``1234`` → ``1,234``."""
    if n is None:
        return "—"
    k = round(n)
    return f"<{MIN_CELL}" if 0 < k < MIN_CELL else f"{k:,}"


def fmt_followup(returned: float | None, population: float | None, lost: float | None) -> tuple[str, str]:
    """The returned questionnaires (``321 of 334``) and the share lost (``3.9%``) of one arm at one
    timepoint, under the small-cell rule: neither cell may give away a count from 1 to 4 of the
    patients who returned it or of those who did not (their difference with the population)."""
    if returned is None or population is None:
        return "—", fmt_share(lost)
    r, n = round(returned), round(population)
    small = f"<{MIN_CELL}"
    if 0 < n < MIN_CELL:
        return f"{small} of {small}", "suppressed"
    if 0 < r < MIN_CELL:  # the lost share would give r away: bound it instead
        return f"{small} of {n:,}", f"over {fmt_share(1.0 - MIN_CELL / n)}"
    if 0 < n - r < MIN_CELL:
        return f"over {n - MIN_CELL:,} of {n:,}", f"{small} patients"
    return f"{r:,} of {n:,}", fmt_share(lost)


def fmt_share(p: float | None, decimals: int = 1) -> str:
    """A proportion as a percentage (``0.2914`` → ``29.1%``)."""
    return "—" if p is None or not math.isfinite(p) else f"{100.0 * p:.{decimals}f}%"


def ci_label(level: float | None) -> str:
    """``0.95`` → ``95% CI``."""
    return "CI" if level is None else f"{100.0 * level:g}% CI"


def is_percent_unit(unit: str | None) -> bool:
    return unit in PERCENT_UNITS


def unit_scale(unit: str | None) -> float:
    """Multiplier from the document's scale to the displayed one (risks → percentage points)."""
    return 100.0 if is_percent_unit(unit) else 1.0


def unit_label(unit: str | None) -> str:
    """The unit of a displayed difference (``pp`` for risks, shares and probabilities)."""
    if is_percent_unit(unit):
        return "pp"
    return unit or ""


def decimals_for(result: Mapping[str, Any]) -> int:
    """Decimals for a result's estimate: two significant digits of the interval width."""
    scale = unit_scale(result.get("unit"))
    lo, hi, est = result.get("ci_low"), result.get("ci_high"), result.get("estimate")
    width = abs(hi - lo) * scale if lo is not None and hi is not None else 0.0
    if not (width > 0 and math.isfinite(width)):
        width = abs(est or 0.0) * scale
    if not (width > 0 and math.isfinite(width)):
        return 1
    upper = 3 if result.get("unit") == "index" else 2
    return max(1, min(upper, 1 - math.floor(math.log10(width))))


def format_difference(result: Mapping[str, Any]) -> str:
    """The adjusted difference with its unit, e.g. ``−4.0 pp`` or ``−15.06 mm``."""
    d = decimals_for(result)
    unit = unit_label(result.get("unit"))
    value = fmt_number(_scaled(result.get("estimate"), result.get("unit")), d, sign=True)
    return f"{value} {unit}".strip()


def format_interval(result: Mapping[str, Any], low: float | None = None, high: float | None = None) -> str:
    """The interval of a result on the displayed scale, ``−5.8 to −2.2``."""
    d = decimals_for(result)
    unit = result.get("unit")
    lo = result.get("ci_low") if low is None else low
    hi = result.get("ci_high") if high is None else high
    return f"{fmt_number(_scaled(lo, unit), d, sign=True)} to {fmt_number(_scaled(hi, unit), d, sign=True)}"


def format_value(result: Mapping[str, Any], x: float | None, *, with_unit: bool = True) -> str:
    """Any difference of this result (naive, AIPW …) with the result's decimals and unit."""
    unit = unit_label(result.get("unit")) if with_unit else ""
    return f"{fmt_number(_scaled(x, result.get('unit')), decimals_for(result), sign=True)} {unit}".strip()


def _scaled(x: float | None, unit: str | None) -> float | None:
    return None if x is None else x * unit_scale(unit)


def arm_label(codes: Sequence[str]) -> str:
    """Display name of an arm from its treatment codes (``["mis", "open"]`` → ``surgery``)."""
    codes = list(codes)
    if sorted(codes) == _SURGERY:
        return "surgery"
    return " or ".join(_ARM_NAMES.get(c, c) for c in codes) or "?"


def arm_style(codes: Sequence[str]) -> dict[str, str]:
    """Colour, marker and line style of an arm (same conventions as the clinic pages)."""
    codes = list(codes)
    if sorted(codes) == _SURGERY:
        return dict(_ARM_STYLES["surgery"])
    return dict(_ARM_STYLES.get(codes[0] if codes else "", _ARM_STYLES["surgery"]))


def timepoint_order(codes: Sequence[str]) -> list[str]:
    """Timepoint codes in clinical order (unknown codes last, in their given order)."""
    known = [c for c, _ in _TIMEPOINTS]
    return sorted(dict.fromkeys(codes), key=lambda c: known.index(c) if c in known else len(known))


def timepoint_label(code: str) -> str:
    return dict(_TIMEPOINTS).get(code, code)


_INSTRUMENT_SHORT: dict[str, str] = display_field("report_short")


def instrument_short(code: str) -> str:
    """A short axis label for an instrument (``ODI``), else its title."""
    return _INSTRUMENT_SHORT.get(code) or instrument_title(code)


def instrument_title(code: str | None) -> str:
    """The registry's title of an instrument (``Back pain (NRS 0-10)``), else the code."""
    if not code:
        return ""
    try:
        return str(get_instrument(code).definition.title)
    except Exception:  # an unknown code is shown as it is
        return code


def covariate_label(name: str) -> str:
    """A readable covariate name (``x_dx_stenosis_with_claudication`` → ``diagnosis: stenosis
    with claudication``)."""
    n = name.removeprefix("x_")
    missing = n.endswith("_missing")
    if missing:
        n = n[: -len("_missing")]
    if n in _COVARIATES:
        label = _COVARIATES[n]
    elif n.startswith("dx_"):
        label = "diagnosis: " + n[3:].replace("_", " ")
    elif n.startswith("family_"):
        label = "procedure family: " + n[7:].replace("_", " ")
    else:
        label = n.replace("_", " ")
    return f"{label.split(' (')[0]} missing" if missing else label
