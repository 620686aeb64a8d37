"""Meta-analysis figures: the forest plot and the funnel plot of a pooled result.

Both draw a :class:`~spinetrack.stats.meta.MetaResult` as it is (every number comes from the
result; only plotting positions, the funnel's pseudo-confidence limits ``mu ± z·SE`` and
number formatting are computed here) and return a self-contained SVG string made the same way
as the report's other figures (:mod:`spinetrack.reports.figures`: matplotlib's object API with
the non-interactive Agg/SVG canvases, the bundled DejaVu Sans font, text kept as text, an
accessible ``<title>`` and ``<desc>``, deterministic output). With ``png_path`` the figure is
also written as a PNG (Agg, 200 dpi). No network, no files besides ``png_path``.

* :func:`forest_plot` — RevMan/metafor layout: one row per study with its estimate and interval
  (square sized by weight), the weight in percent and the estimate [CI] as text, the pooled
  diamond, the prediction-interval bar for random-effects models, heterogeneity and the test of
  the overall effect in the footer. Ratio measures are drawn on the log scale with tick labels
  back-transformed (0.1, 0.5, 1, 2 ...).
* :func:`funnel_plot` — estimates against their standard errors (SE axis inverted, 0 at the top)
  with the pooled estimate and the pseudo 95% confidence limits.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spinetrack.reports.svg import GRID, INK, MUTED, _figure, _to_svg

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from spinetrack.stats.meta import MetaResult

__all__ = ["forest_plot", "funnel_plot", "measure_label"]

_MEASURE_LABELS = {
    "MD": "Mean difference",
    "SMD": "Std. mean difference (Hedges' g)",
    "RR": "Risk ratio",
    "OR": "Odds ratio",
    "RD": "Risk difference",
    "GEN": "Estimate",
}
_METHOD_LABELS = {
    "FE": "fixed effect, inverse variance",
    "MH": "fixed effect, Mantel-Haenszel",
    "DL": "random effects, DerSimonian-Laird",
    "REML": "random effects, REML",
    "PM": "random effects, Paule-Mandel",
}
_RATIO_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
                200.0, 500.0, 1000.0)
SQUARE = "#1f4e79"
DIAMOND = "#1a1a1a"
PI_COLOR = "#8a4b08"


def measure_label(measure: str) -> str:
    """Display name of an effect measure ("RR" → "Risk ratio")."""
    return _MEASURE_LABELS.get(measure, measure)


def _num(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}".replace("-", "\u2212")


def _decimals(result: MetaResult) -> int:
    return 3 if result.measure == "RD" else 2


def _display(result: MetaResult, x: float) -> float:
    """A value on the analysis scale as displayed (ratios back-transformed)."""
    return math.exp(x) if result.is_ratio else x


def _interval_text(result: MetaResult, est: float, lo: float, hi: float) -> str:
    d = _decimals(result)
    return (f"{_num(_display(result, est), d)} [{_num(_display(result, lo), d)}, "
            f"{_num(_display(result, hi), d)}]")


def _p_text(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "p not available"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}" if p < 0.001 else f"p = {p:.3f}"


def _ratio_axis(ax: Axes, lo: float, hi: float) -> None:
    """Log-scale positions with back-transformed labels (the values are logs of ratios)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter

    ticks = [math.log(t) for t in _RATIO_TICKS if lo <= math.log(t) <= hi]
    if len(ticks) > 7:  # thin out: keep 1 and every other tick
        ticks = [t for i, t in enumerate(ticks) if i % 2 == 0 or abs(t) < 1e-12]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{math.exp(x):g}"))


