"""The patient's own results as small inline SVG charts, drawn on the server (no script, no Plotly).

A patient's phone gets a few kilobytes of SVG in the page instead of Plotly's 4.8 MB. Each chart
has the visits in order along the bottom (equally spaced) and the score scale up the side, from
0 to the scale's maximum (``Definition.score_high``: 100 for the disability score, 10 for
pain), with a grid line and its number every quarter (every 2 points on a 0–10 scale).

Readable without colour and without overlap:

* each series has its own colour (colour-blind safe, WCAG AA against white), line dash *and*
  marker shape (back pain or disability: filled circles on a solid line; leg pain: open squares
  on a dashed line);
* on a chart of two series each marker is moved a few pixels to its own side of the visit
  (:data:`OFFSET_PX`), so that equal back and leg scores show two markers side by side, never one
  hiding the other; each marker carries its value as a direct label on its own side (left for
  the first series, right for the second);
* the shaded band is the registry's middle half of patients with the same treatment (first to
  third quartile), when the page has it;
* the page shows the same numbers in a table, and the SVG has a ``<title>`` and a ``<desc>``
  listing every value (``role="img"``).

Every marker carries ``data-series``, ``data-timepoint`` and ``data-value``, and every grid line
``data-value``, so that a test can map a marker's position back to its score.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from spinetrack import instruments
from spinetrack.i18n import gettext as _
from spinetrack.store.queries import OutcomeCell

__all__ = ["OFFSET_PX", "SERIES_STYLE", "ResultChart", "result_charts"]

WIDTH, HEIGHT = 360, 230
LEFT, RIGHT, TOP, BOTTOM = 34, 12, 14, 40
OFFSET_PX = 6.0
"""How far each of two series' markers sits from the visit's centre (px of the 360-wide chart)."""


@dataclass(frozen=True, slots=True)
class SeriesStyle:
    colour: str       # line, marker and label (contrast ≥ 4.5:1 on white)
    band: str         # the registry band's fill
    dash: str         # the line's stroke-dasharray ("" solid)
    marker: str       # "circle" (filled) or "square" (open)


SERIES_STYLE: dict[str, SeriesStyle] = {
    "odi": SeriesStyle("#0b5cad", "rgba(11,92,173,0.14)", "", "circle"),
    "nrs_back": SeriesStyle("#0b5cad", "rgba(11,92,173,0.14)", "", "circle"),
    "nrs_leg": SeriesStyle("#a63d00", "rgba(166,61,0,0.12)", "6 4", "square"),
}


@dataclass(frozen=True, slots=True)
class LegendEntry:
    label: str
    colour: str
    dash: str
    marker: str       # circle, square, band


@dataclass(frozen=True, slots=True)
class ResultChart:
    """One chart of the results page: its heading, the SVG (safe markup) and its legend."""

    key: str                         # "odi" or "pain"
    heading: str
    svg: Markup
    legend: tuple[LegendEntry, ...]


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _n(x: float) -> str:
    """A coordinate with at most two decimals ("12.5", "40")."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


class _Axes:
    def __init__(self, n: int, high: float) -> None:
        self.n, self.high = n, high
        self.step = (WIDTH - LEFT - RIGHT) / max(n, 1)
        self.bottom = HEIGHT - BOTTOM

    def x(self, i: int, offset: float = 0.0) -> float:
        return LEFT + (i + 0.5) * self.step + offset

    def y(self, value: float) -> float:
        return TOP + (1 - value / self.high) * (self.bottom - TOP)


def _ticks(high: float) -> list[float]:
    every = 2.0 if high <= 10 else high / 4
    out, v = [], 0.0
    while v <= high + 1e-9:
        out.append(v)
        v += every
    return out


def _label_lines(label: str) -> list[str]:
    """A visit's name on at most two lines (split at the space nearest the middle)."""
    words = label.split()
    if len(words) < 2 or len(label) <= 9:
        return [label]
    best = min(range(1, len(words)), key=lambda k: abs(len(" ".join(words[:k])) - len(" ".join(words[k:]))))
    return [" ".join(words[:best]), " ".join(words[best:])]


def _marker(style: SeriesStyle, cx: float, cy: float, data: str) -> str:
    if style.marker == "square":
        return (f'<rect class="pt" x="{_n(cx - 5)}" y="{_n(cy - 5)}" width="10" height="10" fill="#ffffff" '
                f'stroke="{style.colour}" stroke-width="2.5" {data}/>')
    return f'<circle class="pt" cx="{_n(cx)}" cy="{_n(cy)}" r="5.5" fill="{style.colour}" {data}/>'


