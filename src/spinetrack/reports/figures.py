"""The report's figures: one function per figure, each returning a self-contained SVG string.

Drawn with matplotlib's object API (:class:`matplotlib.figure.Figure` and the SVG canvas; no
``pyplot``, so no global figure state and no GUI backend is touched), imported inside the
functions so that importing :mod:`spinetrack.reports` stays cheap; the figure context, the house
colours and the SVG conversion are in :mod:`spinetrack.reports.svg`. Text stays text
(``svg.fonttype = "none"``, font "DejaVu Sans" with a generic sans-serif fallback), so figures
are searchable and read by screen readers; ids are prefixed per figure so that many figures
can live in one HTML page; output is deterministic (fixed hash salt, no date).

Accessibility: every SVG has ``role="img"`` and a ``<title>`` and ``<desc>`` referenced by
``aria-labelledby``; arms differ by marker and line style as well as colour (the conventions
of the clinic pages); the page puts the numbers in a table next to each figure.

The functions draw what they are given and compute nothing beyond plotting positions and the
normal quantile of the interval level.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spinetrack.reports.svg import (
    CLAIM_SHADE,
    GRID,
    HIGHLIGHT,
    INK,
    MUTED,
    _figure,
    _style_axes,
    _to_svg,
    deferrable,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "Arm",
    "BalancePanel",
    "ForestRow",
    "SurvivalPanel",
    "TrajectoryPanel",
    "followup_plot",
    "forest_plot",
    "love_plot",
    "ps_overlap_plot",
    "survival_plot",
    "trajectory_plot",
]


@dataclass(frozen=True, slots=True)
class Arm:
    """How one arm is named and drawn."""

    label: str
    color: str
    marker: str
    linestyle: str


@dataclass(frozen=True, slots=True)
class ForestRow:
    """One comparison in a forest plot, on the displayed scale (already in percentage points
    where the page shows them). ``message`` replaces the estimates (withheld, not applicable)."""

    label: str
    adjusted: tuple[float, float, float] | None = None
    naive: float | None = None
    aipw: tuple[float, float, float] | None = None
    ipcw: tuple[float, float, float] | None = None
    message: str | None = None


# ------------------------------------------------------------------------------------ figures


@deferrable
def forest_plot(rows: Sequence[ForestRow], *, better: str, axis_label: str, title: str, desc: str,
                fig_id: str) -> str:
    """Adjusted estimate with its interval beside the naive difference (and the AIPW and IPCW
    sensitivity estimates when given), one row per comparison.

    Parameters
    ----------
    rows : sequence of ForestRow
        One per comparison, top to bottom, on the displayed scale.
    better : {"lower", "higher"}
        The direction that supports the claim; that side of 0 is shaded.
    axis_label : str
        Label of the x axis (the difference and its unit).
    title, desc : str
        Accessible name and description of the figure.
    fig_id : str
        Unique id of the figure in the page (prefix of its internal ids).

    Returns
    -------
    str
        The SVG element.
    """
    series = (("adjusted", "adjusted (weighted)", "s", INK, True, -0.24),
              ("aipw", "doubly robust", "D", "#0b5cad", True, -0.08),
              ("ipcw", "IPCW (loss to follow-up)", "^", "#8a4b08", True, 0.08),
              ("naive", "naive (unadjusted)", "o", MUTED, False, 0.24))
    present = {name for name, *_ in series if any(getattr(r, name) is not None for r in rows)}
    values = [0.0]
    for r in rows:
        for name in present:
            v = getattr(r, name)
            if v is None:
                continue
            values.extend(v if isinstance(v, tuple) else (v,))
    lo, hi = min(values), max(values)
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    xmin, xmax = lo - pad, hi + pad
    with _figure(6.4, 0.55 * len(rows) + 1.2, left=1.9, top=0.55) as fig:
        ax = fig.add_subplot()
        if better == "lower":
            ax.axvspan(xmin, 0.0, color=CLAIM_SHADE, zorder=0, lw=0)
        else:
            ax.axvspan(0.0, xmax, color=CLAIM_SHADE, zorder=0, lw=0)
        ax.axvline(0.0, color=INK, lw=0.9, zorder=1)
        n = len(rows)
        for i, r in enumerate(rows):
            if r.message:
                ax.text(0.5, n - 1 - i, r.message, transform=ax.get_yaxis_transform(), ha="center", va="center",
                        color=MUTED, fontsize=8, style="italic")
        for name, label, marker, color, has_ci, dy in series:  # one artist per series (has_ci: filled marker)
            if name not in present:
                continue
            xs: list[float] = []
            ys: list[float] = []
            err: tuple[list[float], list[float]] = ([], [])
            for i, r in enumerate(rows):
                v = getattr(r, name)
                if r.message or v is None:
                    continue
                est, c_lo, c_hi = v if isinstance(v, tuple) else (v, v, v)
                xs.append(est)
                ys.append(n - 1 - i - dy)
                err[0].append(est - c_lo)
                err[1].append(c_hi - est)
            big = name == "adjusted"
            ax.errorbar(xs, ys, xerr=err if has_ci else None, fmt=marker, ms=6 if big else 5, color=color,
                        mfc=color if has_ci else "white", mew=1.1, elinewidth=1.6 if big else 1.1, capsize=0,
                        label=label)
        ax.plot([], [], color=CLAIM_SHADE, lw=8, label="claimed direction")
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda k: labels[k] == "claimed direction")
        ax.set_xlim(xmin, xmax)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_yticks(range(n), [_wrap(r.label, 24) for r in reversed(rows)])
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(axis_label)
        ax.xaxis.set_major_locator(_locator(6))
        _style_axes(ax)
        fig.legend([handles[k] for k in order], [labels[k] for k in order], loc="upper center", ncol=3,
                   handlelength=1.6)
        return _to_svg(fig, fig_id, title, desc)


def _panel_grid(fig: Figure, n: int, *, sharey: bool) -> list[Axes]:
    """``n`` panels, up to three per row; unused cells are hidden (and not drawn)."""
    ncols = min(3, max(n, 1))
    nrows = -(-max(n, 1) // ncols)
    grid = fig.subplots(nrows, ncols, sharex=True, sharey=sharey, squeeze=False,
                        gridspec_kw={"wspace": 0.12, "hspace": 0.62})
    axes = [ax for row in grid for ax in row]
    for i, ax in enumerate(axes):
        if i >= n:
            ax.set_visible(False)
        elif i + ncols < n:  # another panel below: its x tick labels serve this one too
            ax.tick_params(labelbottom=False)
    return axes[:n]


def _panel_height(n: int) -> float:
    return 2.05 * -(-max(n, 1) // 3) + 0.75


def _figure_legend(fig: Figure, panels: Sequence[TrajectoryPanel | SurvivalPanel], kind: str) -> None:
    from matplotlib.lines import Line2D

    seen: dict[str, Arm] = {}
    for p in panels:
        if p.message is None:
            for arm in p.arms.values():
                seen.setdefault(arm.label, arm)
    handles = [Line2D([], [], color=a.color, ls=a.linestyle, marker=a.marker if kind == "markers" else None, ms=4.5,
                      label=label) for label, a in seen.items()]
    if handles:
        fig.legend(handles=handles, loc="upper center", ncol=len(handles), bbox_to_anchor=(0.5, 1.0))


def _panel_title(ax: Axes, label: str, width: int = 30, fontsize: float = 8.5) -> None:
    """The panel's name above its top left corner (placed as text: matplotlib's axes titles are
    moved clear of the tick labels by measuring every panel, a quarter of a figure's drawing time)."""
    ax.text(0.0, 1.04, _wrap(label, width), transform=ax.transAxes, ha="left", va="bottom", fontsize=fontsize)


