"""``create_app(settings)``: the FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from spinetrack import __version__
from spinetrack.config import Settings
from spinetrack.store.session import make_engine
from spinetrack.store.status import compute_status

__all__ = ["create_app"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>spinetrack</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
td{{padding:.2rem .8rem .2rem 0}}</style></head>
<body><h1>spinetrack</h1>
<p>Outcomes, evidence and decision support for lower back pain treatment. Version {version}.</p>
<p>Status: <strong>running</strong> &middot; database: {database} &middot; schema {revision}</p>
<table><tr><td>Patients</td><td>{patients}</td></tr><tr><td>Episodes</td><td>{episodes}</td></tr>
<tr><td>Procedures (MIS / open)</td><td>{mis} / {open}</td></tr><tr><td>PROM responses</td><td>{responses}</td></tr></table>
<p><a href="/api/v1/status">/api/v1/status</a> (JSON)</p></body></html>"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database engine is created here, from ``settings``, never at import."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    app = FastAPI(title="spinetrack", version=__version__)
    app.state.engine = engine

    @app.get("/api/v1/status")
    def status() -> dict[str, Any]:
        """Aggregate counts only (no patient-level data)."""
        return {"version": __version__, **compute_status(engine)}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        s = compute_status(engine)
        return _PAGE.format(
            version=__version__, database=s["database"], revision=s["schema_revision"], patients=s["patients"],
            episodes=s["episodes"], mis=s["procedures_by_approach"].get("mis", 0),
            open=s["procedures_by_approach"].get("open", 0), responses=s["prom_responses"],
        )

    return app
