"""``spinetrack serve``: the web app under uvicorn, in one process or (PostgreSQL) several."""

from __future__ import annotations

from typing import Annotated

import typer

from spinetrack import __version__
from spinetrack.cli.common import DbOpt, database, fail, settings_for
from spinetrack.cli.render import console
from spinetrack.errors import SpinetrackError

__all__ = ["serve"]


def serve(
    host: Annotated[str | None, typer.Option(help="Default SPINETRACK_HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Default SPINETRACK_PORT or 8000.")] = None,
    database_url: DbOpt = None,
    workers: Annotated[int, typer.Option(
        min=1, help="Server processes (PostgreSQL only: SQLite has one writer, so one process serves it).")] = 1,
) -> None:
    """Serve the web app (health page, REST API) with uvicorn; ``--workers N`` runs N processes
    on PostgreSQL, each with its own socket on the address (each reads its settings from the
    environment; nothing is shared in memory)."""
    import os

    import uvicorn
    from sqlalchemy.engine import make_url

    from spinetrack.web.app import create_app, uvicorn_options
    from spinetrack.web.workers import serve_workers

    settings = settings_for(database_url)
    if workers > 1 and make_url(settings.database_url).get_backend_name() == "sqlite":
        console.print(f"[red]error:[/red] --workers {workers} needs PostgreSQL: SQLite has one writer, so one "
                      "server process serves it (omit --workers, or set SPINETRACK_DATABASE_URL to PostgreSQL)",
                      highlight=False)
        raise typer.Exit(code=2)
    database(settings).dispose()
    host = host or settings.host
    port = port or settings.port
    try:
        web_app = create_app(settings)  # production refuses to start over demo accounts or data
    except SpinetrackError as exc:
        fail(exc, False)
    console.print(f"spinetrack {__version__} serving on http://{host}:{port}/ (database {settings.database_url})"
                  + (f", {workers} processes" if workers > 1 else ""))
    if workers == 1:
        uvicorn.run(web_app, host=host, port=port, log_level="info", **uvicorn_options(settings))
        return
    # Each worker process builds its own app (and engine) from the environment, and listens on its
    # own socket (spinetrack.web.workers: uvicorn's shared socket left one process with nearly all
    # the keep-alive connections).
    web_app.state.engine.dispose()
    os.environ["SPINETRACK_DATABASE_URL"] = settings.database_url
    try:
        status = serve_workers(host, port, workers)
    except OSError as exc:  # the address is taken, or not ours to listen on
        console.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror or exc} (is another server "
                      "using this port? choose another with --port)", highlight=False)
        raise typer.Exit(code=2) from None
    raise typer.Exit(code=status)
