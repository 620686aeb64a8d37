"""Saved scorecard documents and their rendered reports.

``spinetrack analyze --save`` keeps each scorecard document (``scorecard_as_dict``) as one JSON
file in the analyses directory (``SPINETRACK_ANALYSES_DIR``, default ``spinetrack-analyses``),
named ``scorecard-<UTC time to the microsecond>-<settings hash>.json``; the file's name without ``.json`` is the
analysis id. The research page shows the newest one (:func:`latest_analysis`) and offers its
report; :func:`rendered_report` renders the report of one analysis once and keeps the last few
(HTML and PDF) in memory, so that a second download costs nothing.

The documents hold aggregates only (estimates, intervals, counts per arm): the analysis runs on a
pseudonymised snapshot, never on the operational store.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinetrack.errors import NotFoundError, ValidationError

__all__ = ["KINDS", "StoredAnalysis", "latest_analysis", "rendered_report", "save_analysis"]

#: What the analyses directory keeps: scorecards (``analyze --save``), registry benchmarks
#: (``benchmark --save``) and annual-report documents (``report --annual YEAR --save``).
KINDS = ("scorecard", "benchmark", "annual")
_NAMES = {kind: re.compile(rf"^{kind}-\d{{8}}T\d{{12}}Z-[0-9a-z]{{1,16}}$") for kind in KINDS}


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValidationError(field="kind", value=kind, allowed=KINDS)
    return kind


@dataclass(frozen=True)
class StoredAnalysis:
    """One saved scorecard document."""

    id: str
    path: Path
    doc: dict[str, Any]
    saved_at: dt.datetime


def save_analysis(doc: dict[str, Any], directory: str | Path, *, now: dt.datetime | None = None,
                  kind: str = "scorecard", tag: str | None = None) -> StoredAnalysis:
    """Write ``doc`` into ``directory`` (created if missing) as a new analysis of ``kind``
    (:data:`KINDS`); atomic: a reader never sees half a file. ``tag`` ends the name (default: the
    scorecard's settings hash; an annual report's year)."""
    _kind(kind)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    tag = re.sub(r"[^0-9a-z]", "", str(tag or doc.get("settings_hash") or "adhoc").lower())[:16] or "adhoc"
    stem = f"{kind}-{when:%Y%m%dT%H%M%S%f}Z-{tag}"
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{kind}-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, allow_nan=False)
    path = d / f"{stem}.json"
    os.replace(tmp, path)
    return StoredAnalysis(stem, path, doc, when)


_DOCS: dict[Path, tuple[float, StoredAnalysis]] = {}
_LOCK = threading.Lock()


def latest_analysis(directory: str | Path, *, kind: str = "scorecard", tag: str | None = None
                    ) -> StoredAnalysis | None:
    """The newest saved analysis of ``kind`` in ``directory`` (by the time in its name; with
    ``tag``, among those whose name ends with it), or ``None`` when there is none. Each file is
    parsed once (cached by path and modification time)."""
    name = _NAMES[_kind(kind)]
    d = Path(directory)
    if not d.is_dir():
        return None
    names = sorted(p for p in d.glob(f"{kind}-*.json")
                   if name.match(p.stem) and (tag is None or p.stem.endswith(f"-{tag}")))
    if not names:
        return None
    path = names[-1]
    mtime = path.stat().st_mtime
    with _LOCK:
        hit = _DOCS.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(field="analysis", value=path.name, allowed="a JSON file written by spinetrack analyze",
                              reason=str(exc)) from exc
    when = dt.datetime.strptime(path.stem.split("-")[1], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.UTC)
    stored = StoredAnalysis(path.stem, path, doc, when)
    with _LOCK:
        for old in [p for p in _DOCS if p.name.startswith(f"{kind}-")]:  # only the newest of a kind is asked for
            del _DOCS[old]
        _DOCS[path] = (mtime, stored)
    return stored


_RENDERED: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_RENDER_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_KEEP = 4


def rendered_report(stored: StoredAnalysis, fmt: str) -> bytes:
    """The report of ``stored`` as ``"html"`` or ``"pdf"`` bytes, rendered once per analysis and
    format (one render at a time for each; concurrent callers wait for it and share the result)."""
    if fmt not in ("html", "pdf"):
        raise ValidationError(field="format", value=fmt, allowed=["html", "pdf"])
    key = (stored.id, fmt)
    with _LOCK:
        if key in _RENDERED:
            _RENDERED.move_to_end(key)
            return _RENDERED[key]
        lock = _RENDER_LOCKS.setdefault(key, threading.Lock())
    with lock:
        with _LOCK:
            if key in _RENDERED:
                return _RENDERED[key]
        from spinetrack.reports.page import render_html

        if fmt == "html":
            data = render_html(stored.doc).encode("utf-8")
        else:
            from spinetrack.reports.print_report import printed_report

            data = printed_report(stored.doc)[1]  # in a threaded server the figures are drawn in-process
        with _LOCK:
            _RENDERED[key] = data
            while len(_RENDERED) > _KEEP:
                _RENDERED.popitem(last=False)
            _RENDER_LOCKS.pop(key, None)
        return data


def require_analysis(directory: str | Path) -> StoredAnalysis:
    """:func:`latest_analysis`, or :class:`NotFoundError` when none is saved."""
    stored = latest_analysis(directory)
    if stored is None:
        raise NotFoundError(entity="analysis", key="latest")
    return stored