def _message(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, _wrap(text, 28), transform=ax.transAxes, ha="center", va="center", color=MUTED, fontsize=8,
            style="italic")
    ax.tick_params(left=False, bottom=False, labelbottom=False)


@dataclass(frozen=True, slots=True)
class SurvivalPanel:
    """One comparison's weighted Kaplan–Meier curves (the document's ``curves``: per arm lists
    ``time``, ``survival``, ``ci_low``, ``ci_high``), or a ``message`` instead (withheld …)."""

    label: str
    arms: Mapping[str, Arm]
    curves: Mapping[str, Mapping[str, Any]] | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class TrajectoryPanel:
    """One comparison's weighted mean scores (the document's ``trajectories`` rows of one
    instrument: ``arm``, ``timepoint``, ``mean``, ``se``), or a ``message`` instead."""

    label: str
    arms: Mapping[str, Arm]
    points: Sequence[Mapping[str, Any]] = ()
    message: str | None = None


@deferrable
def survival_plot(panels: Sequence[SurvivalPanel], *, horizon: float | None, y_label: str, title: str, desc: str,
                  fig_id: str) -> str:
    """Weighted Kaplan–Meier curves per arm with their pointwise interval bands, one small
    panel per comparison (shared y axis).

    Parameters
    ----------
    panels : sequence of SurvivalPanel
        One per comparison, in reading order.
    horizon : float or None
        The claim's horizon in days: the x axes end there and a dotted line marks it.
    y_label : str
        What the curves estimate (e.g. ``reoperation-free``).
    title, desc, fig_id : str
        Accessible name and description, unique figure id.

    Returns
    -------
    str
        The SVG element.
    """
    with _figure(6.6, _panel_height(len(panels)), left=0.6, bottom=0.45, top=0.6, right=0.1) as fig:
        for ax, panel in zip(_panel_grid(fig, len(panels), sharey=True), panels, strict=True):
            _panel_title(ax, panel.label)
            if panel.message is not None or not panel.curves:
                _message(ax, panel.message or "no curves")
                continue
            for key in ("treated", "control"):
                c = panel.curves.get(key)
                if not c:
                    continue
                t, s, lo, hi = _steps(c)
                arm = panel.arms[key]
                ax.fill_between(t, lo, hi, step="post", color=arm.color, alpha=0.16, lw=0)
                ax.step(t, s, where="post", color=arm.color, ls=arm.linestyle, lw=1.3)
            if horizon:
                ax.axvline(horizon, color=MUTED, lw=0.8, ls=":")
                ax.set_xlim(0, horizon * 1.02)
            ax.tick_params(labelsize=7.5)
            ax.xaxis.set_major_locator(_locator(4))  # few ticks: each costs as much to draw as a curve
            ax.yaxis.set_major_locator(_locator(4))
            _style_axes(ax, grid_axis="y")
        fig.supxlabel("days from the index date", fontsize=8.5)
        fig.supylabel(_wrap(y_label, 34), fontsize=8.5)
        _figure_legend(fig, panels, "lines")
        return _to_svg(fig, fig_id, title, desc)


