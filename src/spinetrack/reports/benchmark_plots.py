"""The benchmarking figures: a funnel plot of one outcome and a risk-adjusted CUSUM chart of one
unit (site or surgeon), each a self-contained SVG string drawn from the benchmark document
(:func:`spinetrack.analysis.benchmark.benchmark_as_dict`, schema version 1).

Both are made the same way as the report's other figures (:mod:`spinetrack.reports.svg`:
matplotlib's object API, the bundled DejaVu Sans font, text kept as text, an accessible
``<title>`` and ``<desc>``, deterministic output, no scripts or external resources).

* :func:`funnel_svg` — each unit's risk-adjusted value against its precision (the expected
  number of events for a rate, the number of patients for a mean), the registry target, and the
  95% and 99.8% control limits (Spiegelhalter DJ. Funnel plots for comparing institutional
  performance. Stat Med 2005;24:1185-1202). A unit's flag is shown by its marker's shape and a
  word in the legend as well as by colour: circle "within the limits", triangle "alert"
  (outside 95%), square "alarm" (outside 99.8%). Suppressed units (fewer than 5 patients) are
  not drawn. The highlighted unit (a clinic's own) is ringed and labelled with its name.
* :func:`cusum_svg` — the two-sided risk-adjusted CUSUM over time (Steiner SH, Cook RJ,
  Farewell VT, Treasure T. Monitoring surgical performance using risk-adjusted cumulative sum
  charts. Biostatistics 2000;1(4):441-452): the upper chart (worse than expected) above zero,
  the lower chart (better than expected) drawn below zero, the control limits as dashed lines
  at ``h_worse`` and ``-h_better``, and each alarm marked with its date.

The functions draw what they are given; the only arithmetic is scaling a proportion to percent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from spinetrack.reports.svg import GRID, INK, MUTED, _figure, _style_axes, _to_svg, deferrable

__all__ = ["FLAG_STYLE", "cusum_svg", "funnel_point", "funnel_svg"]

#: Marker, colour and word of each flag: shape and word say it without colour.
FLAG_STYLE: dict[str, tuple[str, str, str]] = {
    "ok": ("o", "#0b5cad", "within the limits"),
    "alert": ("^", "#8a4b08", "alert: outside the 95% limits"),
    "alarm": ("s", "#a4161a", "alarm: outside the 99.8% limits"),
}
_LIMIT_95 = "#595959"
_LIMIT_998 = "#1a1a1a"
_TARGET = "#1b6e2e"


def _scale(outcome: Mapping[str, Any]) -> float:
    """Display factor: proportions (unit "%") are drawn in percent."""
    return 100.0 if outcome.get("unit") == "%" else 1.0


def _unit_text(outcome: Mapping[str, Any]) -> str:
    return "%" if outcome.get("unit") == "%" else str(outcome.get("unit") or "")


def funnel_point(outcome: Mapping[str, Any], unit: Mapping[str, Any]) -> tuple[float, float]:
    """Where a unit lies on the funnel plot: (precision, risk-adjusted value as displayed). The
    precision is the expected number of events (``funnel.precision == "expected"``) or the number
    of patients (``"n"``); a proportion is displayed in percent.

    >>> funnel_point({"unit": "%", "funnel": {"precision": "expected"}},
    ...              {"expected": 4.0, "n": 50, "adjusted": 0.08})
    (4.0, 8.0)
    """
    funnel = outcome.get("funnel") or {}
    x = float(unit["expected"] if funnel.get("precision") == "expected" else unit["n"])
    return x, float(unit["adjusted"]) * _scale(outcome)


def _fig_id(prefix: str, key: str) -> str:
    return f"{prefix}-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]


def funnel_svg(outcome: Mapping[str, Any], *, highlight: str | None = None, fig_id: str | None = None) -> str:
    """A funnel plot of one outcome of the benchmark document.

    Parameters
    ----------
    outcome : dict
        One entry of the benchmark document's ``outcomes`` (``key``, ``label``, ``unit``,
        ``better``, ``units`` and ``funnel``: ``precision``, ``grid``, ``target``, ``lower95``,
        ``upper95``, ``lower998``, ``upper998``).
    highlight : str, optional
        The ``unit`` (or ``label``) of the unit to ring and name (a clinic's own); by default
        the unit marked ``own``, if any.
    fig_id : str, optional
        The SVG element's id (default: from the outcome's key and the highlight).

    Returns
    -------
    str
        An inline SVG element (``role="img"``, ``<title>`` and ``<desc>``).

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med
    2005;24(8):1185-1202.

    Examples
    --------
    >>> o = {"key": "k", "label": "Any complication", "unit": "%", "better": "lower", "units": [
    ...     {"unit": "A", "label": "A", "own": False, "suppressed": False, "n": 40, "expected": 4.0,
    ...      "adjusted": 0.1, "flag": "ok"}],
    ...     "funnel": {"precision": "expected", "grid": [1.0, 10.0], "target": 0.1,
    ...                "lower95": [0.0, 0.05], "upper95": [0.3, 0.15], "lower998": [0.0, 0.02],
    ...                "upper998": [0.4, 0.2]}}
    >>> funnel_svg(o, highlight="A").startswith("<svg")
    True
    """
    key = str(outcome.get("key", "outcome"))
    return _funnel(outcome, highlight=highlight, fig_id=fig_id or _fig_id(f"funnel-{key}", str(highlight)),
                   title=f"Funnel plot: {outcome.get('label', key)}", desc=_funnel_desc(outcome, highlight))


def _shown(outcome: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [u for u in outcome.get("units") or [] if not u.get("suppressed") and u.get("adjusted") is not None]


def _is_highlight(u: Mapping[str, Any], highlight: str | None) -> bool:
    if highlight is None:
        return bool(u.get("own"))
    return highlight in (u.get("unit"), u.get("label"))


def _funnel_desc(outcome: Mapping[str, Any], highlight: str | None) -> str:
    shown = _shown(outcome)
    scale, unit = _scale(outcome), _unit_text(outcome)
    funnel = outcome.get("funnel") or {}
    target = funnel.get("target", outcome.get("overall"))
    n_flag = {f: sum(1 for u in shown if u.get("flag") == f) for f in FLAG_STYLE}
    hidden = len(outcome.get("units") or []) - len(shown)
    parts = [f"{len(shown)} units drawn" + (f" ({hidden} with fewer than 5 patients not shown)" if hidden else ""),
             f"registry value {float(target) * scale:.1f}{unit}" if target is not None else "",
             f"{n_flag['ok']} within the limits, {n_flag['alert']} alert, {n_flag['alarm']} alarm"]
    for u in shown:
        if _is_highlight(u, highlight):
            _x, y = funnel_point(outcome, u)
            parts.append(f"{u.get('label')}: {y:.1f}{unit} ({FLAG_STYLE.get(str(u.get('flag')), FLAG_STYLE['ok'])[2]}"
                         f", {u.get('n')} patients)")
    return "; ".join(p for p in parts if p) + "."


@deferrable
def _funnel(outcome: Mapping[str, Any], *, highlight: str | None, fig_id: str, title: str, desc: str) -> str:
    from matplotlib.lines import Line2D

    scale, unit = _scale(outcome), _unit_text(outcome)
    funnel = outcome.get("funnel") or {}
    grid = [float(g) for g in funnel.get("grid") or []]
    precision_label = ("Expected number of events (risk-adjusted)" if funnel.get("precision") == "expected"
                       else "Patients")
    shown = _shown(outcome)
    with _figure(6.4, 4.4, left=0.75, right=0.2, bottom=1.05, top=0.4) as fig:
        ax = fig.add_subplot()
        _style_axes(ax, grid_axis="y")
        target = funnel.get("target", outcome.get("overall"))
        if target is not None:
            ax.axhline(float(target) * scale, color=_TARGET, linewidth=1.2, zorder=2, gid="target-line")
        for key_lo, key_hi, style, colour, gid in (("lower95", "upper95", "--", _LIMIT_95, "limits-95"),
                                                   ("lower998", "upper998", ":", _LIMIT_998, "limits-998")):
            lo, hi = funnel.get(key_lo), funnel.get(key_hi)
            if grid and lo and hi:
                ax.plot(grid, [float(v) * scale for v in lo], linestyle=style, color=colour, linewidth=1.0,
                        gid=f"{gid}-lower")
                ax.plot(grid, [float(v) * scale for v in hi], linestyle=style, color=colour, linewidth=1.0,
                        gid=f"{gid}-upper")
        for flag, (marker, colour, _word) in FLAG_STYLE.items():
            pts = [funnel_point(outcome, u) for u in shown if (u.get("flag") or "ok") == flag]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, s=34, color=colour,
                           edgecolors="white", linewidths=0.6, zorder=4, gid=f"points-{flag}")
        for u in shown:
            if _is_highlight(u, highlight):
                x, y = funnel_point(outcome, u)
                ax.scatter([x], [y], marker="o", s=150, facecolors="none", edgecolors=INK, linewidths=1.4,
                           zorder=5, gid="highlight")
                ax.annotate(str(u.get("label")), (x, y), xytext=(8, 8), textcoords="offset points", color=INK,
                            fontsize=9, fontweight="bold", zorder=6)
        ax.set_xlabel(precision_label)
        better = outcome.get("better")
        ylab = f"{outcome.get('label', '')}, risk-adjusted ({unit})" if unit else str(outcome.get("label", ""))
        ax.set_ylabel(ylab + (f"; {better} is better" if better in ("lower", "higher") else ""), fontsize=8.5)
        ax.set_title(title, loc="left")
        if grid:
            ax.set_xlim(0, max([*grid, *(funnel_point(outcome, u)[0] for u in shown)]) * 1.04)
        handles = [Line2D([], [], color=_TARGET, linewidth=1.2, label="registry value (target)"),
                   Line2D([], [], color=_LIMIT_95, linestyle="--", label="95% limits"),
                   Line2D([], [], color=_LIMIT_998, linestyle=":", label="99.8% limits")]
        handles += [Line2D([], [], marker=m, color=c, linestyle="none", label=w) for m, c, w in FLAG_STYLE.values()]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, ncols=3)
        return _to_svg(fig, fig_id, title, desc)


def _dates(values: Sequence[str]) -> list[float] | None:
    """ISO dates as matplotlib's date numbers (days since its epoch); ``None`` when a value is
    not a date (a document made without the extraction date: the chart is then drawn against the
    operation's number)."""
    from matplotlib.dates import date2num

    try:
        return [float(date2num(dt.date.fromisoformat(str(v)))) for v in values]
    except ValueError:
        return None


def cusum_svg(unit: Mapping[str, Any], *, h_worse: float, h_better: float, fig_id: str | None = None,
              outcome_label: str = "complications") -> str:
    """A two-sided risk-adjusted CUSUM chart of one unit.

    Parameters
    ----------
    unit : dict
        One entry of the benchmark document's ``cusum.units``: ``label``, ``dates``
        (``YYYY-MM-DD``), ``worse`` and ``better`` (the two charts; the lower one as its
        non-negative values or already negated), ``alarms``.
    h_worse, h_better : float
        The control limits of the upper (worse) and lower (better) charts.
    fig_id : str, optional
        The SVG element's id.
    outcome_label : str, optional
        What is monitored, in words (the title).

    Returns
    -------
    str
        An inline SVG element. The upper chart is drawn above zero, the lower chart as its
        negative below zero (Steiner et al. 2000, figure 3); dashed lines at ``h_worse`` and
        ``-h_better``; alarms as red triangles (worse) or green inverted triangles (better).

    References
    ----------
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical performance using
    risk-adjusted cumulative sum charts. Biostatistics 2000;1(4):441-452.

    Examples
    --------
    >>> u = {"label": "A", "n": 2, "dates": ["2021-01-04", "2021-01-11"], "worse": [0.0, 0.6],
    ...      "better": [0.04, 0.0], "alarms": []}
    >>> cusum_svg(u, h_worse=4.5, h_better=4.0).startswith("<svg")
    True
    """
    label = str(unit.get("label", unit.get("unit", "")))
    title = f"Risk-adjusted CUSUM of {outcome_label}: {label}"
    alarms = list(unit.get("alarms") or [])
    worse_alarms = [a for a in alarms if a.get("direction") == "worse"]
    better_alarms = [a for a in alarms if a.get("direction") == "better"]
    desc = (f"{unit.get('n', len(unit.get('dates') or []))} operations from {_first_last(unit)}; "
            f"control limits {h_worse:g} (worse) and {h_better:g} (better); "
            f"{len(worse_alarms)} alarm(s) for worse than expected"
            + (f" ({', '.join(str(a['date']) for a in worse_alarms)})" if worse_alarms else "")
            + f", {len(better_alarms)} for better than expected"
            + (f" ({', '.join(str(a['date']) for a in better_alarms)})" if better_alarms else "") + ".")
    return _cusum(unit, h_worse=float(h_worse), h_better=float(h_better),
                  fig_id=fig_id or _fig_id("cusum", label), title=title, desc=desc)


def _first_last(unit: Mapping[str, Any]) -> str:
    dates = list(unit.get("dates") or [])
    return f"{dates[0]} to {dates[-1]}" if dates else "no operations"


@deferrable
def _cusum(unit: Mapping[str, Any], *, h_worse: float, h_better: float, fig_id: str, title: str, desc: str) -> str:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.lines import Line2D

    worse = [float(v) for v in unit.get("worse") or []]
    # the lower chart below zero: stored as its (non-negative) values or already negated
    better = [-abs(float(v)) for v in unit.get("better") or []]
    parsed = _dates(unit.get("dates") or [])
    dates = parsed if parsed is not None else [float(i + 1) for i in range(len(worse))]
    with _figure(6.4, 3.8, left=0.75, right=0.2, bottom=0.95, top=0.4) as fig:
        ax = fig.add_subplot()
        _style_axes(ax, grid_axis="y")
        ax.axhline(0.0, color=MUTED, linewidth=0.8)
        ax.axhline(h_worse, color="#a4161a", linestyle="--", linewidth=1.0, gid="limit-worse")
        ax.axhline(-h_better, color="#1b6e2e", linestyle="--", linewidth=1.0, gid="limit-better")
        if dates:
            ax.step(dates, worse, where="post", color="#a4161a", linewidth=1.2, gid="chart-worse")
            ax.step(dates, better, where="post", color="#1b6e2e", linewidth=1.2, linestyle="-.",
                    gid="chart-better")
            locator = AutoDateLocator(maxticks=7)
            if parsed is not None:
                ax.xaxis.set_major_locator(locator)
                ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        labelled: dict[bool, int] = {}  # per chart, the last alarm whose date is written beside it
        for a in unit.get("alarms") or []:
            i = int(a["index"])
            if not 0 <= i < len(dates):
                continue
            up = a.get("direction") == "worse"
            y = worse[i] if up else better[i]
            ax.scatter([dates[i]], [y], marker="^" if up else "v", s=60, zorder=5,
                       color="#a4161a" if up else "#1b6e2e", edgecolors=INK, linewidths=0.6,
                       gid=f"alarm-{'worse' if up else 'better'}")
            # dates of alarms close together would overprint: the first of a run is written (every
            # date is in the caption and the tables)
            if up not in labelled or (i - labelled[up]) > 0.15 * max(len(dates) - 1, 1):
                ax.annotate(f"alarm {a['date']}", (dates[i], y), xytext=(4, 6 if up else -12),
                            textcoords="offset points", fontsize=7.5, color=INK)
                labelled[up] = i
        top = max([h_worse, *worse]) * 1.15
        bottom = min([-h_better, *better]) * 1.15
        ax.set_ylim(bottom, top)
        ax.set_ylabel("CUSUM (log-likelihood ratio)", fontsize=8.5)
        ax.set_xlabel("Date of operation" if parsed is not None else "Operation (in order of date)")
        ax.set_title(title, loc="left")
        ax.grid(True, axis="y", color=GRID, linewidth=0.6)
        handles = [Line2D([], [], color="#a4161a", label="worse than expected (upper chart)"),
                   Line2D([], [], color="#1b6e2e", linestyle="-.", label="better than expected (lower chart)"),
                   Line2D([], [], color=MUTED, linestyle="--", label="control limits"),
                   Line2D([], [], marker="^", color="#a4161a", linestyle="none", label="alarm")]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7, ncols=2)
        return _to_svg(fig, fig_id, title, desc)
