"""The patient's own results: scores over time in plain sentences (against the minimal important
change), a table, charts with the registry's middle half of patients on the same treatment, and
the EQ-5D-5L rows; in the current language. Shown on the visit's results page
(``routes/patient.py``) and on the patient's home (``routes/patient_home.py``).
"""

from __future__ import annotations

from typing import Any

from spinetrack import i18n, instruments
from spinetrack.errors import ValidationError
from spinetrack.i18n import gettext as _
from spinetrack.instruments import thresholds
from spinetrack.instruments.base import Listing
from spinetrack.store.queries import OutcomeCell, Queries
from spinetrack.store.repositories import Actor, Store
from spinetrack.web.patient_charts import result_charts

__all__ = ["EQ5D", "RESULT_INSTRUMENTS", "results_context", "timepoint_name"]

RESULT_INSTRUMENTS = instruments.listed(Listing.PATIENT_RESULTS)
EQ5D = "eq5d5l"

# spinetrack's own words about each instrument (English, marked for the questionnaires catalog;
# translated where they are shown): what a result score is called in a sentence, its scale in
# words, and its series name on the charts.
RESULT_NAMES: dict[str, tuple[str, str]] = {
    code: (name, instruments.get(code).definition.display.result_scale or "")
    for code, name in instruments.display_field("result_name").items()}
TRACE_NAMES: dict[str, str] = instruments.display_field("result_trace")


def timepoint_name(label: str) -> str:
    """A visit's name in the page's language (the visit names are in the questionnaires catalog)."""
    return _(label) if label else label


def _decimals(code: str, values: list[float]) -> int:
    """The decimals of one instrument's scores on this page: whole numbers when every score is
    whole (the pain scales, a complete disability score), else the instrument's own
    (``Display.decimals``: 1, and 3 for the EQ-5D-5L index), the same for every score shown."""
    if code != EQ5D and all(abs(v - round(v)) < 1e-9 for v in values):
        return 0
    return instruments.get(code).definition.display.decimals


def results_context(store: Store, actor: Actor, episode_id: int) -> dict[str, Any]:
    """The results page's content for one episode (read through the store, audited), in the
    current language."""
    rows = store.list_responses(actor, episode_id)
    schedule = store.timepoints()
    order = {tp.code: i for i, tp in enumerate(schedule)}
    labels = {tp.code: timepoint_name(tp.label) for tp in schedule}
    series: dict[str, list[tuple[str, float]]] = {}
    for code in RESULT_INSTRUMENTS:
        points = sorted(((order.get(r["timepoint"], len(order)), r["timepoint"], float(r["score"])) for r in rows
                         if r["instrument"] == code and r["valid"] and r["score"] is not None), key=lambda p: p[0])
        if points:
            series[code] = [(tp, score) for _, tp, score in points]
    decimals = {code: _decimals(code, [v for _, v in pts]) for code, pts in series.items()}

    def fmt(code: str, value: float) -> str:
        return i18n.format_decimal(value, decimals.get(code, 0))

    timepoints = sorted({tp for pts in series.values() for tp, _ in pts}, key=lambda c: order.get(c, len(order)))
    table = [{"label": labels.get(tp, tp),
              "values": [fmt(code, v) if (v := dict(series.get(code, [])).get(tp)) is not None else ""
                         for code in RESULT_INSTRUMENTS]}
             for tp in timepoints]
    treatment = store.get_episode(actor, episode_id).get("treatment")
    band: dict[str, list[OutcomeCell]] = {}
    if treatment and series:  # the registry's middle half of patients with the same treatment
        summary = Queries(store).outcome_summary(actor, list(series))
        band = {code: summary.for_instrument(code, treatment) for code in series}
    names = {code: _(TRACE_NAMES[code]) for code in series}
    charts = result_charts(series, [(tp, labels.get(tp, tp)) for tp in timepoints], names, fmt, band)
    sentences = [_sentence(code, pts, labels, fmt) for code, pts in series.items()]
    return {"sentences": sentences, "table": table, "charts": charts,
            "columns": [(code, _(TRACE_NAMES[code])) for code in RESULT_INSTRUMENTS],
            "band": any(entry.marker == "band" for chart in charts for entry in chart.legend),
            "health": _health_table(rows, order, labels)}


def _health_table(rows: list[dict[str, Any]], order: dict[str, int], labels: dict[str, str]
                  ) -> list[dict[str, str]]:
    """The EQ-5D-5L rows of the results page: the health index (the instrument's decimals, 3, on
    every row) and the patient's own 0–100 rating, per visit."""
    decimals = instruments.get(EQ5D).definition.display.decimals
    found = sorted((r for r in rows if r["instrument"] == EQ5D and r["valid"] and r["score"] is not None),
                   key=lambda r: order.get(r["timepoint"], len(order)))
    out = []
    for r in found:
        vas = (r.get("answers") or {}).get("vas")
        out.append({"label": labels.get(r["timepoint"], r["timepoint"]),
                    "index": i18n.format_decimal(float(r["score"]), decimals),
                    "vas": i18n.format_decimal(float(vas), 0) if vas is not None else ""})
    return out


def _threshold(code: str, threshold_set: str, direction: str) -> tuple[float, str]:
    """The absolute minimal important change (points) of ``code`` in ``direction``, and as the
    page writes it (whole, else one decimal)."""
    try:
        t = thresholds.get(code, threshold_set, direction=direction)
    except ValidationError:  # no separate deterioration value: the improvement one, mirrored
        t = thresholds.get(code, threshold_set)
    assert t.absolute is not None, "the result instruments have absolute thresholds"
    limit = t.absolute
    return limit, i18n.format_decimal(limit, 0 if limit == round(limit) else 1)


def _sentence(code: str, points: list[tuple[str, float]], labels: dict[str, str],
              fmt: Any) -> dict[str, str]:
    """One plain-language sentence about the change from the first (baseline) score to the latest."""
    name, scale = (_(text) for text in RESULT_NAMES[code])
    first_tp, first = points[0]
    if len(points) == 1:
        return {"code": code, "source": "", "text": _(
            "Your %(name)s was %(score)s (%(when)s; %(scale)s, lower is better). Your progress will show here after "
            "your next questionnaire.", name=name, score=fmt(code, first), when=labels.get(first_tp, first_tp).lower(),
            scale=scale)}
    _last_tp, last = points[-1]
    change = thresholds.classify_change(code, first, last)
    start = _("Your %(name)s went from %(first)s to %(last)s (lower is better)", name=name, first=fmt(code, first),
              last=fmt(code, last))
    size = abs(change.improvement)
    if change.category is thresholds.ChangeClass.IMPROVED:
        limit, shown = _threshold(code, change.threshold_set, "improvement")
        tail = (_("an improvement larger than the minimal important change of %(limit)s points.", limit=shown)
                if size > limit + 1e-9 else
                _("an improvement as large as the minimal important change of %(limit)s points.", limit=shown))
    elif change.category is thresholds.ChangeClass.WORSENED:
        limit, shown = _threshold(code, change.threshold_set, "deterioration")
        tail = (_("a worsening larger than the minimal important change of %(limit)s points.", limit=shown)
                if size > limit + 1e-9 else
                _("a worsening as large as the minimal important change of %(limit)s points.", limit=shown))
        tail += " " + _("Please talk to your clinic about it.")
    elif size == 0:
        tail = _("no change.")
    else:
        _limit, shown = _threshold(code, change.threshold_set, "improvement")
        tail = _("a change smaller than the minimal important change of %(limit)s points, so about the same.",
                 limit=shown)
    return {"code": code, "text": f"{start}: {tail}", "source": change.source}
