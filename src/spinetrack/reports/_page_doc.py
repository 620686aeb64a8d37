"""The scorecard page's reading of its document, shared by the page's sections: the look-ups by
comparison and by claim (:class:`Page`, which also numbers the references), the verdict badges,
the withheld text, and the literature figure's number, interval and size as printed.

Every string taken from the document is HTML-escaped; every number is formatted, none is
estimated here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from spinetrack.domain.comparisons import DEFAULT_CONTROL, DEFAULT_TREATED
from spinetrack.instruments import thresholds
from spinetrack.instruments.base import Listing
from spinetrack.instruments.registry import listed
from spinetrack.reports import figures
from spinetrack.reports._format import (
    arm_label,
    arm_style,
    esc,
    fmt_count,
    fmt_number,
    unit_label,
    unit_scale,
)

__all__ = [
    "PROM_INSTRUMENTS",
    "VERDICT_SYMBOL",
    "Doc",
    "Page",
    "badge",
    "lit_badge",
    "lit_citations",
    "lit_num",
    "lit_size",
    "lit_value",
    "unit_text",
    "verdict_text",
    "withheld_text",
]


Doc = Mapping[str, Any]
#: The instruments of the analysis' PROM grid (listed on their definitions).
PROM_INSTRUMENTS = listed(Listing.ANALYSED)
VERDICT_SYMBOL = {"supported": "✓", "contradicted": "✗", "no_important_difference": "≈", "inconclusive": "?"}


def verdict_text(result: Doc) -> str:
    """The verdict in words: a harm's (radiation) as less / more with the treated arm."""
    verdict = str(result.get("verdict") or "inconclusive")
    if result.get("role") == "harm" and verdict in ("supported", "contradicted"):
        return "less with MIS" if verdict == "supported" else "more with MIS"
    return verdict.replace("_", " ")


class Page:
    """Look-ups over the document (by comparison key, by claim) shared by the sections."""

    def __init__(self, doc: Doc, mcid: dict[str, float] | None) -> None:
        self.doc = doc
        self.mcid_override = mcid
        self.ci_level = float(doc.get("ci_level") or 0.95)
        self.comparisons: dict[str, Doc] = {c["key"]: c for c in doc.get("comparisons", [])}
        self.results: list[Doc] = list(doc.get("results", []))
        self.order = list(self.comparisons) + [r["comparison"] for r in self.results
                                               if r["comparison"] not in self.comparisons]
        self.order = list(dict.fromkeys(self.order))
        self.claims: dict[str, list[Doc]] = {}
        for r in self.results:
            self.claims.setdefault(r["claim"], []).append(r)
        for rs in self.claims.values():
            rs.sort(key=lambda r: self.order.index(r["comparison"]))
        self.refs: dict[str, int] = {}
        self.ref_list: list[Doc] = []
        for key in self.order:  # numbered in the order the page shows them: scorecard, then claims
            for r in self.results:
                if r["comparison"] == key:
                    self._cite(*lit_citations(r.get("literature"), context=False))
        for rs in self.claims.values():
            for r in rs:
                self._cite(*lit_citations(r.get("literature"), context=True))

    def _cite(self, *citations: Doc) -> None:
        for c in citations:
            key = str(c.get("key") or c.get("text"))
            if key not in self.refs:
                self.refs[key] = len(self.ref_list) + 1
                self.ref_list.append(c)

    def ref(self, citation: Doc) -> str:
        """The superscript reference number of a citation, linked to the reference list."""
        n = self.refs.get(str(citation.get("key") or citation.get("text")))
        return "" if n is None else f'<sup class="ref"><a href="#ref-{n}" aria-label="reference {n}">{n}</a></sup>'

    @property
    def has_literature(self) -> bool:
        return any(isinstance(r.get("literature"), Mapping) for r in self.results)

    def label(self, key: str) -> str:
        return str(self.comparisons.get(key, {}).get("label", key))

    def arms(self, key: str) -> dict[str, figures.Arm]:
        comp = self.comparisons.get(key, {})
        out = {}
        for side in ("treated", "control"):
            codes = comp.get(side) or list(DEFAULT_TREATED if side == "treated" else DEFAULT_CONTROL)
            style = arm_style(codes)
            name = arm_label(codes)
            out[side] = figures.Arm(name[:1].upper() + name[1:], style["color"], style["marker"], style["linestyle"])
        return out

    def contrast(self, key: str) -> str:
        """``MIS − open``: the difference the estimates are."""
        comp = self.comparisons.get(key, {})
        treated, control = comp.get("treated") or DEFAULT_TREATED, comp.get("control") or DEFAULT_CONTROL
        return f"{arm_label(treated)} − {arm_label(control)}"

    def mcid_for(self, instrument: str) -> float | None:
        if self.mcid_override is not None:
            return self.mcid_override.get(instrument)
        try:
            return thresholds.get(instrument).absolute
        except Exception:  # no threshold for this instrument: no line
            return None





