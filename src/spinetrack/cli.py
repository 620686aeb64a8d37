"""The ``spinetrack`` command line (Typer). Thin: parse, call one function, render."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from spinetrack import __version__
from spinetrack.config import Settings
from spinetrack.errors import SpinetrackError

app = typer.Typer(help="spinetrack: outcomes, evidence and decision support for lower back pain treatment.",
                  no_args_is_help=True, add_completion=False)
console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="Overrides SPINETRACK_DATABASE_URL.")]


def _settings(database_url: str | None) -> Settings:
    s = Settings()
    return s.model_copy(update={"database_url": database_url}) if database_url else s


def _fail(exc: SpinetrackError, as_json: bool) -> None:
    if as_json:
        payload: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
        if hasattr(exc, "field"):
            payload["field"] = exc.field
        if hasattr(exc, "allowed"):
            payload["allowed"] = exc.allowed
        typer.echo(json.dumps(payload))
    else:
        console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(code=2)


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


@app.command()
def init(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Create the database (or bring its schema up to date)."""
    from spinetrack.store.migrate import current_revision

    settings = _settings(database_url)
    engine = _engine(settings)
    rev = current_revision(engine)
    if as_json:
        typer.echo(json.dumps({"database_url": engine.url.render_as_string(hide_password=True), "schema_revision": rev}))
    else:
        console.print(f"database ready at {engine.url.render_as_string(hide_password=True)} (schema {rev})")
    engine.dispose()


@app.command()
def demo(
    patients: Annotated[int, typer.Option(help="Number of synthetic patients.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical data.")] = 7,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing if the database holds patients.")] = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fill the database with a reproducible synthetic cohort (planted, documented effects)."""
    from spinetrack.synth.load import load_demo

    settings = _settings(database_url)
    engine = _engine(settings)
    show = not as_json and sys.stderr.isatty()
    try:
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(TextColumn("synthetic cohort"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=console) as bar:
                task = bar.add_task("patients", total=patients)
                result = load_demo(engine, patients=patients, seed=seed, if_empty=if_empty,
                                   progress=lambda n: bar.advance(task, n))
        else:
            result = load_demo(engine, patients=patients, seed=seed, if_empty=if_empty)
    except SpinetrackError as exc:
        _fail(exc, as_json)
    finally:
        engine.dispose()
    out = {"patients": result.patients, "prom_responses": result.responses, "seed": result.seed, "skipped": result.skipped}
    if as_json:
        typer.echo(json.dumps(out))
    elif result.skipped:
        console.print("database already holds patients: demo cohort not loaded (--if-empty)")
    else:
        console.print(f"loaded {result.patients} synthetic patients ({result.responses} PROM responses), seed {seed}")


@app.command()
def status(
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    as_of: Annotated[str | None, typer.Option(help="Date for follow-up completeness (YYYY-MM-DD); default today.")] = None,
) -> None:
    """Counts of patients, episodes, procedures by approach, PROM responses, follow-up completeness."""
    from spinetrack.store.status import compute_status

    settings = _settings(database_url)
    engine = _engine(settings)
    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        from spinetrack.errors import ValidationError

        _fail(ValidationError(field="as_of", value=as_of, allowed="a date as YYYY-MM-DD"), as_json)
    s = compute_status(engine, as_of=day)
    engine.dispose()
    if as_json:
        typer.echo(json.dumps(s, indent=2, sort_keys=True))
        return
    from rich.table import Table

    t = Table(title=f"spinetrack {__version__} — {s['database']} (schema {s['schema_revision']})")
    t.add_column("what")
    t.add_column("count", justify="right")
    for key in ("sites", "patients", "episodes", "procedures", "complications", "readmissions", "reoperations",
                "prom_responses"):
        t.add_row(key.replace("_", " "), str(s[key]))
    for k, v in s["procedures_by_approach"].items():
        t.add_row(f"  procedures: {k}", str(v))
    out = Console()
    out.print(t)
    f = Table(title="follow-up completeness")
    for col in ("timepoint", "eligible", "completed", "completeness"):
        f.add_column(col, justify="right")
    for row in s["followup_completeness"]:
        c = row["completeness"]
        f.add_row(row["timepoint"], str(row["eligible"]), str(row["completed"]), "—" if c is None else f"{c:.1%}")
    out.print(f)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default SPINETRACK_HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Default SPINETRACK_PORT or 8000.")] = None,
    database_url: DbOpt = None,
) -> None:
    """Serve the web app (health page, REST API) with uvicorn."""
    import uvicorn

    from spinetrack.web.app import create_app

    settings = _settings(database_url)
    _engine(settings).dispose()
    host = host or settings.host
    port = port or settings.port
    console.print(f"spinetrack {__version__} serving on http://{host}:{port}/ (database {settings.database_url})")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:  # pragma: no cover
    app()