@deferrable
def trajectory_plot(panels: Sequence[TrajectoryPanel], *, timepoints: Sequence[tuple[str, str]], y_label: str,
                    ci_level: float, mcid: float | None, higher_is_better: bool, highlight: str | None, title: str,
                    desc: str, fig_id: str) -> str:
    """Weighted mean score per arm at each timepoint with interval bars, one small panel per
    comparison (shared y axis), the claim's timepoint shaded and one MCID marked from the
    control arm's baseline mean (a bracket at baseline and a dashed line).

    Parameters
    ----------
    panels : sequence of TrajectoryPanel
        One per comparison, in reading order.
    timepoints : sequence of (code, label)
        The x axis, in order (short labels read best).
    y_label : str
        The score and its direction.
    ci_level : float
        Level of the bars (mean ± z·SE).
    mcid : float or None
        Minimal clinically important difference in score points; no marker when None.
    higher_is_better : bool
        Direction of improvement (where the MCID marker points).
    highlight : str or None
        The timepoint of the claim.
    title, desc, fig_id : str
        Accessible name and description, unique figure id.

    Returns
    -------
    str
        The SVG element.
    """
    z = statistics.NormalDist().inv_cdf(0.5 + ci_level / 2.0)
    pos = {code: i for i, (code, _label) in enumerate(timepoints)}
    with _figure(6.6, _panel_height(len(panels)), left=0.7, bottom=0.45, top=0.6, right=0.1) as fig:
        ys: list[float] = []
        axes = _panel_grid(fig, len(panels), sharey=True)
        for ax, panel in zip(axes, panels, strict=True):
            _panel_title(ax, panel.label)
            if panel.message is not None or not panel.points:
                _message(ax, panel.message or "no questionnaires")
                continue
            if highlight in pos:
                ax.axvspan(pos[highlight] - 0.42, pos[highlight] + 0.42, color=HIGHLIGHT, lw=0, zorder=0)
            for key, dx in (("treated", -0.08), ("control", 0.08)):
                rows = sorted((p for p in panel.points if p["arm"] == key and p["timepoint"] in pos),
                              key=lambda p: pos[p["timepoint"]])
                if not rows:
                    continue
                arm = panel.arms[key]
                y = [float(p["mean"]) for p in rows]
                err = [z * float(p.get("se") or 0.0) for p in rows]
                ys.extend(v + sgn * e for v, e in zip(y, err, strict=True) for sgn in (-1, 1))
                ax.errorbar([pos[p["timepoint"]] + dx for p in rows], y, yerr=err, color=arm.color,
                            ls=arm.linestyle, marker=arm.marker, ms=3.5, lw=1.1, capsize=0, elinewidth=1.0)
            base = [p for p in panel.points if p["arm"] == "control" and p["timepoint"] == timepoints[0][0]]
            if mcid and base:
                y0 = float(base[0]["mean"])
                y1 = y0 + mcid if higher_is_better else y0 - mcid
                ys.append(y1)
                ax.plot([0.5, len(timepoints) - 0.5], [y1, y1], color=MUTED, lw=0.8, ls=(0, (4, 3)))
                ax.annotate("", xy=(-0.32, y1), xytext=(-0.32, y0),
                            arrowprops={"arrowstyle": "|-|,widthA=0.2,widthB=0.2", "color": MUTED, "lw": 0.8})
            ax.set_xlim(-0.5, len(timepoints) - 0.5)
            ax.set_xticks(range(len(timepoints)), [label for _code, label in timepoints])
            ax.tick_params(labelsize=7.5)
            _style_axes(ax, grid_axis="y")
        if ys:
            lo, hi = min(ys), max(ys)
            pad = 0.1 * (hi - lo) if hi > lo else 1.0
            axes[0].set_ylim(lo - pad, hi + pad)
            axes[0].yaxis.set_major_locator(_locator(4))
        fig.supylabel(_wrap(y_label, 34), fontsize=8.5)
        mcid_note = f"; dashed: 1 MCID ({mcid:g}) from the control baseline" if mcid else ""
        fig.supxlabel(f"timepoint (shaded: the claim's){mcid_note}", fontsize=8)
        _figure_legend(fig, panels, "markers")
        return _to_svg(fig, fig_id, title, desc)


