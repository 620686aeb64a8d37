"""SVG plumbing shared by the report's figure modules (:mod:`.figures`, :mod:`.meta_plots`,
:mod:`.prediction_plots`): the house colours and matplotlib settings, a figure context, and the
conversion of a matplotlib figure to a self-contained, deterministic, accessible SVG string.

matplotlib is imported inside :func:`_figure`, so that importing :mod:`spinetrack.reports` stays
cheap. Text stays text (``svg.fonttype = "none"``); ids are prefixed per figure so that many
figures can live in one HTML page; output is deterministic (fixed hash salt, no date); every SVG
has ``role="img"`` and a ``<title>`` and ``<desc>`` referenced by ``aria-labelledby``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal, ParamSpec

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["CLAIM_SHADE", "FIGURE_SCHEME", "GRID", "HIGHLIGHT", "INK", "MUTED", "FigureJob", "deferrable",
           "deferred_figures", "png_of", "printing", "raster_figures"]

INK = "#1a1a1a"
MUTED = "#595959"
GRID = "#d5dae0"
CLAIM_SHADE = "#e2f0e5"
HIGHLIGHT = "#eef0f3"
_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "spinetrack-report",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9.0,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.titlesize": 10.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": INK,
    "ytick.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8.0,
    "path.simplify": True,
}


@contextmanager
def _figure(width_in: float, height_in: float, *, left: float = 0.6, right: float = 0.15, bottom: float = 0.5,
            top: float = 0.2) -> Iterator[Figure]:
    """A figure with fixed margins in inches (a layout engine would draw every figure twice)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]  # a plain dict of valid rc keys
        fig = Figure(figsize=(width_in, height_in))
        fig.subplots_adjust(left=left / width_in, right=1 - right / width_in, bottom=bottom / height_in,
                            top=1 - top / height_in)
        yield fig


_GEOMETRY_ATTR = re.compile(r'(\s(?:d|transform|x|y|x1|x2|y1|y2|width|height|points|cx|cy|r)=")([^"]*)(")')
_LONG_DECIMAL = re.compile(r"-?\d+\.\d{2,}")
_ID_ATTR = re.compile(r'\sid="([^"]+)"')
_ID_REF = re.compile(r'(href="#|url\(#)([^")]+)')
_G_TAG = re.compile(r"<g>|<g\s[^>]*>|</g>")
# matplotlib's one stylesheet, moved to the page's CSS (inline SVG styles are not scoped)
_MPL_STYLE = re.compile(r"\s*<defs>\s*<style[^>]*>[^<]*</style>\s*</defs>")


def _round(match: re.Match[str]) -> str:
    text = f"{float(match.group(0)):.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _compact(attr: re.Match[str]) -> str:
    value = _LONG_DECIMAL.sub(_round, attr.group(2))
    return attr.group(1) + " ".join(value.split()) + attr.group(3)


def _flatten_groups(svg: str) -> str:
    """Drop ``<g>`` wrappers without attributes (they only grouped ids), keeping their content."""
    stack: list[bool] = []

    def repl(m: re.Match[str]) -> str:
        tag = m.group(0)
        if tag == "</g>":
            return "" if stack.pop() else tag
        bare = tag == "<g>"
        stack.append(bare)
        return "" if bare else tag

    return _G_TAG.sub(repl, svg)


#: When set (dots per inch), figures are drawn as PNG images instead of SVG: :func:`raster_figures`.
_RASTER_DPI: ContextVar[int | None] = ContextVar("spinetrack_report_raster_dpi", default=None)


def printing() -> bool:
    """Whether the page being rendered is the one to print (within :func:`raster_figures`)."""
    return _RASTER_DPI.get() is not None


@contextmanager
def raster_figures(dpi: int = 120) -> Iterator[None]:
    """Within this block the figure functions return an ``<img>`` holding a PNG (its alternative
    text: the figure's title and description) instead of inline SVG. For the PDF: WeasyPrint
    draws an inline SVG element by element (on the demo report, 13 figures cost more than the
    50 pages of text), a PNG in one step."""
    token = _RASTER_DPI.set(dpi)
    try:
        yield
    finally:
        _RASTER_DPI.reset(token)


def _img_tag(fig_id: str, title: str, desc: str, src: str) -> str:
    return (f'<img id="{fig_id}" class="figure-img" src="{src}" '
            f'alt="{html.escape(title)}. {html.escape(desc)}">\n')


