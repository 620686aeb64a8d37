"""The researcher's view of the claims scorecard: the newest saved analysis as a summary table,
and its report to download.

Researchers only (the README's role matrix: pseudonymised aggregates over all sites are theirs;
clinic staff see their own site's aggregates on the clinic overview, admins see no clinical
data): every other role gets 403, no session the sign-in page. The scorecard is an aggregate
document made from a pseudonymised snapshot; nothing here reads a patient record. Each view
and each download leaves one audit row (``read`` ``scorecard`` with the analysis id).

The analysis is the newest document saved by ``spinetrack analyze --save`` in the analyses
directory (``SPINETRACK_ANALYSES_DIR``); when none is saved, the page says how to make one.
The report is rendered once per analysis and format and kept (:mod:`spinetrack.reports.archive`);
the routes are plain functions, so FastAPI runs them in its thread pool, never on the event loop.

Routes
------
``GET /research``              the summary: every claim × comparison, verdict, estimate, interval
``GET /research/report.pdf``   the full report (summary page first), A4 PDF, as a download
``GET /research/report.html``  the same report as one self-contained HTML file, as a download
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from spinetrack.reports.archive import StoredAnalysis, latest_analysis, rendered_report
from spinetrack.reports.methods import synthetic_note
from spinetrack.reports.summary import ABBREVIATIONS, build_summary, counts_sentence
from spinetrack.store import audit
from spinetrack.store.access import SessionUser
from spinetrack.web.deps import Researcher

__all__ = ["router"]

router = APIRouter()

_DEFAULT_DIR = "spinetrack-analyses"


def _latest(request: Request) -> tuple[StoredAnalysis | None, str]:
    directory = str(getattr(request.app.state.settings, "analyses_dir", None) or _DEFAULT_DIR)
    return latest_analysis(directory), directory


def _audit(request: Request, user: SessionUser, stored: StoredAnalysis | None, view: str) -> None:
    with request.app.state.store.transaction() as s:
        audit.append(s, actor=user.actor.name, actor_role=user.role, action="read", entity="scorecard",
                     entity_id=stored.id if stored is not None else "none", detail={"view": view})


@router.get("/research", include_in_schema=False)
def research_page(request: Request, user: Researcher) -> Response:
    """The newest scorecard as a summary table, with its report to download."""
    stored, directory = _latest(request)
    _audit(request, user, stored, "page")
    context: dict[str, Any] = {"user": user, "stored": stored, "directory": directory,
                               "abbreviations": ABBREVIATIONS}
    if stored is not None:
        summary = build_summary(stored.doc)
        snap = stored.doc.get("snapshot") or {}
        context.update(summary=summary, counts=counts_sentence(summary), synthetic=bool(synthetic_note(snap)),
                       patients=(snap.get("row_counts") or {}).get("patients"),
                       snapshot_created=str(snap.get("created_at") or "")[:16].replace("T", " "),
                       estimand=stored.doc.get("estimand"), ci=round(100 * float(stored.doc.get("ci_level") or 0.95)))
    response: Response = request.app.state.templates.TemplateResponse(request, "research/index.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


def _download(request: Request, user: SessionUser, fmt: str, media_type: str) -> Response:
    stored, _directory = _latest(request)
    if stored is None:
        _audit(request, user, None, f"report.{fmt}")
        response: Response = request.app.state.templates.TemplateResponse(
            request, "research/index.html", {"user": user, "stored": None, "directory": _directory,
                                             "abbreviations": ABBREVIATIONS}, status_code=404)
        return response
    data = rendered_report(stored, fmt)
    _audit(request, user, stored, f"report.{fmt}")
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{stored.id}.{fmt}"', "Cache-Control": "no-store"})


@router.get("/research/report.pdf", include_in_schema=False)
def report_pdf(request: Request, user: Researcher) -> Response:
    """The newest scorecard's report as a PDF (rendered once per analysis, then kept)."""
    return _download(request, user, "pdf", "application/pdf")


@router.get("/research/report.html", include_in_schema=False)
def report_html(request: Request, user: Researcher) -> Response:
    """The newest scorecard's report as one self-contained HTML file."""
    return _download(request, user, "html", "text/html; charset=utf-8")