def badge(result: Doc) -> str:
    """The verdict badge of a result: word and symbol, colour only as a second cue."""
    status = result.get("status")
    if status == "withheld":
        return '<span class="badge badge-withheld">withheld</span>'
    if status != "estimated":
        return f'<span class="badge badge-na">{esc(status or "not estimated")}</span>'
    verdict = str(result.get("verdict") or "inconclusive")
    symbol = VERDICT_SYMBOL.get(verdict, "")
    p = result.get("p_adjusted")
    title = f' title="adjusted p = {p:.2g} (Benjamini–Hochberg across the scorecard)"' if p is not None else ""
    return (f'<span class="badge badge-{esc(verdict)}"{title}><span aria-hidden="true">{symbol} </span>'
            f"{esc(verdict_text(result))}</span>")


def withheld_text(result: Doc) -> str:
    failed = [str(f) for f in result.get("withheld_because") or []] or ["a diagnostic"]
    return f"withheld: {', '.join(failed)} failed"



def unit_text(r: Doc) -> str:
    unit = r.get("unit")
    if unit == "risk":
        return "risk difference, percentage points"
    if unit == "share":
        return "difference in share, percentage points"
    if unit == "probability":
        horizon = r.get("horizon_days")
        at = f" at {horizon} days" if horizon else ""
        return f"difference in probability{at}, percentage points"
    return f"difference in {unit}" if unit else ""



def lit_badge(lit: Doc) -> str:
    """The literature's verdict badge (same colours as the clinic's, prefixed "literature")."""
    verdict = str(lit.get("verdict") or "inconclusive")
    symbol = VERDICT_SYMBOL.get(verdict, "")
    return (f'<span class="badge badge-{esc(verdict)} lit-badge"><span aria-hidden="true">{symbol} </span>'
            f"literature: {esc(verdict)}</span>")


def lit_num(x: Any, scale: float = 1.0, *, sign: bool = False) -> str:
    """A literature number as printed: up to two decimals (three significant digits below 1)."""
    if x is None:
        return "—"
    v = float(x) * scale
    d = 2 if v == 0 or abs(v) >= 1 else max(2, 2 - math.floor(math.log10(abs(v))))
    text = fmt_number(v, d, sign=sign)
    return text.rstrip("0").rstrip(".") if "." in text else text


def lit_value(lit: Doc) -> tuple[str, str]:
    """(``−269.5 mL``, ``−292.9 to −246.2``) or (``RR 1.1``, ``0.464 to 2.61``)."""
    if lit.get("scale") == "ratio":
        return (f"{lit.get('measure') or 'RR'} {lit_num(lit.get('estimate'))}",
                f"{lit_num(lit.get('ci_low'))} to {lit_num(lit.get('ci_high'))}")
    unit = lit.get("unit")
    s = unit_scale(unit)
    return (f"{lit_num(lit.get('estimate'), s, sign=True)} {unit_label(unit)}".strip(),
            f"{lit_num(lit.get('ci_low'), s, sign=True)} to {lit_num(lit.get('ci_high'), s, sign=True)}")


def lit_size(lit: Doc) -> str:
    """``meta-analysis including observational studies, 9 studies · 830 patients``."""
    parts = [str(lit.get("quality") or lit.get("level_label") or "")]
    if lit.get("n_patients"):
        parts.append(f"{fmt_count(lit['n_patients'])} patients")
    return " · ".join(p for p in parts if p)


def lit_citations(lit: Any, *, context: bool) -> list[Doc]:
    """The citations the report shows for a literature entry: its figure's, when it has a figure
    on the claim's own scale, and, with ``context``, those of its related findings against the
    claim (the report lists no other related finding)."""
    if not isinstance(lit, Mapping):
        return []
    out = list(lit.get("citations") or []) if lit.get("estimate") is not None else []
    if context:
        out += [c["citation"] for c in lit.get("context") or [] if c.get("citation") and c.get("against")]
    return out