def _chart_svg(chart_id: str, title: str, high: float, categories: Sequence[tuple[str, str]],
               series: Sequence[tuple[str, str, Sequence[tuple[str, float]]]],
               bands: Sequence[tuple[str, Sequence[OutcomeCell]]], fmt: Callable[[str, float], str]) -> str:
    """The SVG of one chart. ``categories``: (timepoint code, label) in order; ``series``:
    (instrument code, name, points as (timepoint code, score)); ``bands``: (instrument code,
    registry cells of the patient's treatment)."""
    axes = _Axes(len(categories), high)
    index = {code: i for i, (code, _label) in enumerate(categories)}
    parts: list[str] = []
    for v in _ticks(high):  # grid and its numbers
        y = axes.y(v)
        parts.append(f'<line class="grid" data-value="{_n(v)}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(y)}" '
                     f'y2="{_n(y)}" stroke="#d5dae0" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{_n(y + 4)}" text-anchor="end" class="tick">{_e(fmt("", v))}</text>')
    for i, (_code, label) in enumerate(categories):  # the visits
        lines = _label_lines(label)
        spans = "".join(f'<tspan x="{_n(axes.x(i))}" dy="{0 if k == 0 else 13}">{_e(t)}</tspan>'
                        for k, t in enumerate(lines))
        parts.append(f'<text y="{axes.bottom + 16}" text-anchor="middle" class="tick">{spans}</text>')
    for code, cells in bands:  # the registry's middle half (behind the patient's lines)
        shown = [(index[c.timepoint], c.q1, c.q3) for c in cells
                 if c.timepoint in index and c.q1 is not None and c.q3 is not None]
        shown.sort()
        if not shown:
            continue
        style = SERIES_STYLE[code]
        if len(shown) == 1:  # one visit: a short bar
            i, q1, q3 = shown[0]
            parts.append(f'<rect class="band" data-series="{code}" x="{_n(axes.x(i) - 14)}" y="{_n(axes.y(q3))}" '
                         f'width="28" height="{_n(axes.y(q1) - axes.y(q3))}" fill="{style.band}"/>')
            continue
        upper = [f"{_n(axes.x(i))},{_n(axes.y(q3))}" for i, _q1, q3 in shown]
        lower = [f"{_n(axes.x(i))},{_n(axes.y(q1))}" for i, q1, _q3 in reversed(shown)]
        parts.append(f'<polygon class="band" data-series="{code}" points="{" ".join(upper + lower)}" '
                     f'fill="{style.band}" stroke="{style.colour}" stroke-width="1" stroke-dasharray="2 3"/>')
    two = len(series) > 1
    for k, (code, _name, points) in enumerate(series):
        style = SERIES_STYLE[code]
        offset = (-OFFSET_PX if k == 0 else OFFSET_PX) if two else 0.0
        xy = [(axes.x(index[tp], offset), axes.y(v), tp, v) for tp, v in points if tp in index]
        if len(xy) > 1:
            dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
            parts.append(f'<polyline class="line" data-series="{code}" fill="none" stroke="{style.colour}" '
                         f'stroke-width="2.5"{dash} points="{" ".join(f"{_n(x)},{_n(y)}" for x, y, _t, _v in xy)}"/>')
        for x, y, tp, v in xy:
            data = f'data-series="{code}" data-timepoint="{_e(tp)}" data-value="{_n(v)}"'
            parts.append(_marker(style, x, y, data))
            if two:  # beside the marker, on its own side
                anchor, tx, ty = ("end", x - 9, y + 4) if k == 0 else ("start", x + 9, y + 4)
            else:    # above the marker (below it at the top of the scale)
                anchor, tx = "middle", x
                ty = y - 10 if y - 10 > TOP + 4 else y + 19
            parts.append(f'<text class="value" x="{_n(tx)}" y="{_n(ty)}" text-anchor="{anchor}" '
                         f'fill="{style.colour}">{_e(fmt(code, v))}</text>')
    desc = " ".join(
        f"{name}: " + ", ".join(f"{dict(categories).get(tp, tp)} {fmt(code, v)}" for tp, v in points) + "."
        for code, name, points in series)
    return (f'<svg class="result-chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{chart_id}-title">{_e(title)}</title><desc id="{chart_id}-desc">{_e(desc)}</desc>'
            + "".join(parts) + "</svg>")


def _legend(series: Sequence[tuple[str, str, Sequence[tuple[str, float]]]], banded: Sequence[str]
            ) -> tuple[LegendEntry, ...]:
    out = [LegendEntry(name, SERIES_STYLE[code].colour, SERIES_STYLE[code].dash, SERIES_STYLE[code].marker)
           for code, name, _points in series]
    for code in banded:
        out.append(LegendEntry(_("Middle half of patients with your treatment (%(name)s)",
                                 name=next(name for c, name, _p in series if c == code).lower()),
                               SERIES_STYLE[code].band, "", "band"))
    return tuple(out)


def result_charts(series: Mapping[str, Sequence[tuple[str, float]]], categories: Sequence[tuple[str, str]],
                  names: Mapping[str, str], fmt: Callable[[str, float], str],
                  band: Mapping[str, Sequence[OutcomeCell]] | None = None) -> list[ResultChart]:
    """The results page's charts: the disability score, then back and leg pain together.

    Parameters
    ----------
    series
        Instrument code → its (timepoint code, score) points, in visit order.
    categories
        The visits on the axis: (timepoint code, label), in order.
    names
        Instrument code → the series' name on the page (already in the page's language).
    fmt
        ``fmt(code, value)``: a score as the page prints it (``code`` ``""`` for the axis numbers).
    band
        Instrument code → the registry's cells of the patient's treatment (quartiles), optional.
    """
    band = band or {}
    charts: list[ResultChart] = []
    groups = (("odi", _("Disability score over time"), ("odi",)),
              ("pain", _("Pain scores over time"), ("nrs_back", "nrs_leg")))
    for key, heading, codes in groups:
        shown = [(c, names[c], series[c]) for c in codes if series.get(c)]
        if not shown:
            continue
        high = max(instruments.get(c).definition.score_high for c, _n2, _p in shown)
        visits = {code for code, _label in categories}
        banded = [c for c, _n2, _p in shown
                  if any(cell.q1 is not None and cell.q3 is not None and cell.timepoint in visits
                         for cell in band.get(c, ()))]
        svg = _chart_svg(f"chart-{key}", heading, high, categories, shown, [(c, band[c]) for c in banded], fmt)
        charts.append(ResultChart(key, heading, Markup(svg), _legend(shown, banded)))
    return charts
