"""Read the patient's result charts back out of a page: each marker's series, visit, stated value
and position, and the value its position stands for on the chart's own grid lines."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

SVG_NS = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Marker:
    series: str
    timepoint: str
    value: float      # data-value
    cx: float
    cy: float
    shape: str        # circle, rect
    plotted: float    # the value the marker's height stands for, read off the grid lines


def charts(html: str) -> dict[str, ET.Element]:
    """The page's chart SVGs by id (``chart-odi``, ``chart-pain``)."""
    out = {}
    for m in re.finditer(r'<svg class="result-chart" id="([^"]+)".*?</svg>', html, re.S):
        out[m.group(1)] = ET.fromstring(m.group(0))
    return out


def markers(svg: ET.Element) -> list[Marker]:
    """Every marker of a chart, with the value its height stands for (linear between the lowest
    and the highest grid line)."""
    grid = sorted((float(e.get("data-value", "nan")), float(e.get("y1", "nan")))
                  for e in svg.iter(f"{SVG_NS}line") if e.get("class") == "grid")
    (v0, y0), (v1, y1) = grid[0], grid[-1]
    out = []
    for e in svg.iter():
        if e.get("class") != "pt":
            continue
        if e.tag == f"{SVG_NS}circle":
            cx, cy = float(e.get("cx", "nan")), float(e.get("cy", "nan"))
        else:
            cx = float(e.get("x", "nan")) + float(e.get("width", "nan")) / 2
            cy = float(e.get("y", "nan")) + float(e.get("height", "nan")) / 2
        plotted = v0 + (cy - y0) * (v1 - v0) / (y1 - y0)
        out.append(Marker(e.get("data-series", ""), e.get("data-timepoint", ""), float(e.get("data-value", "nan")),
                          cx, cy, e.tag.removeprefix(SVG_NS), plotted))
    return out


def values(html: str, series: str) -> list[float]:
    """The plotted values of one series, in visit order (read from the marker heights)."""
    found = [m for svg in charts(html).values() for m in markers(svg) if m.series == series]
    return [round(m.plotted, 6) for m in sorted(found, key=lambda m: m.cx)]


def _grid(svg: ET.Element) -> tuple[float, float, float, float]:
    grid = sorted((float(e.get("data-value", "nan")), float(e.get("y1", "nan")))
                  for e in svg.iter(f"{SVG_NS}line") if e.get("class") == "grid")
    (v0, y0), (v1, y1) = grid[0], grid[-1]
    return v0, y0, v1, y1


def band(svg: ET.Element, series: str) -> list[tuple[float, float]]:
    """The registry band of one series as (first quartile, third quartile) per visit, read off
    the grid lines (a single visit's band is a bar; more visits make a polygon)."""
    v0, y0, v1, y1 = _grid(svg)

    def value(y: float) -> float:
        return round(v0 + (y - y0) * (v1 - v0) / (y1 - y0), 6)

    for e in svg.iter():
        if e.get("class") != "band" or e.get("data-series") != series:
            continue
        if e.tag == f"{SVG_NS}rect":
            top, height = float(e.get("y", "nan")), float(e.get("height", "nan"))
            return [(value(top + height), value(top))]
        pts = [tuple(map(float, p.split(","))) for p in e.get("points", "").split()]
        half = len(pts) // 2
        upper, lower = pts[:half], list(reversed(pts[half:]))
        return [(value(lo[1]), value(up[1])) for up, lo in zip(upper, lower, strict=True)]
    return []