def _x_limits(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = min([*finite, 0.0]), max([*finite, 0.0])
    pad = 0.06 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def _draw_forest(fig: Figure, ax: Axes, result: MetaResult, *, left_label: str | None,
                 right_label: str | None) -> None:
    from matplotlib.patches import Polygon
    from matplotlib.transforms import blended_transform_factory

    k = result.k
    random = result.model == "random"
    pi = (result.pi_low, result.pi_high) if result.pi_low is not None and result.pi_high is not None else None
    has_pi = pi is not None
    values = [*map(float, result.study_ci_low), *map(float, result.study_ci_high), result.ci_low, result.ci_high]
    if pi is not None:
        values += list(pi)
    xmin, xmax = _x_limits(values)
    ys = [k - i for i in range(k)]
    pooled_y = -0.6
    pi_y = -1.6
    ax.axvline(0.0, color=INK, lw=0.8, zorder=1)
    ax.axvline(result.estimate, color=MUTED, lw=0.7, ls=(0, (3, 3)), zorder=1)
    wmax = max(float(max(result.weights)), 1e-12)
    for y, est, lo, hi, w in zip(ys, result.yi, result.study_ci_low, result.study_ci_high, result.weights,
                                 strict=True):
        ax.plot([lo, hi], [y, y], color=INK, lw=1.0, solid_capstyle="butt", zorder=2)
        size = 3.0 + 7.0 * math.sqrt(float(w) / wmax)  # marker side ∝ sqrt(weight): area ∝ weight
        ax.plot([est], [y], marker="s", ms=size, color=SQUARE, mec=SQUARE, ls="none", zorder=3)
    diamond = Polygon([(result.ci_low, pooled_y), (result.estimate, pooled_y + 0.32), (result.ci_high, pooled_y),
                       (result.estimate, pooled_y - 0.32)], closed=True, facecolor=DIAMOND, edgecolor=DIAMOND,
                      zorder=4)
    ax.add_patch(diamond)
    if pi is not None:
        lo_pi, hi_pi = pi
        ax.plot([lo_pi, hi_pi], [pi_y, pi_y], color=PI_COLOR, lw=2.2, solid_capstyle="butt", zorder=3)
        ax.plot([lo_pi, lo_pi], [pi_y - 0.18, pi_y + 0.18], color=PI_COLOR, lw=1.2)
        ax.plot([hi_pi, hi_pi], [pi_y - 0.18, pi_y + 0.18], color=PI_COLOR, lw=1.2)
    bottom = pi_y - 0.8 if has_pi else pooled_y - 0.8
    ax.set_ylim(bottom, k + 0.8)
    ax.set_xlim(xmin, xmax)
    if result.is_ratio:
        _ratio_axis(ax, xmin, xmax)
    else:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.grid(True, axis="x", color=GRID, linewidth=0.5)
    ax.set_axisbelow(True)
    scale = " (log scale)" if result.is_ratio else ""
    ax.set_xlabel(f"{measure_label(result.measure)}{scale}")
    for label, x, ha, text in ((left_label, 0.0, "left", f"\u2190 {left_label}"),
                               (right_label, 1.0, "right", f"{right_label} \u2192")):
        if label:  # below the axis label, at the two ends of the axis
            ax.annotate(text, xy=(x, 0.0), xycoords="axes fraction", xytext=(0, -38), textcoords="offset points",
                        ha=ha, va="top", fontsize=7.5, color=MUTED)

    # text columns: study label (left margin), weight and estimate [CI] (right margin)
    trans = blended_transform_factory(fig.transFigure, ax.transData)
    x_study, x_weight, x_est = 0.012, 0.735, 0.988
    head_y = k + 0.8
    level = f"{result.ci_level:.0%}"
    ax.text(x_study, head_y, "Study", transform=trans, ha="left", va="bottom", fontweight="bold")
    ax.text(x_weight, head_y, "Weight", transform=trans, ha="right", va="bottom", fontweight="bold")
    ax.text(x_est, head_y, f"{result.measure} [{level} CI]", transform=trans, ha="right", va="bottom",
            fontweight="bold")
    for y, label, est, lo, hi, w in zip(ys, result.labels, result.yi, result.study_ci_low, result.study_ci_high,
                                        result.weights, strict=True):
        text = label if len(label) <= 34 else label[:33] + "\u2026"
        ax.text(x_study, y, text, transform=trans, ha="left", va="center")
        ax.text(x_weight, y, f"{float(w):.1f}%", transform=trans, ha="right", va="center")
        ax.text(x_est, y, _interval_text(result, float(est), float(lo), float(hi)), transform=trans, ha="right",
                va="center")
    method = _METHOD_LABELS.get(result.method, result.method) + (", Hartung-Knapp-Sidik-Jonkman" if result.hksj else "")
    short = result.method + (", HKSJ" if result.hksj else "")
    ax.text(x_study, pooled_y, f"Total ({short})", transform=trans, ha="left", va="center", fontweight="bold")
    ax.text(x_weight, pooled_y, "100.0%", transform=trans, ha="right", va="center", fontweight="bold")
    ax.text(x_est, pooled_y, _interval_text(result, result.estimate, result.ci_low, result.ci_high), transform=trans,
            ha="right", va="center", fontweight="bold")
    if pi is not None:
        ax.text(x_study, pi_y, f"Prediction interval ({level})", transform=trans, ha="left", va="center",
                color=PI_COLOR)
        ax.text(x_est, pi_y, "[" + ", ".join(_num(_display(result, v), _decimals(result)) for v in pi) + "]",
                transform=trans, ha="right", va="center", color=PI_COLOR)
    footer = [f"Model: {method}"]
    if result.k >= 2:
        tau = f"\u03c4\u00b2 = {result.tau2:.3g}; " if random else ""
        i2 = "" if result.i2 is None else f"; I\u00b2 = {result.i2:.0f}%"
        footer.append(f"Heterogeneity: {tau}Q = {result.q:.2f}, df = {result.q_df} ({_p_text(result.q_p_value)}){i2}")
    else:
        footer.append("Heterogeneity: not applicable (one study)")
    df = f"({result.df})" if result.df is not None else ""
    footer.append(f"Test for overall effect: {result.statistic_name}{df} = "
                  f"{_num(result.statistic, 2)} ({_p_text(result.p_value)})")
    fig.text(0.012, 0.012, "\n".join(footer), ha="left", va="bottom", fontsize=7.5, color=MUTED)


def forest_plot(
    result: MetaResult,
    *,
    title: str | None = None,
    desc: str | None = None,
    fig_id: str = "meta-forest",
    png_path: str | Path | None = None,
    left_label: str | None = None,
    right_label: str | None = None,
) -> str:
    """Forest plot of a pooled result (one row per study, pooled diamond, prediction interval).

    Parameters
    ----------
    result : MetaResult
        From :func:`spinetrack.stats.meta.pool_studies`.
    title, desc : str, optional
        Accessible name and description (defaults describe the analysis).
    fig_id : str, default "meta-forest"
        Id of the SVG element (prefix of its internal ids).
    png_path : str or Path, optional
        Also write the figure as a PNG here.
    left_label, right_label : str, optional
        Direction labels under the axis (e.g. "favours MIS", "favours open").

    Returns
    -------
    str
        The SVG element.
    """
    k = result.k
    has_pi = result.pi_low is not None
    rows = k + 3.7 + (1.0 if has_pi else 0.0)
    height = 0.24 * rows + 1.25
    name = measure_label(result.measure)
    title = title or f"Forest plot: {name.lower()}, {k} stud{'y' if k == 1 else 'ies'}"
    if desc is None:
        pooled = _interval_text(result, result.estimate, result.ci_low, result.ci_high)
        desc = (f"{name} per study with {result.ci_level:.0%} confidence intervals; pooled "
                f"{_METHOD_LABELS.get(result.method, result.method)}: {pooled}.")
    with _figure(9.6, height + 0.3, left=3.0, right=2.75, bottom=1.25, top=0.35) as fig:
        ax = fig.add_subplot()
        _draw_forest(fig, ax, result, left_label=left_label, right_label=right_label)
        if png_path is not None:
            fig.savefig(Path(png_path), format="png", dpi=200)
        return _to_svg(fig, fig_id, title, desc)


def _draw_funnel(ax: Axes, result: MetaResult, *, ci_level: float = 0.95) -> None:
    se = [math.sqrt(float(v)) for v in result.vi]
    se_max = max(se) * 1.08
    z = statistics.NormalDist().inv_cdf(0.5 + ci_level / 2.0)
    mu = result.estimate
    ax.fill([mu - z * se_max, mu, mu + z * se_max], [se_max, 0.0, se_max], color="#f2f4f7", zorder=0, lw=0)
    ax.plot([mu - z * se_max, mu, mu + z * se_max], [se_max, 0.0, se_max], color=MUTED, lw=0.8, ls=(0, (4, 3)),
            zorder=1, label=f"pseudo {ci_level:.0%} confidence limits")
    ax.axvline(mu, color=INK, lw=0.9, zorder=1, label="pooled estimate")
    ax.plot(list(map(float, result.yi)), se, marker="o", ls="none", ms=5, color=SQUARE, mec="white", mew=0.6,
            zorder=3, label="studies")
    ax.set_ylim(se_max, 0.0)  # inverted: precise studies at the top
    values = [*map(float, result.yi), mu - z * se_max, mu + z * se_max]
    xmin, xmax = _x_limits(values)
    ax.set_xlim(xmin, xmax)
    if result.is_ratio:
        _ratio_axis(ax, xmin, xmax)
    scale = " (log scale)" if result.is_ratio else ""
    ax.set_xlabel(f"{measure_label(result.measure)}{scale}")
    ax.set_ylabel("Standard error")
    ax.grid(True, axis="both", color=GRID, linewidth=0.5)
    ax.set_axisbelow(True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=7.5)


def funnel_plot(
    result: MetaResult,
    *,
    title: str | None = None,
    desc: str | None = None,
    fig_id: str = "meta-funnel",
    png_path: str | Path | None = None,
) -> str:
    """Funnel plot: study estimates against their standard errors (inverted axis).

    Parameters
    ----------
    result : MetaResult
    title, desc : str, optional
    fig_id : str, default "meta-funnel"
    png_path : str or Path, optional
        Also write the figure as a PNG here.

    Returns
    -------
    str
        The SVG element.
    """
    name = measure_label(result.measure)
    title = title or f"Funnel plot: {name.lower()}, {result.k} studies"
    desc = desc or (f"Each study's {name.lower()} against its standard error (most precise at the top), with the "
                    f"pooled estimate and pseudo {result.ci_level:.0%} confidence limits. Asymmetry can reflect "
                    "small-study effects, publication bias, heterogeneity or chance.")
    with _figure(5.6, 4.6, left=0.75, bottom=0.85) as fig:
        ax = fig.add_subplot()
        _draw_funnel(ax, result, ci_level=result.ci_level)
        if png_path is not None:
            fig.savefig(Path(png_path), format="png", dpi=200)
        return _to_svg(fig, fig_id, title, desc)