@deferrable
def followup_plot(followup: Sequence[Mapping[str, Any]], *, timepoint_labels: Mapping[str, str],
                  arms: Mapping[str, Arm], title: str, desc: str, fig_id: str) -> str:
    """Share of each arm with a returned questionnaire per timepoint (grouped bars; the control
    arm hatched).

    Parameters
    ----------
    followup : sequence of mapping
        The document's ``followup`` rows (``timepoint``, ``returned_*``, ``population_*``).
    timepoint_labels : mapping of str to str
        Display labels of the timepoint codes.
    arms : mapping of str to Arm
        Names and styles of ``"treated"`` and ``"control"``.
    title, desc, fig_id : str
        Accessible name and description, unique figure id.

    Returns
    -------
    str
        The SVG element.
    """
    with _figure(5.6, 2.4, left=0.65, bottom=0.4, top=0.4) as fig:
        ax = fig.add_subplot()
        xs = list(range(len(followup)))
        for key, dx, hatch in (("treated", -0.19, None), ("control", 0.19, "///")):
            arm = arms[key]
            share = [100.0 * r[f"returned_{key}"] / r[f"population_{key}"] if r[f"population_{key}"] else 0.0
                     for r in followup]
            ax.bar([x + dx for x in xs], share, width=0.36, color=arm.color if hatch is None else "white",
                   edgecolor=arm.color, hatch=hatch, lw=1.0, label=arm.label)
        ax.set_xticks(xs, [timepoint_labels.get(r["timepoint"], r["timepoint"]) for r in followup])
        ax.set_ylim(0, 105)
        ax.set_ylabel("followed up (%)")
        _style_axes(ax, grid_axis="y")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
        return _to_svg(fig, fig_id, title, desc)


