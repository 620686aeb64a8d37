"""Reports: the claims scorecard as a static HTML page and as a PDF.

Reports consume the scorecard document (``spinetrack analyze --json``, built by
:func:`spinetrack.analysis.scorecard.scorecard_as_dict`) and compute nothing: every number on
the page is taken from the document and only formatted here.

* :func:`render_html` — one self-contained page (inline CSS and SVG, no JavaScript, no
  external links or fonts) that opens from disk offline and reads on a phone;
* :func:`write_pdf` — the same page printed to A4 by WeasyPrint (imported only when called);
* :mod:`spinetrack.reports.figures` — one function per figure, each returning an SVG string.

Plotly is not used for the report figures (the web pages use it): WeasyPrint cannot
run JavaScript, so static SVG from matplotlib serves both HTML and PDF.
"""

from __future__ import annotations

from spinetrack.reports import figures
from spinetrack.reports.page import render_html
from spinetrack.reports.pdf import ReportDependencyError, write_pdf

__all__ = ["ReportDependencyError", "figures", "render_html", "write_pdf"]
