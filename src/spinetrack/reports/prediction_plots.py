"""The reliability diagram of a prediction model: observed against predicted, by groups of
predicted value (``spinetrack.predict``; the groups come with the model).

Drawn as the report's other figures are (:mod:`spinetrack.reports.figures`: matplotlib's object
API, SVG text kept as text, an accessible ``<title>`` and ``<desc>``, deterministic output).
Every number comes from the model's reliability groups and performance; only plotting positions
and number formatting are computed here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spinetrack.reports.svg import GRID, INK, MUTED, _figure, _to_svg

if TYPE_CHECKING:
    from spinetrack.predict.model import PredictionModel
    from spinetrack.stats.prediction import ReliabilityCurve

__all__ = ["model_reliability_diagram", "reliability_diagram"]

POINT = "#1f4e79"


def _bins(curve: ReliabilityCurve | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(curve, Mapping):
        return list(curve["bins"])
    return [b.as_dict() for b in curve.bins]


def reliability_diagram(curve: ReliabilityCurve | Mapping[str, Any], *, axis_label: str, title: str, desc: str,
                        fig_id: str, footer: str | None = None, percent: bool = False) -> str:
    """Observed (with its interval) against mean predicted value per group, with the line of
    perfect calibration; the number of patients of each group is written beside its point.

    Parameters
    ----------
    curve : ReliabilityCurve or its ``as_dict()``
        The groups (``mean_predicted``, ``observed``, ``ci_low``, ``ci_high``, ``n``).
    axis_label : str
        What is predicted, with its unit (both axes).
    title, desc : str
        Accessible name and description.
    fig_id : str
        Unique id of the figure in a page.
    footer : str, optional
        A line under the plot (e.g. the calibration slope and intercept).
    percent : bool
        Show probabilities as percentages.

    Returns
    -------
    str
        The SVG element.
    """
    bins = _bins(curve)
    scale = 100.0 if percent else 1.0
    xs = [float(b["mean_predicted"]) * scale for b in bins]
    ys = [float(b["observed"]) * scale for b in bins]
    lo = [float(b["ci_low"]) * scale for b in bins]
    hi = [float(b["ci_high"]) * scale for b in bins]
    values = [v for v in xs + ys + lo + hi if math.isfinite(v)]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    pad = 0.05 * (vmax - vmin) if vmax > vmin else 1.0
    lim = (vmin - pad, vmax + pad)
    if percent:
        lim = (max(lim[0], 0.0), min(lim[1], 100.0))
    with _figure(4.6, 4.4, left=0.75, bottom=0.85 if footer else 0.6, top=0.25, right=0.2) as fig:
        ax = fig.add_subplot()
        ax.plot(lim, lim, color=MUTED, lw=0.9, ls=(0, (4, 3)), label="perfect calibration", zorder=1)
        err = ([y - a for y, a in zip(ys, lo, strict=True)], [b - y for y, b in zip(ys, hi, strict=True)])
        ax.errorbar(xs, ys, yerr=err, fmt="o", ms=5, color=POINT, mfc=POINT, elinewidth=1.1, capsize=2,
                    label="observed (95% CI)", zorder=3)
        for x, y, b in zip(xs, ys, bins, strict=True):
            ax.annotate(f"{int(b['n'])}", (x, y), textcoords="offset points", xytext=(5, -9), fontsize=6.5,
                        color=MUTED)
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_aspect("equal", adjustable="box")
        unit = " (%)" if percent else ""
        ax.set_xlabel(f"predicted {axis_label}{unit}")
        ax.set_ylabel(f"observed {axis_label}{unit}")
        ax.grid(True, color=GRID, linewidth=0.5)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", fontsize=7.5)
        if footer:
            fig.text(0.02, 0.02, footer, ha="left", va="bottom", fontsize=7.5, color=INK)
        return _to_svg(fig, fig_id, title, desc)


def _survival_diagram(model: PredictionModel, fig_id: str | None) -> str | None:
    """A time-to-event model's calibration by risk group drawn as a reliability diagram:
    Kaplan–Meier survival at the check's time (with ± 1.959964 Greenwood SE, cut to 0–100%)
    against the group's mean predicted survival."""
    cal = model.calibration_groups
    if cal is None:
        return None
    z = 1.959963984540054
    bins = [{"mean_predicted": p, "observed": o, "ci_low": max(0.0, o - z * se), "ci_high": min(1.0, o + z * se),
             "n": n} for p, o, se, n in zip(cal.predicted, cal.observed, cal.standard_error, cal.n, strict=True)]
    label = f"survival at day {cal.time:g}"
    footer = (f"Greenwood-Nam-D'Agostino chi-square {cal.chi2:.1f} on {cal.df} df, p = {cal.p_value:.2g}; "
              f"{model.distribution or 'weibull'} AFT; n = {model.n}")
    if model.shrinkage is not None:
        footer += f"; covariate effects shrunk by {model.shrinkage:.2f}"
    desc = (f"Calibration by risk group of model {model.model_id}: Kaplan-Meier against mean predicted {label} in "
            f"{len(bins)} groups of predicted risk, with 95% intervals. {footer}.")
    return reliability_diagram({"bins": bins}, axis_label=label,
                               title=f"Calibration by risk group: {model.outcome.replace('_', ' ')} ({model.model_id})",
                               desc=desc, fig_id=fig_id or "rel-" + model.model_id.replace(".", "-"), footer=footer,
                               percent=True)


def model_reliability_diagram(model: PredictionModel, *, fig_id: str | None = None) -> str | None:
    """The reliability diagram of a fitted model, labelled from the model and footed with its
    optimism-corrected calibration intercept and slope; for a time-to-event model, its
    calibration by risk group (Kaplan–Meier against predicted survival; ``None`` when that
    check could not be made)."""
    if model.kind == "time_to_event":
        return _survival_diagram(model, fig_id)
    if model.reliability is None:
        return None
    perf = {m.name: m for m in model.performance.metrics}

    def fmt(name: str) -> str:
        m = perf.get(name)
        if m is None:
            return "n/a"
        corrected = "n/a" if m.corrected is None else f"{m.corrected:.2f}"
        return f"{m.apparent:.2f} (corrected {corrected})"

    footer = (f"Calibration intercept {fmt('calibration_intercept')}; slope {fmt('calibration_slope')}; "
              f"n = {model.n}")
    if model.shrinkage is not None:
        footer += f"; covariate effects shrunk by {model.shrinkage:.2f}"
    binary = model.kind == "binary"
    label = model.outcome.replace("_", " ") + ("" if binary else f", {model.unit}")
    groups = len(model.reliability.bins)
    desc = (f"Reliability diagram of model {model.model_id}: observed against predicted {label} in {groups} groups "
            f"of equal size by prediction, with 95% intervals. {footer}.")
    return reliability_diagram(model.reliability, axis_label="risk" if binary else label,
                               title=f"Reliability: {label} ({model.model_id})", desc=desc,
                               fig_id=fig_id or "rel-" + model.model_id.replace(".", "-"), footer=footer,
                               percent=binary)