@dataclass(frozen=True, slots=True)
class BalancePanel:
    """One comparison's standardised mean differences (the document's ``balance_before.rows`` and
    ``balance_after.rows``: ``name``, ``smd``) and the balance threshold of its diagnostic."""

    label: str
    before: Sequence[Mapping[str, Any]]
    after: Sequence[Mapping[str, Any]]
    threshold: float


@deferrable
def love_plot(panels: Sequence[BalancePanel], *, labels: Mapping[str, str], title: str, desc: str,
              fig_id: str) -> str:
    """Absolute standardised mean difference per covariate before and after weighting, one narrow
    panel per comparison side by side, the covariates named once on the left (in the order of
    their largest imbalance before weighting, the largest at the top), each panel's balance
    threshold as a dashed line. A covariate a comparison does not use is left blank in its panel.

    Parameters
    ----------
    panels : sequence of BalancePanel
        One per comparison, in reading order.
    labels : mapping of str to str
        Display names of the covariates.
    title, desc, fig_id : str
        Accessible name and description, unique figure id.

    Returns
    -------
    str
        The SVG element.
    """
    worst: dict[str, float] = {}
    for panel in panels:
        for r in panel.before:
            worst[r["name"]] = max(worst.get(r["name"], 0.0), abs(float(r["smd"])))
    names = sorted(worst, key=lambda k: (worst[k], k))  # bottom to top
    row = {k: i for i, k in enumerate(names)}
    n = max(len(panels), 1)
    xmax = max([1e-9, *worst.values(), *(abs(float(r["smd"])) for p in panels for r in p.after),
                *(p.threshold for p in panels)]) * 1.08
    with _figure(6.9, 0.16 * len(names) + 1.45, left=2.35, right=0.1, top=0.92, bottom=0.42) as fig:
        grid = fig.subplots(1, n, squeeze=False, gridspec_kw={"wspace": 0.1})[0]
        for j, (ax, panel) in enumerate(zip(grid, panels, strict=False)):
            _panel_title(ax, panel.label, 16, 7.5)
            after_by = {r["name"]: abs(float(r["smd"])) for r in panel.after}
            b_x = [abs(float(r["smd"])) for r in panel.before]
            b_y = [row[r["name"]] for r in panel.before]
            pairs = [(b, after_by[r["name"]], row[r["name"]]) for r, b in zip(panel.before, b_x, strict=True)
                     if r["name"] in after_by]
            ax.hlines([y for _b, _a, y in pairs], [min(b, a) for b, a, _y in pairs],
                      [max(b, a) for b, a, _y in pairs], color=GRID, lw=1.0, zorder=1)
            ax.plot(b_x, b_y, ls="none", marker="o", mfc="white", color=MUTED, ms=4, zorder=2,
                    label="before weighting")
            ax.plot([a for _b, a, _y in pairs], [y for _b, _a, y in pairs], ls="none", marker="s", color=INK,
                    ms=3.5, zorder=3, label="after weighting")
            ax.axvline(panel.threshold, color=INK, lw=0.9, ls="--", label="threshold")
            ax.set_xlim(0, xmax)
            ax.set_ylim(-0.7, len(names) - 0.3)
            ax.xaxis.set_major_locator(_locator(3))
            ax.set_yticks([])
            ax.tick_params(axis="x", labelsize=7)
            _style_axes(ax)
            if j == 0:  # the covariates named once, as text (no tick objects: a third of the drawing time)
                for k in names:
                    ax.text(-0.04, row[k], labels.get(k, k), transform=ax.get_yaxis_transform(), ha="right",
                            va="center", fontsize=7)
        for ax in grid[len(panels):]:
            ax.set_visible(False)
        fig.supxlabel("absolute standardised mean difference (dashed: the balance threshold)", fontsize=8,
                      x=0.5 + 1.1 / 6.9)
        if panels:
            handles, names_ = grid[0].get_legend_handles_labels()
            thresholds = sorted({p.threshold for p in panels})
            names_ = [f"threshold {', '.join(f'{t:g}' for t in thresholds)}" if x == "threshold" else x
                      for x in names_]
            fig.legend(handles, names_, loc="upper center", ncol=3)
        return _to_svg(fig, fig_id, title, desc)


