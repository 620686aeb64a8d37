"""The patient's result charts (inline SVG, ``spinetrack.web.patient_charts``): each marker sits
where the chart's own grid says its score is, equal back and leg scores stay two visible
markers, and the text alternative lists every value.

Oracle: the scores given (a marker's height read back through the grid lines; coordinates are
written to 0.01 px, so to 0.01 points on a 0-100 scale) and the
chart's stated geometry (:data:`~spinetrack.web.patient_charts.OFFSET_PX`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from spinetrack.store.queries import OutcomeCell
from spinetrack.web.patient_charts import OFFSET_PX, result_charts
from tests.web.chart_svg import band, markers

VISITS = [("baseline", "Before treatment"), ("6w", "6 weeks"), ("3m", "3 months"), ("12m", "12 months")]
NAMES = {"odi": "Disability (0-100)", "nrs_back": "Back pain (0-10)", "nrs_leg": "Leg pain (0-10)"}


def _fmt(code: str, value: float) -> str:
    return f"{value:.1f}" if code == "odi" else f"{value:.0f}"


def _charts(series: dict[str, list[tuple[str, float]]], band_cells: dict[str, list[OutcomeCell]] | None = None
            ) -> dict[str, ET.Element]:
    visits = [v for v in VISITS if any(tp == v[0] for pts in series.values() for tp, _ in pts)]
    return {c.key: ET.fromstring(str(c.svg)) for c in result_charts(series, visits, NAMES, _fmt, band_cells)}


@pytest.mark.parametrize("odi", [[60.0, 40.0, 22.2, 8.0], [0.0, 100.0, 50.0, 35.6]])
def test_each_marker_sits_at_its_score(odi: list[float]) -> None:
    series = {"odi": list(zip([v[0] for v in VISITS], odi, strict=True))}
    [found] = _charts(series).values()
    shown = markers(found)
    assert [m.timepoint for m in shown] == [v[0] for v in VISITS]
    assert [m.plotted for m in shown] == pytest.approx(odi, abs=0.01)  # coordinates are written to 0.01 px
    assert [m.value for m in shown] == odi
    xs = [m.cx for m in shown]
    assert xs == sorted(xs) and len(set(xs)) == 4  # the visits in order, left to right
    labels = [t.text for t in found.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "value"]
    assert labels == [_fmt("odi", v) for v in odi]  # each marker labelled with its own value


def test_equal_back_and_leg_scores_are_two_visible_markers() -> None:
    """Back and leg pain both 5 at every visit: two markers per visit, side by side (one on each
    side of the visit by OFFSET_PX), a circle and a square, both at 5; labels on both sides."""
    series = {"nrs_back": [("baseline", 5.0), ("6w", 5.0)], "nrs_leg": [("baseline", 5.0), ("6w", 5.0)]}
    pain = _charts(series)["pain"]
    shown = markers(pain)
    back = [m for m in shown if m.series == "nrs_back"]
    leg = [m for m in shown if m.series == "nrs_leg"]
    assert [round(m.plotted, 6) for m in back + leg] == [5.0] * 4
    for b, g in zip(back, leg, strict=True):
        assert b.cy == g.cy and g.cx - b.cx == pytest.approx(2 * OFFSET_PX)
        assert g.cx - b.cx >= 11  # wider than either marker (11 px circle, 10 px square): both show
    assert {m.shape for m in back} == {"circle"} and {m.shape for m in leg} == {"rect"}
    ns = "{http://www.w3.org/2000/svg}"
    anchors = [t.get("text-anchor") for t in pain.iter(f"{ns}text") if t.get("class") == "value"]
    assert anchors == ["end", "end", "start", "start"]  # back's labels to the left, leg's to the right
    dashes = {e.get("data-series"): e.get("stroke-dasharray") for e in pain.iter(f"{ns}polyline")}
    assert dashes["nrs_back"] is None and dashes["nrs_leg"]  # solid and dashed lines


def test_the_text_alternative_lists_every_value() -> None:
    series = {"nrs_back": [("baseline", 6.0), ("6w", 3.0)], "nrs_leg": [("baseline", 2.0), ("6w", 5.0)]}
    pain = _charts(series)["pain"]
    ns = "{http://www.w3.org/2000/svg}"
    assert pain.get("role") == "img" and pain.get("aria-labelledby") == "chart-pain-title chart-pain-desc"
    desc = pain.find(f"{ns}desc")
    assert desc is not None and desc.text == ("Back pain (0-10): Before treatment 6, 6 weeks 3. "
                                              "Leg pain (0-10): Before treatment 2, 6 weeks 5.")


def test_the_registry_band_spans_the_quartiles() -> None:
    """The band's edges are the first and third quartiles given (read back through the grid)."""
    cells = [OutcomeCell("odi", "mis", tp, days, 30, 50.0, q1, q3)
             for tp, days, q1, q3 in (("baseline", 0, 45.0, 75.0), ("6w", 42, 20.0, 40.0))]
    series = {"odi": [("baseline", 60.0), ("6w", 30.0)]}
    odi = _charts(series, {"odi": cells})["odi"]
    assert band(odi, "odi") == [(45.0, 75.0), (20.0, 40.0)]
    [chart] = result_charts(series, VISITS[:2], NAMES, _fmt, {"odi": cells})
    assert [e.marker for e in chart.legend] == ["circle", "band"]
