"""The funnel plot and the CUSUM chart of the benchmark document: well-formed, accessible SVG
with one marker per unit not suppressed, the limit curves, the own unit named, and points where
their values put them.

The fixture ``benchmark_example.json`` is a hand-made document of schema version 1 (the rules of
issue 21): four sites on "any complication" (one of 3 patients, suppressed; DEMO-N an alarm;
DEMO-S with observed = expected, so its risk-adjusted rate equals the registry rate of 8%), and
CUSUM paths worked by hand from Steiner et al. 2000's scores for p = 0.08 and odds ratio 2
(W = y·ln 2 − ln(1 − p + 2p)), with DEMO-N crossing h = 4.5 at its 12th operation.
"""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from spinetrack.reports.benchmark_plots import FLAG_STYLE, cusum_svg, funnel_point, funnel_svg

FIXTURE = Path(__file__).parent / "benchmark_example.json"
NS = {"svg": "http://www.w3.org/2000/svg"}


@pytest.fixture(scope="module")
def bench() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return doc


def _style(el: ET.Element) -> str:
    return el.get("style") or ""


def _points(root: ET.Element) -> list[ET.Element]:
    """The unit markers: drawn with a white edge in a flag's colour (legend markers have none)."""
    colours = {c for _m, c, _w in FLAG_STYLE.values()}
    out = []
    for el in root.iter():
        st = _style(el)
        if el.tag.endswith(("use", "path")) and "stroke: #ffffff" in st and any(f"fill: {c}" in st for c in colours):
            out.append(el)
    return out


def _path_y(el: ET.Element) -> float:
    nums = re.findall(r"-?\d+(?:\.\d+)?", el.get("d") or "")
    return float(nums[1])


def _marker_xy(el: ET.Element) -> tuple[float, float]:
    if el.tag.endswith("use"):
        return float(el.get("x") or 0), float(el.get("y") or 0)
    raise AssertionError("expected the markers as <use> elements")


def test_funnel_svg_parses_with_one_marker_per_unit_not_suppressed(bench: dict[str, Any]) -> None:
    outcome = bench["outcomes"][0]
    svg = funnel_svg(outcome, highlight="DEMO-N")
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.find("svg:title", NS) is not None and root.find("svg:desc", NS) is not None
    shown = [u for u in outcome["units"] if not u["suppressed"]]
    assert len(shown) == 3 and len(outcome["units"]) == 4  # DEMO-W has 3 patients
    assert len(_points(root)) == len(shown)
    assert "DEMO-W" not in svg
    assert "Expected number of events (risk-adjusted)" in svg and "Funnel plot: Any complication" in svg
    desc = root.find("svg:desc", NS)
    assert desc is not None and "1 with fewer than 5 patients not shown" in (desc.text or "")


def test_funnel_svg_draws_both_limit_pairs_and_the_target(bench: dict[str, Any]) -> None:
    root = ET.fromstring(funnel_svg(bench["outcomes"][0]))
    grid = bench["outcomes"][0]["funnel"]["grid"]
    dashed95 = [e for e in root.iter() if e.tag.endswith("path") and "stroke: #595959" in _style(e)
                and "stroke-dasharray" in _style(e) and len(re.findall(r"L", e.get("d") or "")) >= len(grid) - 1]
    dotted998 = [e for e in root.iter() if e.tag.endswith("path") and "stroke: #1a1a1a" in _style(e)
                 and "stroke-dasharray" in _style(e) and len(re.findall(r"L", e.get("d") or "")) >= len(grid) - 1]
    assert len(dashed95) == 2 and len(dotted998) == 2  # lower and upper of each level
    targets = [e for e in root.iter() if e.tag.endswith("path") and "stroke: #1b6e2e" in _style(e)]
    assert targets  # the registry line (and its legend entry)


def test_unit_at_the_target_lies_on_the_target_line(bench: dict[str, Any]) -> None:
    """DEMO-S: observed 4 = expected 4, so O/E = 1 and its adjusted rate is the registry's 0.08
    (O/E × overall); its marker must sit on the target line's y, the alarm unit DEMO-N (adjusted
    0.24) well above it (SVG y grows downwards)."""
    outcome = bench["outcomes"][0]
    demo_s = next(u for u in outcome["units"] if u["unit"] == "DEMO-S")
    assert funnel_point(outcome, demo_s) == (4.0, pytest.approx(8.0))
    root = ET.fromstring(funnel_svg(outcome))
    target = next(e for e in root.iter() if e.tag.endswith("path") and "stroke: #1b6e2e" in _style(e))
    y_target = _path_y(target)
    ys = sorted(_marker_xy(p)[1] for p in _points(root))
    assert any(abs(y - y_target) < 0.11 for y in ys)
    alarm = [p for p in _points(root) if f"fill: {FLAG_STYLE['alarm'][1]}" in _style(p)]
    assert len(alarm) == 1 and _marker_xy(alarm[0])[1] < y_target - 50


