"""Plotly figures of the clinic pages, built on the server and drawn in the browser.

Each function returns a :class:`plotly.graph_objects.Figure`; :func:`figure_json` turns it into
the JSON that a page embeds in ``<script type="application/json" id="…">`` for ``static/app.js``
(the Content-Security-Policy forbids inline script). Plotly's JavaScript is served locally from
the installed ``plotly`` package (``/vendor/plotly.min.js``). The patient's own results are not
drawn here: they are inline SVG made on the server (:mod:`spinetrack.web.patient_charts`), so that
a patient's phone never loads Plotly.

Readable without colour: every series differs by marker symbol *and* line dash as well as
colour (MIS circle / solid, open square / dashed, conservative diamond / dotted; the patient a
solid line with filled circles, the cohort median dashed with open diamonds, the interquartile
range a shaded band with dotted edges, the MCID a dash-dot line labelled in the plot). Axes are
labelled with the scale and its direction. Each trace carries ``meta`` naming its role
(``patient``, ``cohort_median``, ``cohort_q1``, ``cohort_q3``, ``mcid``, or the arm code) so
that tests and readers of the JSON can find it. Pages show the same numbers in a table beside
each plot (the text alternative).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from spinetrack.domain.comparisons import TREATMENTS
from spinetrack.instruments import display_field
from spinetrack.instruments import get as get_instrument
from spinetrack.instruments.thresholds import Threshold
from spinetrack.store.queries import CompletenessTable, OutcomeCell, TimelinePoint

__all__ = [
    "ARM_LABELS",
    "ARM_STYLE",
    "INSTRUMENT_AXIS",
    "INSTRUMENT_SHORT",
    "SCORE_FORMAT",
    "as_dict",
    "completeness_figure",
    "figure_json",
    "mcid_line",
    "outcomes_figure",
    "timeline_figure",
]

ARM_LABELS = {"mis": "MIS surgery", "open": "Open surgery", "conservative": "Conservative care"}
ARM_STYLE = {
    "mis": {"symbol": "circle", "dash": "solid", "color": "#0b5cad"},
    "open": {"symbol": "square", "dash": "dash", "color": "#a4161a"},
    "conservative": {"symbol": "diamond", "dash": "dot", "color": "#1b6e2e"},
}
#: Instrument code → y-axis title and range of the clinic plots (from the instruments' definitions).
INSTRUMENT_AXIS: dict[str, tuple[str, tuple[float | None, float | None] | None]] = {
    code: (axis, get_instrument(code).definition.display.axis_range) for code, axis in display_field("axis").items()}
#: Instrument code → short name on the clinic pages (from the instruments' definitions).
INSTRUMENT_SHORT: dict[str, str] = display_field("short")
#: Instrument code → the format of its scores in the clinic pages' tables (``%.1f``; ``%.3f`` for an index).
SCORE_FORMAT: dict[str, str] = {code: f"%.{d}f" for code, d in display_field("decimals").items()}
X_AXIS_DAYS = "Days from the index date (0 = procedure / start of care)"
_INK, _GRID, _BAND = "#1a1a1a", "#d5dae0", "rgba(90, 100, 110, 0.22)"
_PATIENT = "#1a1a1a"


def _layout(title: str, y_title: str, y_range: tuple[float | None, float | None] | None) -> dict[str, Any]:
    yaxis: dict[str, Any] = {"title": {"text": y_title}, "gridcolor": _GRID, "zeroline": False,
                                "linecolor": _INK, "showline": True}
    if y_range and y_range[0] is not None and y_range[1] is not None:
        pad = (y_range[1] - y_range[0]) * 0.03
        yaxis["range"] = [y_range[0] - pad, y_range[1] + pad]
    return {
        "template": "none",
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13, "color": _INK},
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.26, "x": 0, "font": {"size": 12}},
        "showlegend": True,
        "margin": {"l": 64, "r": 16, "t": 44, "b": 40},
        "height": 460,
        "yaxis": yaxis,
        "hovermode": "closest",
    }


def mcid_line(baseline: float | None, threshold: Threshold | None, higher_is_better: bool) -> float | None:
    """The score a patient must reach to have improved by the MCID: baseline − MCID (or +
    MCID when higher is better). ``None`` without a baseline or an absolute threshold."""
    if baseline is None or threshold is None or threshold.absolute is None:
        return None
    return baseline + threshold.absolute if higher_is_better else baseline - threshold.absolute


def _scatter(**props: Any) -> dict[str, Any]:
    return {"type": "scatter", **props}


def timeline_figure(instrument: str, points: Sequence[TimelinePoint], band: Sequence[OutcomeCell], *,
                    treatment: str | None, baseline: float | None, threshold: Threshold | None,
                    band_scope: str = "registry") -> go.Figure:
    """One patient's scores of ``instrument`` over days from the index date, against the
    cohort median and interquartile range of the same treatment (``band``; suppressed cells are
    left out), with the MCID line at baseline − MCID."""
    definition = get_instrument(instrument).definition
    y_title, y_range = INSTRUMENT_AXIS.get(instrument, (f"{definition.title} score", None))
    arm = ARM_LABELS.get(treatment or "", "no treatment chosen yet")
    traces: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    cells = sorted((c for c in band if not c.suppressed and c.median is not None), key=lambda c: c.target_days)
    if cells:
        xs = [c.target_days for c in cells]
        n_text = [f"{c.timepoint}: n = {c.n}" for c in cells]
        edge = {"width": 1, "dash": "dot", "color": "#5a646e"}
        traces += [
            _scatter(x=xs, y=[c.q1 for c in cells], mode="lines", line=edge, name="Cohort 25th percentile",
                     showlegend=False, hovertext=n_text, meta="cohort_q1",
                     hovertemplate="25th percentile %{y:.1f}<br>%{hovertext}<extra></extra>"),
            _scatter(x=xs, y=[c.q3 for c in cells], mode="lines", line=edge, fill="tonexty", fillcolor=_BAND,
                     name=f"Interquartile range of {arm} patients ({band_scope})", hovertext=n_text,
                     meta="cohort_q3", hovertemplate="75th percentile %{y:.1f}<br>%{hovertext}<extra></extra>"),
            _scatter(x=xs, y=[c.median for c in cells], mode="lines+markers",
                     line={"width": 2, "dash": "dash", "color": "#5a646e"},
                     marker={"symbol": "diamond-open", "size": 10, "color": "#5a646e", "line": {"width": 2}},
                     name=f"Median of {arm} patients ({band_scope})", hovertext=n_text, meta="cohort_median",
                     hovertemplate="median %{y:.1f}<br>%{hovertext}<extra></extra>"),
        ]
    mine = [p for p in points if p.instrument == instrument and p.valid and p.score is not None]
    xs_all = [p.days_from_index or 0 for p in mine] + [c.target_days for c in cells]
    x_range = (min([-20, *xs_all]) - 10, max([100, *xs_all]) * 1.05 + 10)
    if mine:
        traces.append(_scatter(
            x=[p.days_from_index if p.days_from_index is not None else 0 for p in mine], y=[p.score for p in mine],
            mode="lines+markers", line={"width": 3, "dash": "solid", "color": _PATIENT},
            marker={"symbol": "circle", "size": 11, "color": _PATIENT},
            text=[f"{p.timepoint}, {p.collected_on.isoformat()}" for p in mine], meta="patient",
            name="This patient", hovertemplate="%{text}<br>score %{y:.1f}, day %{x}<extra></extra>"))
    target = mcid_line(baseline, threshold, definition.higher_is_better)
    if target is not None and threshold is not None:
        lo, hi = x_range
        sign = "+" if definition.higher_is_better else "−"
        label = f"Baseline {sign} MCID ({threshold.absolute:g} points, {_short_source(threshold.source)})"
        traces.append(_scatter(x=[lo, hi], y=[target, target], mode="lines", meta="mcid", name=label,
                               line={"width": 2, "dash": "dashdot", "color": "#8a5a00"},
                               hovertemplate=f"{label}: %{{y:.1f}}<extra></extra>"))
        annotations.append({"x": hi, "y": target, "xanchor": "right", "yanchor": "bottom", "showarrow": False,
                            "text": f"MCID: baseline {sign} {threshold.absolute:g} ({_short_source(threshold.source)})",
                            "font": {"size": 12, "color": "#5c3d00"}, "bgcolor": "rgba(255,255,255,0.8)"})
    title = f"{INSTRUMENT_SHORT.get(instrument, definition.title)} over time"
    if not mine:
        title += " (no scores yet)"
    layout = _layout(title, y_title, y_range)
    layout["xaxis"] = {"title": {"text": X_AXIS_DAYS}, "gridcolor": _GRID, "zeroline": True, "zerolinecolor": "#8a949e",
                       "showline": True, "linecolor": _INK, "range": list(x_range)}
    layout["annotations"] = annotations
    return go.Figure(data=traces, layout=layout)


def outcomes_figure(instrument: str, cells: Sequence[OutcomeCell], timepoints: Sequence[tuple[str, str]],
                    *, scope_label: str) -> go.Figure:
    """Median (marker) and interquartile range (error bars) of ``instrument`` at each timepoint,
    one series per treatment arm; suppressed cells are gaps."""
    definition = get_instrument(instrument).definition
    y_title, y_range = INSTRUMENT_AXIS.get(instrument, (f"{definition.title} score", None))
    codes = [code for code, _ in timepoints]
    traces: list[dict[str, Any]] = []
    offsets = {arm: 0.12 * (k - 1) for k, arm in enumerate(TREATMENTS)}
    for arm, label in ARM_LABELS.items():
        by_tp = {c.timepoint: c for c in cells if c.treatment == arm and c.instrument == instrument}
        if not by_tp:
            continue
        style = ARM_STYLE[arm]
        xs: list[float] = []
        ys: list[float | None] = []
        up: list[float | None] = []
        down: list[float | None] = []
        ns: list[str] = []
        for i, code in enumerate(codes):
            c = by_tp.get(code)
            if c is None:  # no responses at this timepoint: no point (the line joins its neighbours)
                continue
            xs.append(i + offsets[arm])
            if c.median is None or c.q1 is None or c.q3 is None:  # suppressed: a gap in the line
                ys.append(None)
                up.append(None)
                down.append(None)
                ns.append("suppressed")
            else:
                ys.append(c.median)
                up.append(c.q3 - c.median)
                down.append(c.median - c.q1)
                ns.append(str(c.n))
        traces.append(_scatter(
            x=xs, y=ys, mode="lines+markers", name=f"{label}: median, bars = IQR", meta=arm,
            line={"dash": style["dash"], "color": style["color"], "width": 2},
            marker={"symbol": style["symbol"], "size": 10, "color": style["color"]},
            error_y={"type": "data", "symmetric": False, "array": up, "arrayminus": down, "thickness": 1.5,
                     "width": 5, "color": style["color"]},
            customdata=ns, connectgaps=False,
            hovertemplate=f"{label}<br>median %{{y:.2f}}<br>n = %{{customdata}}<extra></extra>"))
    title = f"{INSTRUMENT_SHORT.get(instrument, definition.title)} by treatment ({scope_label})"
    layout = _layout(title if traces else f"{title}: no scores yet", y_title, y_range)
    layout["xaxis"] = {"title": {"text": "Timepoint"}, "tickmode": "array", "tickvals": list(range(len(codes))),
                       "ticktext": [label.replace(" ", "<br>") for _, label in timepoints], "tickangle": 0,
                       "range": [-0.5, len(codes) - 0.5], "zeroline": False, "showline": True, "linecolor": _INK,
                       "gridcolor": _GRID, "automargin": True}
    return go.Figure(data=traces, layout=layout)


def completeness_figure(table: CompletenessTable) -> go.Figure:
    """Follow-up completeness (%) per timepoint as labelled bars (one series)."""
    labels = [r.label for r in table.rows]
    values = [None if r.rate is None else round(100 * r.rate, 1) for r in table.rows]
    text = ["not due / suppressed" if v is None else f"{v:.0f}%" for v in values]
    layout = _layout("Follow-up completeness by timepoint", "Completed, % of due questionnaires", (0, 105))
    layout["showlegend"] = False
    layout["xaxis"] = {"title": {"text": "Timepoint"}, "showline": True, "linecolor": _INK}
    return go.Figure(data=[{"type": "bar", "x": labels, "y": values, "text": text, "textposition": "outside",
                            "meta": "completeness", "name": "Completeness",
                            "marker": {"color": "#0b5cad", "pattern": {"shape": "/"}},
                            "hovertemplate": "%{x}: %{y:.1f}% complete<extra></extra>"}], layout=layout)


def figure_json(fig: go.Figure) -> str:
    """The figure as JSON that is safe inside ``<script type="application/json">`` (``<``, ``>``
    and ``&`` escaped, so no text in a label can close the script element)."""
    return _script_safe(fig.to_json())


def _script_safe(text: str) -> str:
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _short_source(source: str) -> str:
    """``"Ostelo RW et al. Spine 2008;33(1):90-94"`` → ``"Ostelo 2008"`` (first word and year)."""
    first = source.split()[0] if source.split() else source
    year = re.search(r"(19|20)\d\d", source)
    return f"{first} {year.group(0)}" if year else source


def as_dict(fig: go.Figure) -> dict[str, object]:
    """The figure as plain JSON types (for tests and the API)."""
    return json.loads(fig.to_json())