@deferrable
def ps_overlap_plot(histogram: Mapping[str, Sequence[float]], *, arms: Mapping[str, Arm], title: str,
                    desc: str, fig_id: str) -> str:
    """Mirrored histograms of the propensity score: the treated arm above the axis, the
    control arm below.

    Parameters
    ----------
    histogram : mapping
        The document's ``ps_histogram`` (``edges`` and the counts ``treated`` and ``control``).
    arms : mapping of str to Arm
        Names and styles of ``"treated"`` and ``"control"``.
    title, desc, fig_id : str
        Accessible name and description, unique figure id.

    Returns
    -------
    str
        The SVG element.
    """
    edges = [float(e) for e in histogram["edges"]]
    left = edges[:-1]
    widths = [b - a for a, b in itertools.pairwise(edges)]
    with _figure(5.6, 2.8, left=0.7, top=0.4) as fig:
        ax = fig.add_subplot()
        t = arms["treated"]
        c = arms["control"]
        ax.bar(left, [float(v) for v in histogram["treated"]], width=widths, align="edge", color=t.color,
               edgecolor="white", lw=0.5, label=f"{t.label} (above)")
        ax.bar(left, [-float(v) for v in histogram["control"]], width=widths, align="edge", color="white",
               edgecolor=c.color, hatch="///", lw=0.8, label=f"{c.label} (below)")
        ax.axhline(0, color=INK, lw=0.8)
        ax.yaxis.set_major_formatter(_abs_formatter())
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("propensity score")
        ax.set_ylabel("patients")
        _style_axes(ax, grid_axis="y")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
        return _to_svg(fig, fig_id, title, desc)


def _steps(curve: Mapping[str, Any]) -> tuple[list[float], list[float], list[float], list[float]]:
    """The corners of a step curve and its band: a time where neither the estimate nor its
    limits change draws nothing and is left out (the last time is kept to end the curve);
    the curve starts at 1 at time 0."""
    t, s = _floats(curve["time"]), _floats(curve["survival"])
    lo, hi = _floats(curve.get("ci_low") or s), _floats(curve.get("ci_high") or s)
    out: tuple[list[float], list[float], list[float], list[float]] = ([], [], [], [])
    if t and t[0] > 0:
        for col, v in zip(out, (0.0, 1.0, 1.0, 1.0), strict=True):
            col.append(v)
    for i in range(len(t)):
        same = out[0] and all(_same(col[-1], v) for col, v in zip(out[1:], (s[i], lo[i], hi[i]), strict=True))
        if not same or i == len(t) - 1:
            for col, v in zip(out, (t[i], s[i], lo[i], hi[i]), strict=True):
                col.append(v)
    return out


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _locator(nbins: int) -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=nbins)


def _floats(values: Sequence[Any]) -> list[float]:
    """Floats for plotting; a missing value (JSON null, e.g. a band where the curve reaches 0)
    becomes NaN, which matplotlib leaves out."""
    return [float("nan") if v is None else float(v) for v in values]


def _abs_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{abs(v):,.0f}")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text