def test_highlighted_unit_is_named_and_only_it(bench: dict[str, Any]) -> None:
    outcome = bench["outcomes"][0]
    svg = funnel_svg(outcome, highlight="DEMO-C")
    texts = [t.text or "" for t in ET.fromstring(svg).iter() if t.tag.endswith("text")]
    assert "DEMO-C" in texts and "DEMO-N" not in texts
    own = copy.deepcopy(outcome)
    next(u for u in own["units"] if u["unit"] == "DEMO-S")["own"] = True  # the default highlight: "own"
    texts = [t.text or "" for t in ET.fromstring(funnel_svg(own)).iter() if t.tag.endswith("text")]
    assert "DEMO-S" in texts


def test_funnel_of_a_mean_uses_patients_and_the_unit_scale(bench: dict[str, Any]) -> None:
    outcome = bench["outcomes"][2]  # length of stay, days
    unit = outcome["units"][0]
    assert funnel_point(outcome, unit) == (45.0, pytest.approx(unit["adjusted"]))
    svg = funnel_svg(outcome)
    assert ">Patients<" in svg and "(days)" in svg
    assert funnel_svg(outcome) == svg  # deterministic


def test_cusum_svg_draws_both_charts_limits_and_the_alarm(bench: dict[str, Any]) -> None:
    c = bench["cusum"]
    unit = next(u for u in c["units"] if u["unit"] == "DEMO-N")
    assert unit["alarms"] == [{"date": "2021-03-22", "index": 11, "direction": "worse"}]
    svg = cusum_svg(unit, h_worse=c["h_worse"], h_better=c["h_better"])
    root = ET.fromstring(svg)
    assert root.find("svg:title", NS) is not None
    desc = root.find("svg:desc", NS)
    assert desc is not None and "2021-03-22" in (desc.text or "") and "1 alarm(s) for worse" in (desc.text or "")
    paths = [e for e in root.iter() if e.tag.endswith("path")]
    limits = [e for e in paths if "stroke-dasharray" in _style(e)
              and ("stroke: #a4161a" in _style(e) or "stroke: #1b6e2e" in _style(e))]
    ys = sorted({_path_y(e) for e in limits})
    zero = [e for e in paths if "stroke: #595959" in _style(e) and "stroke-dasharray" not in _style(e)
            and (e.get("d") or "").count("L") == 1]
    y0 = _path_y(zero[0])
    # the worse limit above the zero line, the better limit below it (SVG y grows downwards)
    assert ys[0] < y0 < ys[-1]
    assert "alarm 2021-03-22" in svg


def test_cusum_lower_chart_is_drawn_below_zero() -> None:
    """A unit with a lower (better) chart of 3 on its last day: its curve reaches below the zero
    line, as far as the upper chart's 3 reaches above it."""
    unit = {"label": "X", "n": 3, "dates": ["2021-01-01", "2021-02-01", "2021-03-01"], "worse": [0.0, 3.0, 3.0],
            "better": [0.0, 0.0, 3.0], "alarms": []}
    root = ET.fromstring(cusum_svg(unit, h_worse=5.0, h_better=5.0))
    paths = [e for e in root.iter() if e.tag.endswith("path")]
    worse = next(e for e in paths if "stroke: #a4161a" in _style(e) and "stroke-dasharray" not in _style(e))
    better = next(e for e in paths if "stroke: #1b6e2e" in _style(e) and "stroke-dasharray" in _style(e)
                  and len(re.findall(r"L", e.get("d") or "")) >= 3)
    zero = next(e for e in paths if "stroke: #595959" in _style(e) and "stroke-dasharray" not in _style(e)
                and (e.get("d") or "").count("L") == 1)
    y0 = _path_y(zero)
    wy = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", worse.get("d") or "")[1::2]]
    by = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", better.get("d") or "")[1::2]]
    assert min(wy) < y0 < max(by)
    assert y0 - min(wy) == pytest.approx(max(by) - y0, abs=0.2)
