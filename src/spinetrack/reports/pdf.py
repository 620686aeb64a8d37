"""The PDF of the scorecard page, printed by WeasyPrint (A4; the page's print stylesheet).

WeasyPrint is imported only here, when a PDF is asked for. It needs the Pango text stack of
the operating system at run time (on Debian: ``libpango-1.0-0``, ``libpangoft2-1.0-0``,
``libharfbuzz0b``, ``libharfbuzz-subset0``, ``libfontconfig1``, ``libglib2.0-0`` and a font
such as ``fonts-dejavu-core``). Nothing is fetched: every URL the page might name is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spinetrack.errors import SpinetrackError

__all__ = ["ReportDependencyError", "pdf_bytes", "write_pdf"]

_INSTALL_HINT = ("install it with: pip install 'weasyprint>=62' (on Debian also: apt-get install libpango-1.0-0 "
                 "libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)")


class ReportDependencyError(SpinetrackError):
    """A report output needs a package or system library that is not installed."""


def _fetcher(weasyprint: Any) -> Any:
    """A URL fetcher that fetches nothing but inline ``data:`` URLs (the report is self-contained:
    a page that asks for anything else is refused). WeasyPrint 70 takes a ``URLFetcher`` object
    (a plain function made it fail with an ``AttributeError``); older versions take a function."""
    if hasattr(weasyprint, "URLFetcher"):
        return weasyprint.URLFetcher(allowed_protocols=("data",), fail_on_errors=True)

    def refuse(url: str, *args: Any, **kwargs: Any) -> Any:
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


def pdf_bytes(html: str) -> bytes:
    """The PDF of a self-contained HTML page, as bytes (see :func:`write_pdf`)."""
    try:
        import weasyprint
    except ImportError as exc:
        raise ReportDependencyError(f"writing a PDF needs WeasyPrint; {_INSTALL_HINT}") from exc
    except OSError as exc:  # WeasyPrint is there, a system library it loads is not
        raise ReportDependencyError(f"WeasyPrint cannot load a system library ({exc}); {_INSTALL_HINT}") from exc
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=_fetcher(weasyprint))
    fatal = getattr(getattr(weasyprint, "urls", None), "FatalURLFetchingError", None)
    try:
        data: bytes = document.write_pdf()
    except BaseException as exc:  # WeasyPrint 70 raises a BaseException for a refused fetch
        if fatal is None or not isinstance(exc, fatal):
            raise
        raise ReportDependencyError(f"the PDF was not written: the page asks for an outside resource ({exc})") from exc
    return data
