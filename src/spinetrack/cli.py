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
    logins: Annotated[bool, typer.Option("--logins/--no-logins",
                                         help="Create the demo logins and synthetic patient names.")] = True,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fill the database with a reproducible synthetic cohort (planted, documented effects)."""
    from spinetrack.synth.demo_access import DEMO_PASSWORD, seed_demo_access
    from spinetrack.synth.load import load_demo

    settings = _settings(database_url)
    engine = _engine(settings)
    show = not as_json and sys.stderr.isatty()
    try:
        if show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            with Progress(TextColumn("synthetic cohort"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=console) as bar:
                task = bar.add_task("patients", total=patients)
                result = load_demo(engine, patients=patients, seed=seed, if_empty=if_empty,
                                   progress=lambda n: bar.advance(task, n))
        else:
            result = load_demo(engine, patients=patients, seed=seed, if_empty=if_empty)
        accounts = seed_demo_access(engine, env=settings.env) if logins else []
    except SpinetrackError as exc:
        _fail(exc, as_json)
    finally:
        engine.dispose()
    out: dict[str, Any] = {"patients": result.patients, "prom_responses": result.responses, "seed": result.seed,
                           "skipped": result.skipped}
    if accounts:
        out["logins"] = {"password": DEMO_PASSWORD, "users": accounts}
    if as_json:
        typer.echo(json.dumps(out))
        return
    if result.skipped:
        console.print("database already holds patients: demo cohort not loaded (--if-empty)")
    else:
        console.print(f"loaded {result.patients} synthetic patients ({result.responses} PROM responses), seed {seed}")
    if accounts:
        from rich.table import Table

        err = Console(stderr=True, width=110)
        err.print(f"[bold]Demo logins[/bold] — password for all: [bold]{DEMO_PASSWORD}[/bold] "
                  "(demo only; refused when SPINETRACK_ENV=production)", highlight=False)
        t = Table()
        for col in ("user name", "role", "site"):
            t.add_column(col)
        for a in accounts:
            t.add_row(str(a["username"]), str(a["role"]), str(a["site"] or "—"))
        err.print(t)


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


def _fail_stderr(exc: SpinetrackError, as_json: bool) -> None:
    """Report bad input on stderr (JSON when asked) and exit with status 2."""
    if as_json:
        payload: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
        for attr in ("field", "allowed"):
            if hasattr(exc, attr):
                payload[attr] = getattr(exc, attr)
        sys.stderr.write(json.dumps(payload) + "\n")
    else:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(code=2)


@app.command()
def score(
    instrument: Annotated[str, typer.Argument(help="Instrument code, e.g. odi, eq5d5l, comi_back.")],
    answers: Annotated[str | None, typer.Option("--answers", help="JSON object of item code → value.")] = None,
    value_set: Annotated[str | None, typer.Option("--value-set", help="EQ-5D-5L value set, e.g. England.")] = None,
    questionnaire: Annotated[bool, typer.Option("--questionnaire", help="Print the FHIR R4 Questionnaire.")] = False,
    wording: Annotated[str | None, typer.Option("--wording", help="Licensed wording pack (JSON file).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score one response with an instrument, or print the instrument's FHIR Questionnaire."""
    from spinetrack import instruments
    from spinetrack.errors import ValidationError

    try:
        inst = instruments.get(instrument)
        if questionnaire:
            from spinetrack.instruments.wording import load_wording_pack
            from spinetrack.interop.questionnaire import to_questionnaire

            pack = load_wording_pack(wording or Settings().wording_pack) if (wording or Settings().wording_pack) \
                else None
            typer.echo(json.dumps(to_questionnaire(inst, pack.for_instrument(instrument) if pack else None),
                                  indent=2, ensure_ascii=False))
            return
        if answers is None:
            raise ValidationError(field="answers", value=None, allowed="a JSON object of item code → value",
                                  reason="--answers is required unless --questionnaire")
        try:
            data = json.loads(answers)
        except json.JSONDecodeError as exc:
            raise ValidationError(field="answers", value=answers, allowed="a JSON object of item code → value",
                                  reason=f"not JSON: {exc.msg}") from None
        options: dict[str, Any] = {}
        if value_set is not None:
            if instrument != "eq5d5l":
                raise ValidationError(field="value_set", value=value_set, allowed="only with eq5d5l")
            options["value_set"] = value_set
        result = inst.score(data, **options)
    except SpinetrackError as exc:
        _fail_stderr(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    from rich.table import Table

    out = Console()
    t = Table(title=f"{inst.definition.title} ({inst.definition.version})", show_header=False)
    for key, val in result.as_dict().items():
        if key in ("instrument", "version") or val in (None, {}):
            continue
        t.add_row(key, json.dumps(val) if isinstance(val, dict) else str(val))
    out.print(t)


@app.command()
def snapshot(
    out: Annotated[str, typer.Option("--out", help="Directory to write (new or empty).")],
    rekey: Annotated[str | None, typer.Option(
        "--rekey", envvar="SPINETRACK_SNAPSHOT_SECRET", show_envvar=True,
        help="Secret (16+ characters) for HMAC-rekeyed patient and episode keys; the export then cannot be "
             "linked back to the store without it.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty directory.")] = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export pseudonymised analysis tables (Parquet) and a manifest: no names, contacts, free text or dates."""
    from spinetrack.snapshot import TABLES, export_snapshot

    settings = _settings(database_url)
    engine = _engine(settings)
    show = not as_json and sys.stderr.isatty()
    try:
        if show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            with Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), console=console) as bar:
                tasks = {t: bar.add_task(t, total=None) for t in TABLES}

                def progress(table: str, done: int, total: int) -> None:
                    bar.update(tasks[table], completed=done, total=total)

                result = export_snapshot(engine, out, rekey_secret=rekey, overwrite=overwrite, progress=progress)
        else:
            result = export_snapshot(engine, out, rekey_secret=rekey, overwrite=overwrite)
    except SpinetrackError as exc:
        _fail(exc, as_json)
        return
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.manifest, indent=2))
        return
    counts = ", ".join(f"{t} {n:,}" for t, n in result.row_counts.items())
    console.print(f"snapshot written to {result.path} ({'rekeyed' if result.manifest['rekeyed'] else 'store keys'}): "
                  f"{counts}", highlight=False)


EngineOpt = Annotated[str | None, typer.Option("--engine", help="duckdb (default) or spark; overrides SPINETRACK_ENGINE.")]
SnapOpt = Annotated[str | None, typer.Option(
    "--snapshot", help="Snapshot directory (spinetrack snapshot). Default: export a fresh, rekeyed snapshot of the "
                       "database to a temporary directory.")]
EstimandOpt = Annotated[str, typer.Option("--estimand", help="ATO (overlap weights, default) or ATE (stabilized IPTW).")]
TrimOpt = Annotated[float | None, typer.Option("--trim", help="With ATE: keep propensity scores in [a, 1-a] (e.g. 0.1).")]
SensOpt = Annotated[bool, typer.Option("--sensitivity/--no-sensitivity",
                                       help="Also run AIPW and inverse-probability-of-censoring sensitivity analyses.")]
OnlyOpt = Annotated[list[str] | None, typer.Option("--comparison", help="Only this comparison (repeatable).")]
ClaimOpt = Annotated[list[str] | None, typer.Option("--claim", help="Only this claim (repeatable).")]


def _run_scorecard(settings: Settings, snapshot_dir: str | None, engine_name: str | None, estimand: str,
                   trim: float | None, sensitivity: bool, comparisons: list[str] | None, claims: list[str] | None,
                   show: bool) -> dict[str, Any]:
    """Snapshot (if needed) → scorecard document, with Rich progress on stderr when ``show``."""
    import secrets
    import tempfile
    from contextlib import ExitStack

    from spinetrack.analysis.claims import CLAIMS
    from spinetrack.analysis.design import COMPARISONS
    from spinetrack.analysis.scorecard import analyze_snapshot, validate_options

    name = engine_name or settings.engine
    validate_options(engine=name, estimand=estimand, trim=trim, comparisons=comparisons, claims=claims)
    options: dict[str, Any] = {}
    if name == "spark" and settings.spark_master:
        options["master"] = settings.spark_master
    n_steps = (len(comparisons or COMPARISONS)) * (len(claims or CLAIMS) + 1)
    with ExitStack() as stack:
        if snapshot_dir is None:
            from spinetrack.snapshot import export_snapshot

            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="spinetrack-snapshot-"))
            db = _engine(settings)
            try:
                export_snapshot(db, f"{tmp}/snap", rekey_secret=secrets.token_hex(16))
            finally:
                db.dispose()
            snapshot_dir = f"{tmp}/snap"
        if not show:
            return analyze_snapshot(snapshot_dir, engine=name, engine_options=options, estimand=estimand, trim=trim,
                                    sensitivity=sensitivity, comparisons=comparisons, claims=claims)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task(f"analyze on {name}", total=n_steps)
            return analyze_snapshot(snapshot_dir, engine=name, engine_options=options, estimand=estimand, trim=trim,
                                    sensitivity=sensitivity, comparisons=comparisons, claims=claims,
                                    progress=lambda msg: bar.update(task, advance=1, description=msg[:44]))


def _fmt_estimate(r: dict[str, Any]) -> str:
    if r["estimate"] is None:
        return "—"
    scale = 100.0 if r["kind"] == "binary" else 1.0
    unit = " pp" if r["kind"] == "binary" else ""
    return f"{r['estimate'] * scale:+.2f}{unit} ({r['ci_low'] * scale:+.2f}, {r['ci_high'] * scale:+.2f})"


@app.command()
def analyze(
    snapshot_dir: SnapOpt = None,
    engine_name: EngineOpt = None,
    estimand: EstimandOpt = "ATO",
    trim: TrimOpt = None,
    sensitivity: SensOpt = True,
    comparison: OnlyOpt = None,
    claim: ClaimOpt = None,
    out: Annotated[str | None, typer.Option("--out", help="Also write the JSON document to this file.")] = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The claims scorecard: every MISS claim, risk-adjusted, for every comparison (MIS vs open, surgery vs conservative)."""
    settings = _settings(database_url)
    try:
        doc = _run_scorecard(settings, snapshot_dir, engine_name, estimand, trim, sensitivity, comparison, claim,
                             show=sys.stderr.isatty())
    except SpinetrackError as exc:
        _fail(exc, as_json)
        return
    text = json.dumps(doc, allow_nan=False)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    if as_json:
        typer.echo(text)
        return
    from rich.table import Table

    table = Table(title=f"claims scorecard ({doc['engine']}, {doc['estimand']}, {doc['seconds']:.1f} s)")
    for col in ("comparison", "claim", "MIS − comparator (95% CI)", "verdict", "naive"):
        table.add_column(col)
    for r in doc["results"]:
        if r["status"] == "not applicable":
            continue
        verdict = r["verdict"] if r["status"] == "estimated" else f"withheld ({', '.join(r['withheld_because'])})"
        scale = 100.0 if r["kind"] == "binary" else 1.0
        naive = "—" if r["naive_difference"] is None else f"{r['naive_difference'] * scale:+.2f}"
        table.add_row(r["comparison"], r["claim"], _fmt_estimate(r), verdict, naive)
    Console().print(table)


@app.command()
def report(
    out: Annotated[str, typer.Option("--out", help="HTML file to write (self-contained, opens offline).")],
    pdf: Annotated[str | None, typer.Option("--pdf", help="Also write a PDF (WeasyPrint).")] = None,
    results: Annotated[str | None, typer.Option(
        "--results", help="Render this JSON document (spinetrack analyze --out) instead of analysing now.")] = None,
    snapshot_dir: SnapOpt = None,
    engine_name: EngineOpt = None,
    estimand: EstimandOpt = "ATO",
    trim: TrimOpt = None,
    sensitivity: SensOpt = True,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the scorecard report: scorecard, one section per claim with its plots, cohort flow, balance, methods."""
    from pathlib import Path

    settings = _settings(database_url)
    try:
        if results:
            try:
                doc = json.loads(Path(results).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                from spinetrack.errors import ValidationError

                raise ValidationError(field="results", value=results, allowed="a JSON file written by "
                                      "spinetrack analyze --out", reason=str(exc)) from exc
        else:
            doc = _run_scorecard(settings, snapshot_dir, engine_name, estimand, trim, sensitivity, None, None,
                                 show=not as_json and sys.stderr.isatty())
        from spinetrack.reports import render_html, write_pdf

        html = render_html(doc)
        Path(out).write_text(html, encoding="utf-8")
        if pdf:
            write_pdf(html, Path(pdf))
    except SpinetrackError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps({"html": out, "pdf": pdf, "claims": len(doc["results"])}))
    else:
        console.print(f"report written to {out}" + (f" and {pdf}" if pdf else ""), highlight=False)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":  # python -m spinetrack.cli
    main()
