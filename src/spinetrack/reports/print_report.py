"""The report as a file pair, HTML and PDF, with the figures drawn beside the printing.

``spinetrack report --pdf`` spends its time in two places: matplotlib drawing the figures
(about a quarter) and WeasyPrint laying out the text (the rest), each on one core. Here the
page is rendered with every figure put off (:func:`spinetrack.reports.svg.deferred_figures`:
the text of the page is ready in a fraction of a second), the figures are drawn in worker
processes, and WeasyPrint starts on the text at once; it asks for each figure when it reaches
it (:func:`spinetrack.reports.pdf.pdf_bytes`) and by then the figure is usually drawn. The
HTML written is byte for byte the page of ``render_html(doc, for_print=True)``.

Worker processes are forked, so only where ``fork`` exists and the calling process runs a
single thread (the command line); anywhere else, and with ``workers=1``, each figure is drawn
in this process when WeasyPrint asks for it: the same files, one core.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from spinetrack.reports._page_doc import Doc
from spinetrack.reports.page import render_html
from spinetrack.reports.pdf import pdf_bytes
from spinetrack.reports.svg import FIGURE_SCHEME, FigureJob, deferred_figures, png_of, raster_figures

__all__ = ["default_workers", "printed_report", "write_report"]

#: The deferred figure calls of the report being printed, read by the forked workers (a figure's
#: arguments are never pickled: each worker has its own copy of this list from the fork).
_JOBS: Sequence[FigureJob] = ()


def _draw(n: int) -> bytes:
    return png_of(_JOBS[n])


def _preload() -> None:
    """Import matplotlib's figure and raster modules once, before the fork, rather than in each
    worker (about half a second each)."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401


def default_workers() -> int:
    """The processes that draw figures: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


class _Figures:
    """The PNG of each deferred figure, drawn by a pool of forked processes (or here, lazily)."""

    def __init__(self, jobs: Sequence[FigureJob], workers: int) -> None:
        global _JOBS
        self._jobs = jobs
        self._png: dict[int, bytes] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[bytes]] = []
        self.error: BaseException | None = None  # the first figure that could not be drawn
        if workers > 1 and len(jobs) > 1 and _can_fork():
            _JOBS = jobs  # before the fork: the workers inherit it
            _preload()
            self._pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                             mp_context=multiprocessing.get_context("fork"))
            self._futures = [self._pool.submit(_draw, n) for n in range(len(jobs))]  # in page order

    def __call__(self, n: int) -> bytes:
        if n not in self._png:
            if not 0 <= n < len(self._jobs):
                raise ValueError(f"the page names figure {n}, but it has {len(self._jobs)}")
            try:
                self._png[n] = self._futures[n].result() if self._futures else png_of(self._jobs[n])
            except Exception as exc:  # WeasyPrint sees a failed fetch: keep the figure's own error
                self.error = self.error or exc
                raise
        return self._png[n]

    def fill(self, html: str) -> str:
        """The page with every ``spinetrack-figure:<n>`` replaced by its PNG as a ``data:`` URL."""
        for n in range(len(self._jobs)):
            data = base64.b64encode(self(n)).decode("ascii")
            html = html.replace(f'src="{FIGURE_SCHEME}:{n}"', f'src="data:image/png;base64,{data}"', 1)
        return html

    def close(self) -> None:
        global _JOBS
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        _JOBS = ()


def printed_report(doc: Doc, *, title: str = "spinetrack claims scorecard", mcid: dict[str, float] | None = None,
                   workers: int | None = None) -> tuple[str, bytes]:
    """The page to print and its PDF (A4): ``render_html(doc, for_print=True)`` and its
    :func:`~spinetrack.reports.pdf.pdf_bytes`, the figures drawn in ``workers`` processes
    (default: one per core; 1, or a caller running other threads, draws them here) while
    WeasyPrint lays out the text.

    Raises
    ------
    spinetrack.reports.ReportDependencyError
        WeasyPrint or a system library it needs is missing.
    """
    jobs: list[FigureJob] = []
    with raster_figures(), deferred_figures(jobs):
        page = render_html(doc, title=title, mcid=mcid)
    figures = _Figures(jobs, default_workers() if workers is None else workers)
    try:
        pdf = pdf_bytes(page, figures)
        return figures.fill(page), pdf
    except BaseException as exc:
        if figures.error is not None and figures.error is not exc:  # reached WeasyPrint as a failed fetch
            raise figures.error from exc
        raise
    finally:
        figures.close()


def write_report(doc: Doc, html_path: Path, pdf_path: Path | None = None, *,
                 title: str = "spinetrack claims scorecard", mcid: dict[str, float] | None = None,
                 workers: int | None = None) -> None:
    """Write the scorecard report: the HTML page and, with ``pdf_path``, its PDF (A4).

    Without ``pdf_path`` the page has inline SVG figures (:func:`render_html`); with it, both
    files are those of :func:`printed_report` (PNG figures). Nothing is written unless both files
    could be made.

    Parameters
    ----------
    doc : dict
        The scorecard document (``spinetrack analyze --json``).
    html_path, pdf_path : pathlib.Path
        Where to write the page and the PDF (overwritten).
    title, mcid
        As for :func:`spinetrack.reports.render_html`.
    workers : int, optional
        Processes drawing the figures; 1 draws them here, one by one.

    Raises
    ------
    spinetrack.reports.ReportDependencyError
        WeasyPrint or a system library it needs is missing (nothing is written).
    """
    if pdf_path is None:
        Path(html_path).write_text(render_html(doc, title=title, mcid=mcid), encoding="utf-8")
        return
    html, pdf = printed_report(doc, title=title, mcid=mcid, workers=workers)
    Path(html_path).write_text(html, encoding="utf-8")
    Path(pdf_path).write_bytes(pdf)
