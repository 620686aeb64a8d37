"""The PDF of the scorecard page, printed by WeasyPrint (A4; the page's print stylesheet).

WeasyPrint is imported only here, when a PDF is asked for. It needs the Pango text stack of
the operating system at run time (on Debian: ``libpango-1.0-0``, ``libpangoft2-1.0-0``,
``libharfbuzz0b``, ``libharfbuzz-subset0``, ``libfontconfig1``, ``libglib2.0-0`` and a font
such as ``fonts-dejavu-core``). Nothing is fetched: every URL the page might name is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from spinetrack.errors import SpinetrackError
from spinetrack.reports.svg import FIGURE_SCHEME

__all__ = ["ReportDependencyError", "pdf_bytes", "write_pdf"]

_INSTALL_HINT = ("install it with: pip install 'weasyprint>=62' (on Debian also: apt-get install libpango-1.0-0 "
                 "libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)")


class ReportDependencyError(SpinetrackError):
    """A report output needs a package or system library that is not installed."""


#: A deferred figure's PNG by its number (``spinetrack-figure:<n>``, :mod:`spinetrack.reports.svg`).
FigureSource = Callable[[int], bytes]


def _figure_number(url: str) -> int | None:
    head, _, tail = url.partition(":")
    return int(tail) if head == FIGURE_SCHEME and tail.isdigit() else None


def _fetcher(weasyprint: Any, figures: FigureSource | None = None) -> Any:
    """A URL fetcher that fetches nothing but inline ``data:`` URLs and, when ``figures`` is
    given, the deferred figures ``spinetrack-figure:<n>`` (the report is self-contained: a page
    that asks for anything else is refused). WeasyPrint 70 takes a ``URLFetcher`` object (a
    plain function made it fail with an ``AttributeError``); older versions take a function."""
    if hasattr(weasyprint, "URLFetcher"):
        class Fetcher(weasyprint.URLFetcher):  # WeasyPrint 70 and later
            def fetch(self, url: str, headers: Any = None) -> Any:
                n = _figure_number(url) if figures is not None else None
                if n is None or figures is None:
                    return super().fetch(url, headers)
                return weasyprint.urls.URLFetcherResponse(url, body=figures(n),
                                                          headers={"Content-Type": "image/png"})

        return Fetcher(allowed_protocols=("data",), fail_on_errors=True)

    def refuse(url: str, *args: Any, **kwargs: Any) -> Any:
        n = _figure_number(url) if figures is not None else None
        if n is not None and figures is not None:
            return {"string": figures(n), "mime_type": "image/png"}
        if url.startswith("data:"):
            return weasyprint.default_url_fetcher(url, *args, **kwargs)
        raise ValueError(f"the report is self-contained; refusing to fetch {url!r}")
    return refuse


def write_pdf(html: str, path: Path) -> None:
    """Print the HTML page of :func:`spinetrack.reports.render_html` to a PDF file.

    Parameters
    ----------
    html : str
        A self-contained HTML document (inline CSS and SVG; no external resources).
    path : pathlib.Path
        Where to write the PDF (overwritten).

    Raises
    ------
    ReportDependencyError
        WeasyPrint or the system libraries it loads (Pango, HarfBuzz, fontconfig) are missing;
        the message says how to install them.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "card.pdf"
    >>> write_pdf("<html lang='en'><body><h1>scorecard</h1></body></html>", out)
    >>> out.read_bytes()[:5]
    b'%PDF-'
    """
    Path(path).write_bytes(pdf_bytes(html))


def pdf_bytes(html: str, figures: FigureSource | None = None) -> bytes:
    """The PDF of a self-contained HTML page, as bytes (see :func:`write_pdf`). With ``figures``,
    the page's ``spinetrack-figure:<n>`` images are asked of it, each when WeasyPrint reaches
    it (:func:`spinetrack.reports.print_report.write_report`)."""
    try:
        import weasyprint
    except ImportError as exc:
        raise ReportDependencyError(f"writing a PDF needs WeasyPrint; {_INSTALL_HINT}") from exc
    except OSError as exc:  # WeasyPrint is there, a system library it loads is not
        raise ReportDependencyError(f"WeasyPrint cannot load a system library ({exc}); {_INSTALL_HINT}") from exc
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=_fetcher(weasyprint, figures))
    fatal = getattr(getattr(weasyprint, "urls", None), "FatalURLFetchingError", None)
    try:
        data: bytes = document.write_pdf()
    except BaseException as exc:  # WeasyPrint 70 raises a BaseException for a refused fetch
        if fatal is None or not isinstance(exc, fatal):
            raise
        raise ReportDependencyError(f"the PDF was not written: the page asks for an outside resource ({exc})") from exc
    return data
