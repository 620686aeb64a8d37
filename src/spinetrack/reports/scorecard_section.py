"""Pieces of the scorecard shared by the report's sections: the short MCID reading of a
questionnaire result, and the list of the claims that cannot be measured yet.

The scorecard itself is the one-page summary (:mod:`spinetrack.reports.summary`); each claim's
numbers by comparison are in its own section (:mod:`spinetrack.reports.claim_sections`).
"""

from __future__ import annotations

from spinetrack.reports._format import esc
from spinetrack.reports._page_doc import PROM_INSTRUMENTS, Doc, Page

__all__ = ["mcid_text", "not_measured_block"]


def mcid_text(r: Doc) -> str:
    """Short MCID reading of a PROM result (``below MCID 10`` …)."""
    if r.get("status") != "estimated":
        return "—"
    m = r.get("mcid")
    if not m:
        if r.get("instrument") in PROM_INSTRUMENTS and r.get("kind") == "continuous":
            return "no MCID set"
        return "—"
    value = f"{m['mcid']:g}"
    if m.get("interval_beyond"):
        return f"beyond MCID {value}"
    if m.get("estimate_reaches"):
        return f"reaches MCID {value}"
    if m.get("interval_excludes"):
        return f"below MCID {value}"
    return f"MCID {value} not excluded"


def not_measured_block(page: Page) -> str:
    """“Claims we cannot measure yet”, from the document's ``not_measured`` list."""
    nm = page.doc.get("not_measured") or []
    if not nm:
        return ""
    items = "".join(f"<li><strong>{esc(x.get('promise'))}</strong>: {esc(x.get('what'))}</li>" for x in nm)
    return f'<h3 id="not-measured">Claims we cannot measure yet</h3><ul>{items}</ul>'