def _to_png_img(fig: Figure, fig_id: str, title: str, desc: str, dpi: int) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return _img_tag(fig_id, title, desc, f"data:image/png;base64,{data}")


#: The URL scheme of a figure drawn later (:func:`deferred_figures`): ``spinetrack-figure:<n>``.
FIGURE_SCHEME = "spinetrack-figure"
_P = ParamSpec("_P")
#: A figure call put off by :func:`deferred_figures`: the figure function and its arguments.
FigureJob = tuple[Callable[..., str], tuple[Any, ...], dict[str, Any]]
_DEFERRED: ContextVar[list[FigureJob] | None] = ContextVar("spinetrack_report_deferred", default=None)


@contextmanager
def deferred_figures(jobs: list[FigureJob]) -> Iterator[list[FigureJob]]:
    """Within this block and :func:`raster_figures`, a figure function decorated with
    :func:`deferrable` draws nothing: it appends its call to ``jobs`` and returns the ``<img>``
    it would return, its ``src`` being ``spinetrack-figure:<index in jobs>``. The calls can then
    be drawn elsewhere, e.g. in other processes while the page's text is being laid out
    (:func:`spinetrack.reports.print_report.write_report`), each with :func:`png_of`."""
    token = _DEFERRED.set(jobs)
    try:
        yield jobs
    finally:
        _DEFERRED.reset(token)


def deferrable(func: Callable[_P, str]) -> Callable[_P, str]:
    """Mark a figure function (keyword arguments ``fig_id``, ``title`` and ``desc``) as one that
    :func:`deferred_figures` may put off."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> str:
        jobs = _DEFERRED.get()
        if jobs is None or _RASTER_DPI.get() is None:
            return func(*args, **kwargs)
        jobs.append((func, tuple(args), dict(kwargs)))
        return _img_tag(str(kwargs["fig_id"]), str(kwargs["title"]), str(kwargs["desc"]),
                        f"{FIGURE_SCHEME}:{len(jobs) - 1}")

    return wrapper


_DATA_PNG = re.compile(r'src="data:image/png;base64,([^"]+)"')


def png_of(job: FigureJob, dpi: int = 120) -> bytes:
    """The PNG image of a deferred figure call, drawn here at ``dpi``."""
    func, args, kwargs = job
    token = _DEFERRED.set(None)
    try:
        with raster_figures(dpi):
            img = func(*args, **kwargs)
    finally:
        _DEFERRED.reset(token)
    m = _DATA_PNG.search(img)
    if m is None:  # a figure function that returned no image (a message instead)
        raise ValueError(f"the figure {kwargs.get('fig_id')!r} was not drawn as an image")
    return base64.b64decode(m.group(1))


def _to_svg(fig: Figure, fig_id: str, title: str, desc: str) -> str:
    """Serialise ``fig`` and make it fit for inline use: no XML prolog, metadata or stylesheet,
    geometry rounded to 0.01 pt, only referenced ids kept (prefixed with a short hash of
    ``fig_id``), empty groups dropped, and an accessible name and description. Within
    :func:`raster_figures`, a PNG ``<img>`` instead."""
    dpi = _RASTER_DPI.get()
    if dpi is not None:
        return _to_png_img(fig, fig_id, title, desc, dpi)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = _MPL_STYLE.sub("", svg)
    svg = _GEOMETRY_ATTR.sub(_compact, svg)
    referenced = {m.group(2) for m in _ID_REF.finditer(svg)}
    prefix = "f" + hashlib.sha1(fig_id.encode("utf-8")).hexdigest()[:6]
    svg = _ID_ATTR.sub(lambda m: f' id="{prefix}{m.group(1)}"' if m.group(1) in referenced else "", svg)
    svg = _ID_REF.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)
    svg = _flatten_groups(svg)
    svg = re.sub(r">\s+<", "><", svg).strip()
    head_end = svg.index(">") + 1
    head = svg[:head_end].replace(
        "<svg ", f'<svg id="{fig_id}" class="figure-svg" role="img" '
                f'aria-labelledby="{fig_id}-title {fig_id}-desc" ', 1)
    a11y = (f'<title id="{fig_id}-title">{html.escape(title)}</title>'
            f'<desc id="{fig_id}-desc">{html.escape(desc)}</desc>')
    return head + a11y + svg[head_end:] + "\n"


def _style_axes(ax: Axes, *, grid_axis: Literal["both", "x", "y"] = "x") -> None:
    ax.grid(True, axis=grid_axis, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
