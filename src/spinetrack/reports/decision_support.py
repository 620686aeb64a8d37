"""The clinician version of the decision-support document (the page
``/clinic/patients/{id}/decision-support``): the numbers with one decimal, their 95% confidence
intervals and the prediction intervals for one patient, the source of every cell and a warning
on rows that mix sources, model performance (shrinkage, distribution, calibration), the
red-flag screening and the guideline criteria. Computes nothing: it arranges the document of
``spinetrack.predict.decision`` for the template. The patient version and the safety rules both
versions follow are in :mod:`spinetrack.reports.decision_aid`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spinetrack.reports._format import esc, fmt_count, fmt_number
from spinetrack.reports.decision_aid import URGENT_FALLBACK, Payload, _sentences_of
from spinetrack.reports.prediction_plots import reliability_diagram

__all__ = ["ClinicianView", "build_clinician_view", "safe_svg"]


STATUS_WORDS = {"present": "present", "absent": "absent", "unknown": "not answered",
                "met": "met", "not_met": "not met"}
STATUS_SYMBOLS = {"present": "⚠", "absent": "✓", "met": "✓", "not_met": "✗", "unknown": "?"}
SOURCE_LABELS = {"clinic": "clinic model", "literature": "literature", "none": "no estimate"}


@dataclass(frozen=True)
class ClinicianView:
    """The clinician version, ready for the template. ``state``: ``urgent`` (only ``message``),
    ``unscreened``, ``incomplete`` (recorded, some red-flag question unanswered) or ``ready``."""

    state: str
    message: tuple[str, ...]
    options: tuple[Mapping[str, Any], ...]
    columns: tuple[Mapping[str, Any], ...]
    rows: tuple[Mapping[str, Any], ...]
    models: tuple[Mapping[str, Any], ...]
    screening: Mapping[str, Any]
    sources: tuple[str, ...]
    synthetic: bool
    notes: tuple[str, ...] = ()


def _fmt(x: float | None, decimals: int = 1) -> str:
    return fmt_number(x, decimals) if x is not None else "—"


def _value(outcome: Mapping[str, Any], x: float | None) -> str:
    if x is None:
        return "—"
    if outcome.get("kind") == "probability":
        return f"{fmt_number(100 * x, 1)}%"
    return _fmt(x)


def _cell(outcome: Mapping[str, Any], option_key: str) -> dict[str, Any]:
    data = (outcome.get("by_option") or {}).get(option_key)
    if data is None:
        return {"applies": False, "text": "does not apply"}
    source = data.get("source") or "none"
    est = data.get("estimate")
    if source == "none" or est is None:
        return {"applies": True, "source": "none", "text": "no estimate", "source_label": SOURCE_LABELS["none"],
                "note": data.get("note")}
    low, high = data.get("ci_low"), data.get("ci_high")
    interval = f"{_value(outcome, low)} to {_value(outcome, high)}" if low is not None and high is not None else None
    spread = None
    if data.get("pi_low") is not None:
        top = (_value(outcome, data["pi_high"]) if data.get("pi_high") is not None
               else f"beyond {_value(outcome, data.get('pi_beyond_days'))} (the longest follow-up)")
        spread = f"{_value(outcome, data['pi_low'])} to {top}"
    return {"applies": True, "source": source, "text": _value(outcome, est), "interval": interval,
            "spread": spread, "spread_level": f"{100 * (data.get('pi_level') or 0.9):.0f}%" if spread else None,
            "own_scores": data.get("uses_baseline_scores"),
            "source_label": SOURCE_LABELS.get(source, source),
            "n": fmt_count(data["n_patients"]) if data.get("n_patients") is not None else None,
            "model_id": data.get("model_id"), "citation": data.get("citation"), "note": data.get("note")}


def safe_svg(svg: str | None) -> str | None:
    """An SVG string fit to inline in a page, or None: it must parse as XML with an ``<svg>``
    root and hold no script, ``foreignObject``, event attribute or non-local link. The XML
    declaration and doctype are dropped.

    Examples
    --------
    >>> safe_svg('<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>') is not None
    True
    >>> safe_svg('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>') is None
    True
    """
    if not svg:
        return None
    body = re.sub(r"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", "", svg, flags=re.IGNORECASE)
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if not root.tag.endswith("svg"):
        return None
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1].lower()
        if tag in ("script", "foreignobject", "iframe", "object", "embed"):
            return None
        for name, value in el.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                return None
            if local == "href" and not value.startswith("#"):
                return None
    return body.strip()


def _reliability_rows(reliability: Mapping[str, Any] | None) -> list[dict[str, str]]:
    return [{"predicted": _fmt(b.get("mean_predicted"), 3), "observed": _fmt(b.get("observed"), 3),
             "interval": f"{_fmt(b.get('ci_low'), 3)} to {_fmt(b.get('ci_high'), 3)}",
             "n": fmt_count(b["n"]) if b.get("n") is not None else "—"}
            for b in (reliability or {}).get("bins") or []]


def _figure(model: Mapping[str, Any]) -> str | None:
    """The model's reliability diagram: the document's own SVG when it is safe (wrapped with an
    accessible name), else drawn from its reliability groups by
    :func:`spinetrack.reports.prediction_plots.reliability_diagram` (matplotlib, imported here)."""
    mid = str(model.get("model_id") or "model")
    title = f"Reliability diagram of {mid}: observed against predicted"
    own = safe_svg(model.get("reliability_svg"))
    if own:
        return f'<div role="img" aria-label="{esc(title)}">{own}</div>'
    curve = model.get("reliability")
    if not curve or not curve.get("bins"):
        return None
    binary = curve.get("kind") == "binary"
    label = str(model.get("outcome") or mid).replace("_", " ")
    desc = (f"Observed against predicted {label} in {len(curve['bins'])} groups of patients by prediction, with 95% "
            "intervals; points on the dashed line mean that predicted equals observed. The numbers are in the "
            "table below.")
    return reliability_diagram(curve, axis_label="risk" if binary else label, title=title, desc=desc,
                               fig_id="rel-" + re.sub(r"[^A-Za-z0-9_-]+", "-", mid), percent=binary)


_DISTRIBUTION_WORDS = {"weibull": "Weibull", "lognormal": "log-normal", "loglogistic": "log-logistic"}


def _design_words(model: Mapping[str, Any]) -> str:
    """The model's shrinkage, and for a time-to-event model its distribution (with the AICs it
    was chosen by) and its calibration by risk group, in one line for the model table."""
    parts = []
    if model.get("shrinkage") is not None:
        parts.append(f"effects shrunk by {fmt_number(model['shrinkage'], 2)}")
    dist = model.get("distribution")
    if dist:
        aic = model.get("distribution_aic") or {}
        shown = ", ".join(f"{_DISTRIBUTION_WORDS.get(k, k)} {fmt_number(v, 1)}"
                          for k, v in aic.items() if v is not None)
        dist_words = _DISTRIBUTION_WORDS.get(dist, dist)
        parts.append(f"{dist_words} (AIC: {shown})" if shown else dist_words)
    cal = model.get("calibration_by_group")
    if cal:
        parts.append(f"Kaplan-Meier vs predicted by risk group at day {fmt_number(cal['time'], 0)}: "
                     f"p = {cal['p_value']:.2g}")
    return "; ".join(parts) or "—"


def build_clinician_view(payload: Payload) -> ClinicianView:
    """The clinician version: every cell with its value (probabilities in percent, one
    decimal), 95% interval, source and n; model performance; screening and criteria.

    Returns
    -------
    ClinicianView
    """
    screening = payload.get("screening") or {}
    sources = tuple(payload.get("sources") or ())
    if screening.get("urgent"):
        return ClinicianView("urgent", _sentences_of(screening.get("message")) or _sentences_of(URGENT_FALLBACK),
                             (), (), (), (), {}, (), bool(payload.get("synthetic_data")))
    if not screening.get("recorded"):
        state = "unscreened"
    elif screening.get("unanswered"):
        state = "incomplete"
    else:
        state = "ready"
    options = tuple(payload.get("options") or ())
    columns = tuple(o for o in options if o.get("available", True))
    rows = tuple({"key": o["key"], "label": o.get("label") or o["key"], "unit": o.get("unit"),
                  "kind": o.get("kind"), "better": o.get("better"),
                  "mixed_sources": bool(o.get("mixed_sources")), "sources_note": o.get("sources_note"),
                  "cells": [_cell(o, c["key"]) for c in columns]} for o in payload.get("outcomes") or [])
    models = tuple({**m, "svg": _figure(m), "reliability_rows": _reliability_rows(m.get("reliability")),
                    "design": _design_words(m),
                    "fmt": {k: _fmt(m.get(k), 3 if k == "brier" else 2) for k in (
                        "c_statistic", "c_statistic_corrected", "calibration_intercept", "calibration_slope",
                        "calibration_slope_corrected", "brier", "r2", "rmse")},
                    "n": fmt_count(m.get("n_patients")) if m.get("n_patients") is not None else "—"}
                   for m in payload.get("models") or [])
    flags = [{**f, "status_text": STATUS_WORDS.get(f.get("status", ""), f.get("status")),
              "symbol": STATUS_SYMBOLS.get(f.get("status", ""), "")} for f in screening.get("red_flags") or []]
    criteria = [{**c, "status_text": STATUS_WORDS.get(c.get("status", ""), c.get("status")),
                 "symbol": STATUS_SYMBOLS.get(c.get("status", ""), "")} for c in screening.get("criteria") or []]
    unanswered = [str(u).replace("_", " ") for u in screening.get("unanswered") or []]
    return ClinicianView(state, (), options, columns, rows, models,
                         {**screening, "red_flags": flags, "criteria": criteria, "unanswered_labels": unanswered},
                         sources, bool(payload.get("synthetic_data")),
                         tuple(str(n) for n in payload.get("notes") or ()))
