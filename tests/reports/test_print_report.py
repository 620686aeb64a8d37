"""``spinetrack report --pdf``: the figures drawn in worker processes while WeasyPrint lays out
the text (:mod:`spinetrack.reports.print_report`) give the same files as drawing them first.

The reference is the plain way, in this process: ``render_html(doc, for_print=True)`` then
``pdf_bytes`` of that page. The document is ``scorecard_example.json`` cut to two comparisons
and one claim of each kind, so that it has Kaplan–Meier, trajectory and balance figures.

The worker pool is used only when the calling process runs one thread (a fork is unsafe
otherwise); a pytest-xdist worker has its messaging thread, so the tests that exercise the pool
say that forking is fine here (the workers draw figures and touch nothing else).
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from spinetrack.reports import ReportDependencyError, render_html
from spinetrack.reports import print_report as pr
from spinetrack.reports.pdf import pdf_bytes

FIXTURE = Path(__file__).with_name("scorecard_example.json")
KEEP = {"incision", "any_complication", "back_pain_2w", "odi_12m", "return_to_activity", "reoperation_free"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    d = json.loads(FIXTURE.read_text(encoding="utf-8"))
    pair = ("discectomy", "surgery_vs_conservative")
    d = copy.deepcopy(d)
    d["comparisons"] = [c for c in d["comparisons"] if c["key"] in pair]
    d["results"] = [r for r in d["results"] if r["comparison"] in pair and r["claim"] in KEEP]
    return d


@pytest.fixture
def pool_allowed(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Fork even with pytest-xdist's thread running; records whether each report used a pool."""
    used: list[bool] = []
    init = pr._Figures.__init__

    def spy(self: Any, jobs: Any, workers: int) -> None:
        init(self, jobs, workers)
        used.append(self._pool is not None)

    monkeypatch.setattr(pr, "_can_fork", lambda: True)
    monkeypatch.setattr(pr._Figures, "__init__", spy)
    return used


def _images(reader: PdfReader) -> int:
    """The distinct images of the document (WeasyPrint's pages share one resource dictionary)."""
    return len({image.name for page in reader.pages for image in page.images})


def _texts(reader: PdfReader) -> list[str]:
    return [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 1])
def test_the_files_are_those_of_the_print_page(doc: dict[str, Any], tmp_path: Path, pool_allowed: list[bool],
                                               workers: int) -> None:
    reference_html = render_html(doc, for_print=True)
    reference = PdfReader(io.BytesIO(pdf_bytes(reference_html)))
    figures = reference_html.count('class="figure-img" src="data:image/png;base64,')
    assert figures >= 4  # Kaplan–Meier, trajectories, balance
    images = len(set(re.findall(r'src="(data:image/png;base64,[^"]+)"', reference_html)))  # and the intervals

    pr.write_report(doc, tmp_path / "r.html", tmp_path / "r.pdf", workers=workers)

    assert pool_allowed == [workers > 1]
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == reference_html  # byte for byte
    printed = PdfReader(tmp_path / "r.pdf")
    assert len(printed.pages) == len(reference.pages)
    assert _texts(printed) == _texts(reference)
    assert _images(printed) == _images(reference) == images > figures


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 1])
def test_a_figure_that_fails_stops_the_report_with_its_own_error(doc: dict[str, Any], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 pool_allowed: list[bool], workers: int) -> None:
    """The error of the figure (here a Kaplan–Meier curve) reaches the caller, not WeasyPrint's
    failed fetch, and neither file is written."""
    from spinetrack.reports import figures

    def broken(curve: Any) -> Any:
        raise RuntimeError("the curve could not be drawn")

    monkeypatch.setattr(figures, "_steps", broken)  # the workers are forked after this
    with pytest.raises(RuntimeError, match="the curve could not be drawn"):
        pr.write_report(doc, tmp_path / "r.html", tmp_path / "r.pdf", workers=workers)
    assert pool_allowed == [workers > 1]
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.pdf").exists()


def test_without_its_figures_a_page_naming_one_is_refused() -> None:
    """``spinetrack-figure:<n>`` is served only with the figures of the report being printed;
    otherwise it is an outside resource like any other URL."""
    with pytest.raises(ReportDependencyError, match="outside resource"):
        pdf_bytes("<html lang='en'><body><img src='spinetrack-figure:0' alt='a figure'></body></html>")


def test_with_a_thread_running_the_figures_are_drawn_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork copies one thread only: with another thread alive (a web server), no pool."""
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: 2)
    figures = pr._Figures([(lambda **kw: "", (), {}), (lambda **kw: "", (), {})], workers=2)
    try:
        assert figures._pool is None and figures._futures == []
    finally:
        figures.close()
