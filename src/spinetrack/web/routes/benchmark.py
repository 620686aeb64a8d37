"""Registry benchmarking in the web app: each site's risk-adjusted outcomes against the registry
(funnel plots, CUSUM charts), and the annual registry report to download.

Who sees what (``analysis.benchmark.view_for``): clinic staff (clinician, coordinator) see their
own site named and every other site as "Site 1" … "Site k"; researchers see every site
pseudonymised; sites with fewer than 5 patients are shown without numbers. Admins see no
clinical data (403). The documents are aggregates made from a pseudonymised snapshot by
``spinetrack benchmark --save`` and ``spinetrack report --annual YEAR --save`` (kept in
``SPINETRACK_ANALYSES_DIR``); nothing here reads a patient record. Every view and download leaves
one audit row (``read`` ``benchmark`` or ``annual_report``).

Routes
------
``GET /benchmark``                       the page: funnel plots, flags, the clinic's CUSUM
``GET /api/v1/benchmark``                the same document as JSON (``?level=site|surgeon``)
``GET /benchmark/annual-report.html``    the newest annual report (``?year=``), self-contained HTML
``GET /benchmark/annual-report.pdf``     the same as a PDF
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from spinetrack.errors import NotFoundError
from spinetrack.reports.archive import StoredAnalysis, latest_analysis
from spinetrack.store import audit
from spinetrack.store.patient_frame import site_code
from spinetrack.store.signin import SessionUser
from spinetrack.web.deps import require_roles

__all__ = ["router"]

router = APIRouter()

BenchmarkUser = Annotated[SessionUser, Depends(require_roles("clinician", "coordinator", "researcher"))]
_DEFAULT_DIR = "spinetrack-analyses"


def _directory(request: Request) -> str:
    return str(getattr(request.app.state.settings, "analyses_dir", None) or _DEFAULT_DIR)


def _audit(request: Request, user: SessionUser, entity: str, stored: StoredAnalysis | None, view: str) -> None:
    with request.app.state.store.transaction() as s:
        audit.append(s, actor=user.actor.name, actor_role=user.role, action="read", entity=entity,
                     entity_id=stored.id if stored is not None else "none", detail={"view": view})


def _own_site(request: Request, user: SessionUser) -> str | None:
    """The clinic's own site code; None for a researcher (every site pseudonymised)."""
    if user.role == "researcher":
        return None
    return site_code(request.app.state.store, user.site_id) or "?"


def _view(request: Request, user: SessionUser, level: str, view: str) -> tuple[StoredAnalysis | None, dict[str, Any]]:
    from spinetrack.analysis.benchmark import view_for  # the analysis package: loaded on first use, not at start

    stored = latest_analysis(_directory(request), kind="benchmark", tag=level)
    if stored is None and view != "page":  # a 404: nothing was read
        return None, {}
    _audit(request, user, "benchmark", stored, view)
    if stored is None:
        return None, {}
    return stored, view_for(stored.doc, own_site=_own_site(request, user))


@router.get("/benchmark", include_in_schema=False)
def benchmark_page(request: Request, user: BenchmarkUser,
                   level: Annotated[str, Query(pattern="^(site|surgeon)$")] = "site") -> Response:
    """The newest saved benchmark as this user may see it."""
    from spinetrack.reports.benchmark_plots import cusum_svg, funnel_svg

    stored, doc = _view(request, user, level, "page")
    context: dict[str, Any] = {"user": user, "stored": stored, "directory": _directory(request), "level": level,
                               "doc": doc, "years": _annual_years(request)}
    if stored is not None:
        own = next((u["label"] for o in doc["outcomes"] for u in o["units"] if u["own"]), None)
        context["funnels"] = [(o, funnel_svg(o, highlight=own)) for o in doc["outcomes"]]
        c = doc.get("cusum") or {}
        charts = [u for u in c.get("units", []) if (u["own"] if user.role != "researcher" else True)
                  and not u.get("suppressed")]
        context["cusums"] = [(u, cusum_svg(u, h_worse=c["h_worse"], h_better=c["h_better"])) for u in charts]
        context["cusum"] = c
        context["own"] = own
    response: Response = request.app.state.templates.TemplateResponse(request, "benchmark/index.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/api/v1/benchmark", tags=["benchmarking"])
def benchmark_api(request: Request, user: BenchmarkUser,
                  level: Annotated[str, Query(pattern="^(site|surgeon)$")] = "site") -> JSONResponse:
    """The newest saved registry benchmark (``spinetrack benchmark --save``) as this user may see
    it: the clinic's own site named, every other site pseudonymised; 404 when none is saved."""
    stored, doc = _view(request, user, level, "api")
    if stored is None:
        raise NotFoundError(entity="benchmark", key=level)
    return JSONResponse({"id": stored.id, "saved_at": stored.saved_at.isoformat(), **doc},
                        headers={"Cache-Control": "no-store"})


def _annual_years(request: Request) -> list[int]:
    """The years with a saved annual-report document, newest first."""
    from pathlib import Path

    d = Path(_directory(request))
    years = set()
    for p in d.glob("annual-*.json") if d.is_dir() else ():
        tail = p.stem.rsplit("-", 1)[-1]
        if tail.isdigit():
            years.add(int(tail))
    return sorted(years, reverse=True)


def _annual(request: Request, user: SessionUser, year: int, fmt: str, media_type: str) -> Response:
    from spinetrack.analysis.annual import annual_view
    from spinetrack.reports.annual import render_annual_html, render_annual_pdf

    stored = latest_analysis(_directory(request), kind="annual", tag=str(year))
    if stored is None:
        raise NotFoundError(entity="annual report", key=year)
    _audit(request, user, "annual_report", stored, f"annual-report.{fmt}")
    own = _own_site(request, user)
    # a clinic: its own site named, the others numbered; a researcher: every site numbered
    doc = annual_view(stored.doc, own_site=own, pseudonymise_all=own is None)
    if fmt == "html":
        data = render_annual_html(doc, site=own).encode("utf-8")
    else:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="spinetrack-annual-") as tmp:
            path = Path(tmp) / "annual.pdf"
            render_annual_pdf(doc, path, site=own)
            data = path.read_bytes()
    name = f"annual-report-{year}" + (f"-{own}" if own else "")
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "no-store"})


@router.get("/benchmark/annual-report.html", include_in_schema=False)
def annual_html(request: Request, user: BenchmarkUser, year: Annotated[int, Query(ge=1900, le=2100)]) -> Response:
    """The newest annual report of ``year`` as one self-contained HTML file."""
    return _annual(request, user, year, "html", "text/html; charset=utf-8")


@router.get("/benchmark/annual-report.pdf", include_in_schema=False)
def annual_pdf(request: Request, user: BenchmarkUser, year: Annotated[int, Query(ge=1900, le=2100)]) -> Response:
    """The newest annual report of ``year`` as a PDF."""
    return _annual(request, user, year, "pdf", "application/pdf")
