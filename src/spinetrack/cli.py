"""The ``spinetrack`` command line (Typer). Thin: parse, call one function, render."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
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
    truth_out: Annotated[Path | None, typer.Option(
        "--truth-out", help="Write the true effect of every comparison and claim (overlap population 'ato' and "
                            "whole population 'ate', from each patient's outcomes under both options) as JSON.")
    ] = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fill the database with a reproducible synthetic cohort (planted, documented effects)."""
    from spinetrack.synth.demo_access import DEMO_PASSWORD, seed_demo_access
    from spinetrack.synth.load import load_demo

    settings = _settings(database_url)
    if settings.env == "production":  # before anything is written: production holds no demo content
        from spinetrack.errors import ConfigurationError

        _fail(ConfigurationError("spinetrack demo is refused when SPINETRACK_ENV=production (demo accounts and "
                                  "synthetic patients never go into a production database)"), as_json)
    engine = _engine(settings)
    show = not as_json and sys.stderr.isatty()
    truth = None
    if truth_out is not None:
        from spinetrack.synth.truth import Truth

        truth = Truth()
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
                                   progress=lambda n: bar.advance(task, n), truth=truth)
        else:
            result = load_demo(engine, patients=patients, seed=seed, if_empty=if_empty, truth=truth)
        if truth is not None and not result.skipped:
            truth.write(truth_out)
        accounts = seed_demo_access(engine, env=settings.env) if logins else []
    except SpinetrackError as exc:
        _fail(exc, as_json)
    finally:
        engine.dispose()
    out: dict[str, Any] = {"patients": result.patients, "prom_responses": result.responses, "seed": result.seed,
                           "skipped": result.skipped}
    if accounts:
        out["logins"] = {"password": DEMO_PASSWORD, "users": accounts}
    if truth_out is not None and not result.skipped:
        out["truth_out"] = str(truth_out)
    if as_json:
        typer.echo(json.dumps(out))
        return
    if result.skipped:
        console.print("database already holds patients: demo cohort not loaded (--if-empty)"
                      + (" and no truth written" if truth_out is not None else ""))
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

    settings = _settings(database_url)
    if workers > 1 and make_url(settings.database_url).get_backend_name() == "sqlite":
        console.print(f"[red]error:[/red] --workers {workers} needs PostgreSQL: SQLite has one writer, so one "
                      "server process serves it (omit --workers, or set SPINETRACK_DATABASE_URL to PostgreSQL)",
                      highlight=False)
        raise typer.Exit(code=2)
    _engine(settings).dispose()
    host = host or settings.host
    port = port or settings.port
    try:
        web_app = create_app(settings)  # production refuses to start over demo accounts or data
    except SpinetrackError as exc:
        _fail(exc, False)
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


def _snapshot_or_export(stack: Any, settings: Settings, snapshot_dir: str | None) -> str:
    """``snapshot_dir``, or a fresh rekeyed snapshot of the database in a temporary directory
    that ``stack`` removes on exit."""
    import secrets
    import tempfile

    if snapshot_dir is not None:
        return snapshot_dir
    from spinetrack.snapshot import export_snapshot

    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="spinetrack-snapshot-"))
    db = _engine(settings)
    try:
        export_snapshot(db, f"{tmp}/snap", rekey_secret=secrets.token_hex(16))
    finally:
        db.dispose()
    return f"{tmp}/snap"


def _run_scorecard(settings: Settings, snapshot_dir: str | None, engine_name: str | None, estimand: str,
                   trim: float | None, sensitivity: bool, comparisons: list[str] | None, claims: list[str] | None,
                   show: bool) -> dict[str, Any]:
    """Snapshot (if needed) → scorecard document, with Rich progress on stderr when ``show``."""
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
        snapshot_dir = _snapshot_or_export(stack, settings, snapshot_dir)
        snap = snapshot_dir
        return _with_steps(show, f"analyze on {name}", n_steps, lambda progress: analyze_snapshot(
            snap, engine=name, engine_options=options, estimand=estimand, trim=trim, sensitivity=sensitivity,
            comparisons=comparisons, claims=claims, progress=progress))


def _with_steps(show: bool, title: str, total: int, run: Any, width: int = 44) -> Any:
    """``run(progress)`` where ``progress(message)`` advances a Rich bar of ``total`` steps on
    stderr when ``show`` (otherwise ``progress`` is None)."""
    if not show:
        return run(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(f"{{task.description:<{width}}}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(title, total=total)
        return run(lambda msg: bar.update(task, advance=1, description=msg[:width]))


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


def _fmt_pooled(r: dict[str, Any], est: float, lo: float, hi: float) -> str:
    """An estimate and interval as displayed (ratios exponentiated), for the pool table."""
    import math

    f = math.exp if r["ratio"] is not None else (lambda x: x)
    d = 3 if r["measure"] == "RD" else 2
    return f"{f(est):.{d}f} [{f(lo):.{d}f}, {f(hi):.{d}f}]"


@app.command()
def pool(
    file: Annotated[str, typer.Argument(help="CSV, one study per row: study,n1,mean1,sd1,n2,mean2,sd2 or "
                                             "study,events1,n1,events2,n2 or study,yi,vi (yi: log ratio for RR/OR); "
                                             "optional year and subgroup columns. Arm 1 is the experimental arm.")],
    measure: Annotated[str, typer.Option("--measure", help="MD, SMD, RR, OR or RD.")],
    method: Annotated[str, typer.Option("--method", help="FE, MH (binary data), DL, REML or PM.")] = "REML",
    hksj: Annotated[bool, typer.Option("--hksj", help="Hartung-Knapp-Sidik-Jonkman interval (random effects).")] = False,
    subgroup: Annotated[str | None, typer.Option("--subgroup", help="Column with the subgroup of each study.")] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Write the forest plot (.svg, or .png).")] = None,
    funnel: Annotated[str | None, typer.Option("--funnel", help="Write the funnel plot (.svg, or .png).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Drop malformed rows (listed) instead of "
                                                                      "refusing the file.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Meta-analysis of the studies in a CSV file: pooled estimate, heterogeneity, subgroups, leave-one-out, Egger."""
    from pathlib import Path

    from spinetrack.interop.study_csv import StudyFileError, pool_study_file

    try:
        report = pool_study_file(file, measure=measure, method=method, hksj=hksj, subgroup=subgroup,
                                 skip_invalid=skip_invalid)
    except StudyFileError as exc:
        if as_json:
            typer.echo(json.dumps(exc.as_dict()))
        else:
            console.print(f"[red]error:[/red] {exc.path}: {len(exc.problems)} problem(s); nothing pooled "
                          "(--skip-invalid drops bad rows)", highlight=False)
            for p in exc.problems:
                console.print(f"  {p}", highlight=False, markup=False)
        raise typer.Exit(code=2) from None
    except SpinetrackError as exc:
        _fail(exc, as_json)
        return
    doc = report.as_dict()
    plots: dict[str, str] = {}
    if plot or funnel:
        from spinetrack.reports.meta_plots import forest_plot, funnel_plot

        for path, draw, key in ((plot, forest_plot, "forest"), (funnel, funnel_plot, "funnel")):
            if not path:
                continue
            if path.lower().endswith(".png"):
                draw(report.pooled, png_path=path)
            else:
                Path(path).write_text(draw(report.pooled), encoding="utf-8")
            plots[key] = path
    doc["plots"] = plots
    if as_json:
        typer.echo(json.dumps(doc, allow_nan=False))
        return
    from rich.table import Table

    r = doc["pooled"]
    out = Console()
    level = f"{r['ci_level']:.0%}"
    t = Table(title=f"{doc['measure']}, {r['description']} ({doc['file']}, k = {r['k']})")
    for col, justify in (("study", "left"), (f"{doc['measure']} [{level} CI]", "right"), ("weight", "right")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in r["studies"]:
        t.add_row(s["label"], _fmt_pooled(r, s["yi"], s["ci_low"], s["ci_high"]), f"{s['weight_pct']:.1f}%")
    t.add_row("[bold]pooled[/bold]", "[bold]" + _fmt_pooled(r, r["estimate"], r["ci_low"], r["ci_high"]) + "[/bold]",
              "100.0%")
    if r["pi_low"] is not None:
        t.add_row("prediction interval", _fmt_pooled(r, r["estimate"], r["pi_low"], r["pi_high"]).split(" ", 1)[1],
                  "")
    out.print(t)
    p_text = "n/a" if r["q_p_value"] is None else f"{r['q_p_value']:.4g}"
    i2 = "n/a" if r["i2"] is None else f"{r['i2']:.1f}%"
    df = f"({r['df']})" if r["df"] is not None else ""
    tau2_se = f" (SE {r['tau2_se']:.4g})" if r.get("tau2_se") is not None else ""
    out.print(f"{r['statistic_name']}{df} = {r['statistic']:.3f}, p = {r['p_value']:.4g}; tau^2 = {r['tau2']:.4g}{tau2_se}; "
              f"Q = {r['q']:.3f} (df {r['q_df']}, p = {p_text}); I^2 = {i2}", highlight=False)
    sub = doc["subgroups"]
    if sub is not None:
        st = Table(title=f"subgroups ({subgroup}; tau^2 {sub['tau2_mode']})")
        for col in ("subgroup", "k", f"estimate [{level} CI]", "I^2"):
            st.add_column(col)
        for g in sub["subgroups"]:
            st.add_row(str(g["group"]), str(g["k"]), _fmt_pooled(g, g["estimate"], g["ci_low"], g["ci_high"]),
                       "n/a" if g["i2"] is None else f"{g['i2']:.1f}%")
        out.print(st)
        out.print(f"test for subgroup differences: Q = {sub['q_between']:.3f}, df = {sub['q_between_df']}, "
                  f"p = {sub['q_between_p_value']:.4g}", highlight=False)
    if doc["egger"] is not None:
        e = doc["egger"]
        out.print(f"Egger's test: t({e['df']}) = {e['statistic']:.3f}, p = {e['p_value']:.4g}", highlight=False)
    if doc["leave_one_out"] is not None:
        ests = [row["estimate"] for row in doc["leave_one_out"]["rows"]]
        lo, hi = min(ests), max(ests)
        out.print("leave-one-out estimates range: " + _fmt_pooled(r, (lo + hi) / 2, lo, hi).split(" ", 1)[1],
                  highlight=False)
    for note in [*r["notes"], *doc["notes"]]:
        out.print(f"note: {note}", highlight=False)
    for p in doc["skipped"]:
        out.print(f"skipped: line {p['line']}, column {p['column']!r}: {p['value']!r} {p['reason']}", highlight=False,
                  markup=False)
    for key, path in plots.items():
        console.print(f"{key} plot written to {path}", highlight=False)


def _claim_keys(text: str) -> list[str]:
    """``--claim``: a claim key, a promise (``shorter recovery``) or a word of one (``recovery``)."""
    from spinetrack.analysis.claims import CLAIMS
    from spinetrack.errors import ValidationError

    want = text.strip().lower()
    if any(c.key == want for c in CLAIMS):
        return [want]
    keys = [c.key for c in CLAIMS if want and (want == c.promise.lower() or want in c.promise.lower().split())]
    if not keys:
        promises = list(dict.fromkeys(c.promise for c in CLAIMS))
        raise ValidationError(field="claim", value=text, allowed=[c.key for c in CLAIMS] + promises,
                              reason="a claim key, a promise, or a word of a promise such as 'recovery'")
    return keys


def _fmt_evidence(est: float | None, lo: float | None, hi: float | None) -> str:
    def f(x: float) -> str:
        return f"{x:.3g}" if x != 0 and abs(x) < 1 else f"{x:.2f}".rstrip("0").rstrip(".")

    if est is None:
        return "—"
    return f(est) + (f" [{f(lo)}, {f(hi)}]" if lo is not None and hi is not None else " [no CI]")


@app.command()
def evidence(
    claim: Annotated[str | None, typer.Option(
        "--claim", help="A claim key (length_of_stay), a promise ('shorter recovery') or a word of one (recovery).")
    ] = None,
    comparison: Annotated[str | None, typer.Option(
        "--comparison", help="discectomy, decompression, fusion, cross_cutting, pooled or surgery_vs_conservative.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The published evidence: every figure with its citation, what was pooled, already pooled, or not and why."""
    from spinetrack.evidence.pooling import summarize_evidence, unit_text

    try:
        report = summarize_evidence(claim=_claim_keys(claim) if claim is not None else None, comparison=comparison)
    except SpinetrackError as exc:
        _fail(exc, as_json)
        return
    doc = report.as_dict()
    if as_json:
        typer.echo(json.dumps(doc, allow_nan=False))
        return
    from rich.markup import escape
    from rich.table import Table

    what = {"pooled": "pooled here", "already_pooled": "already pooled", "single_study": "single study",
            "not_pooled": "not pooled"}
    title = "published evidence" + (f" — {', '.join(doc['claims'])}" if doc["claims"] else "") + (
        f" ({comparison})" if comparison else "")
    t = Table(title=escape(title))
    for col in ("outcome", "comparison", "what", "estimate [95% CI]", "k / n", "quality", "citation"):
        t.add_column(escape(col), overflow="fold")
    for g in doc["groups"]:
        outcome = escape(f"{g['outcome']} ({g['timepoint_norm']})")
        p = g["pooled"]
        if p is not None:
            t.add_row(outcome, g["comparison"], "[bold]pooled here[/bold]: " + escape(p["description"]),
                      escape(f"{p['measure']} " + _fmt_evidence(p["estimate"], p["ci_low"], p["ci_high"])
                             + f" {p['unit']}"),
                      f"{p['k']} / {p['n_patients'] or '?'}",
                      escape(f"I² {p['i2']:.0f}%, tau² {p['tau2']:.3g}" if p["i2"] is not None else ""),
                      escape("; ".join(c["short"] for c in p["citations"])))
        for i in g["items"]:
            label = what[i["status"]]
            if i["status"] in ("not_pooled", "single_study"):
                label += ": " + "; ".join(i["reasons"])
            label = ("[red]AGAINST the claim[/red] · " if i["against"] else "") + escape(label)
            est = (f"{i['effect_measure']} " + _fmt_evidence(i["estimate"], i["ci_low"], i["ci_high"]) + " "
                   + unit_text(i["unit"]) if i["estimate"] is not None else i["figure"])
            c = i["citation"]
            ident = f"doi:{c['doi']}" if c["doi"] else f"PMID {c['pmid']}" if c["pmid"] else c["url"]
            t.add_row(outcome, escape(i["comparison"]), label, escape(est.strip()),
                      f"{i['k_studies'] or '?'} / {i['n_patients'] or '?'}", escape(i["quality"]),
                      escape(f"{c['short']} ({ident})"))
    out = Console()
    out.print(t, markup=True)
    counts = doc["counts"]
    out.print(f"{counts['pooled']} pooled here, {counts['already_pooled']} already pooled, {counts['single_study']} "
              f"single studies, {counts['not_pooled']} not pooled; method: {doc['method']}", highlight=False,
              markup=False)
    for note in doc["notes"]:
        out.print(f"note: {note}", highlight=False, markup=False)


models_app = typer.Typer(help="Prediction models: per-patient expected outcomes of each treatment option.",
                         no_args_is_help=True, add_completion=False)
app.add_typer(models_app, name="models")
ModelsDirOpt = Annotated[str | None, typer.Option("--dir", help="Model directory; default SPINETRACK_MODELS_DIR.")]


def _write_reliability_figures(result: Any, out_dir: str) -> list[str]:
    """One reliability diagram (SVG) per model with reliability groups, under ``figures/``."""
    from pathlib import Path

    from spinetrack.reports.prediction_plots import model_reliability_diagram

    fig_dir = Path(out_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob("*.svg"):
        old.unlink()
    written = []
    for mid, model in sorted(result.models.models.items()):
        svg = model_reliability_diagram(model)
        if svg is not None:
            path = fig_dir / f"{mid}.svg"
            path.write_text(svg, encoding="utf-8")
            written.append(str(path))
    return written


@models_app.command("train")
def models_train(
    snapshot_dir: Annotated[str | None, typer.Option("--snapshot", help="Snapshot directory (spinetrack snapshot). "
                            "Default: export a fresh, rekeyed snapshot of the database to a temporary directory.")]
    = None,
    engine_name: EngineOpt = None,
    out: Annotated[str | None, typer.Option("--out", help="Where to write the models; default SPINETRACK_MODELS_DIR.")]
    = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples per model (optimism "
                                                               "correction; 0: none).")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap resamples.")] = 20_240_607,
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing when the model directory already "
                                                                   "holds a trained set (make run).")] = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit, validate (bootstrap) and write every prediction model, its card and its reliability diagram."""
    from contextlib import ExitStack
    from pathlib import Path

    from spinetrack.predict import planned_models, train_models

    settings = _settings(database_url)
    name = engine_name or settings.engine
    out_dir = out or settings.models_dir
    if if_missing and (Path(out_dir) / "index.json").is_file():
        if as_json:
            typer.echo(json.dumps({"models_dir": out_dir, "trained": False, "reason": "already trained"}))
        else:
            console.print(f"prediction models already trained in {out_dir} (--if-missing): nothing to do")
        return
    stack = ExitStack()
    try:
        snapshot_dir = _snapshot_or_export(stack, settings, snapshot_dir)
    except SpinetrackError as exc:
        stack.close()
        _fail(exc, as_json)
        return
    options: dict[str, Any] = {}
    if name == "spark" and settings.spark_master:
        options["master"] = settings.spark_master
    show = not as_json and sys.stderr.isatty()
    snap = snapshot_dir
    try:
        result = _with_steps(show, f"train on {name}", planned_models(), lambda progress: train_models(
            snap, name, out_dir, bootstrap=bootstrap, seed=seed, engine_options=options, progress=progress), width=48)
    except SpinetrackError as exc:
        _fail(exc, as_json)
        return
    finally:
        stack.close()
    doc = result.as_dict()
    doc["figures"] = _write_reliability_figures(result, out_dir)
    if as_json:
        typer.echo(json.dumps(doc, allow_nan=False))
        return
    from rich.table import Table

    t = Table(title=f"prediction models ({doc['engine']}, {doc['seconds']:.1f} s, bootstrap {bootstrap}) → {out_dir}")
    for col in ("model", "n", "events", "C / R² (corrected)", "calibration slope (corrected)", "used for"):
        t.add_column(col)
    used: dict[str, list[str]] = {}
    for a in doc["availability"]:
        if a["source"] == "clinic":
            used.setdefault(a["model_id"], []).append(a["option"])
    for m in doc["models"]:
        perf = m["performance"]
        first = perf.get("c_statistic") or perf.get("r2")
        slope = perf["calibration_slope"]["corrected"]
        t.add_row(m["model_id"], str(m["n"]), "—" if m["n_events"] is None else str(m["n_events"]),
                  "—" if first is None or first["corrected"] is None else f"{first['corrected']:.3f}",
                  "—" if slope is None else f"{slope:.3f}", ", ".join(used.get(m["model_id"], [])) or "not used")
    Console().print(t)
    console.print(f"{doc['options']['clinic']} option × outcome predicted from the clinic's data, "
                  f"{doc['options']['fallback']} falling back to the literature (minimum-data rule; see the cards)",
                  highlight=False)


@models_app.command("card")
def models_card(
    model: Annotated[str | None, typer.Option("--model", help="A model id (default: every model).")] = None,
    models_dir: ModelsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the model cards: data, design, minimum-data rule, performance (apparent and optimism-corrected)."""
    from spinetrack.errors import ValidationError
    from spinetrack.predict import load_models, model_card

    directory = models_dir or Settings().models_dir
    try:
        models = load_models(directory)
        ids = sorted(models.models)
        if model is not None and model not in models.models:
            raise ValidationError(field="model", value=model, allowed=ids)
    except SpinetrackError as exc:
        _fail(exc, as_json)
        return
    cards = [model_card(models.models[i], models) for i in ([model] if model else ids)]
    if as_json:
        doc: dict[str, Any] = cards[0].as_dict() if model else {"models_dir": str(directory),
                                                                "cards": [c.as_dict() for c in cards]}
        typer.echo(json.dumps(doc, allow_nan=False))
        return
    typer.echo("\n---\n\n".join(c.markdown() for c in cards))


@app.command()
def predict(
    patient: Annotated[int, typer.Option("--patient", help="The patient's record number (the id in the clinic's "
                                                           "URLs and the API).")],
    episode: Annotated[int | None, typer.Option("--episode", help="Episode id (default: the latest).")] = None,
    models_dir: ModelsDirOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decision support for one patient: red flags, guideline criteria and each option's expected outcomes."""
    import getpass

    from spinetrack.predict.decision import build_decision_support
    from spinetrack.store.repositories import Actor, Store

    settings = _settings(database_url)
    engine = _engine(settings)
    try:
        store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
        actor = Actor(f"cli:{getpass.getuser()}", "system")  # audited under the operating-system user
        doc = build_decision_support(store, actor, patient, models_dir=models_dir or settings.models_dir,
                                     episode_id=episode)
    except SpinetrackError as exc:
        _fail(exc, as_json)
        return
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(doc, default=str, allow_nan=False))
        return
    _print_decision(doc)


def _print_decision(doc: dict[str, Any]) -> None:
    from rich.table import Table

    out = Console()
    ep, sc = doc["episode"], doc["screening"]
    out.print(f"[bold]patient {doc['patient']['pseudo_id']}[/], {ep['diagnosis_label']} ({ep['diagnosis_code']}), "
              f"{ep['levels']}", highlight=False)
    if sc["urgent"]:
        out.print(f"[bold red]RED FLAG — {sc['message']}[/]", highlight=False)
        return
    if not sc["recorded"]:
        out.print("[yellow]red-flag screening not recorded for this episode: complete it before using these "
                  "numbers[/]")
    for c in sc["criteria"]:
        out.print(f"  criterion [{c['status']}] {c['question']} — {c['citation']}", highlight=False)
    t = Table(title="expected outcomes (95% interval; source)")
    t.add_column("outcome")
    options = [o for o in doc["options"] if o["available"]]
    for o in options:
        t.add_column(o["label"])
    for row in doc["outcomes"]:
        cells = []
        for o in options:
            p = row["by_option"].get(o["key"])
            if p is None:
                cells.append("does not apply")
            elif p["estimate"] is None:
                cells.append("no estimate")
            else:
                scale = 100.0 if row["kind"] == "probability" else 1.0
                unit = "%" if row["kind"] == "probability" else ""
                ci = ("" if p["ci_low"] is None else
                      f" ({p['ci_low'] * scale:.1f}–{p['ci_high'] * scale:.1f})")
                cells.append(f"{p['estimate'] * scale:.1f}{unit}{ci}; {p['source']}")
        t.add_row(row["label"], *cells)
    out.print(t)
    for n in doc["notes"]:
        out.print(f"  note: {n}", highlight=False)


# ------------------------------------------------------------------------------------- audit

audit_app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Recompute the audit log's hash chain and list every row that does not fit.

    Exit code 0 when the chain is intact, 1 when any row is bad, 2 on an error. The verification
    is itself audited, under the operating-system user."""
    import getpass

    from spinetrack.store.queries import Queries
    from spinetrack.store.repositories import Actor, Store

    settings = _settings(database_url)
    engine = _engine(settings)
    try:
        queries = Queries(Store(engine, eq5d_value_set=settings.eq5d_value_set))
        actor = Actor(f"cli:{getpass.getuser()}", "system")
        if not as_json and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(TextColumn("audit rows"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=console) as bar:
                task = bar.add_task("verify", total=None)
                result = queries.verify_audit_chain(
                    actor, progress=lambda done, total: bar.update(task, completed=done, total=total))
        else:
            result = queries.verify_audit_chain(actor)
    except SpinetrackError as exc:
        _fail(exc, as_json)
        return
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    elif result.ok:
        console.print(f"audit chain intact: {result.n_rows:,} rows checked, ok", highlight=False)
    else:
        console.print(f"[red]audit chain BROKEN:[/red] {result.n_rows:,} rows checked, {result.n_bad:,} bad",
                      highlight=False)
        for bad in result.bad_rows:
            console.print(f"  row {bad.id}: {bad.reason}", highlight=False)
        if result.n_bad > len(result.bad_rows):
            console.print(f"  … and {result.n_bad - len(result.bad_rows):,} more", highlight=False)
    if not result.ok:
        raise typer.Exit(code=1)


# ------------------------------------------------------------------------------------- users

users_app = typer.Typer(help="Staff accounts: create one (the owner sets the password with a one-time link), "
                             "reset a password, list accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
BaseUrlOpt = Annotated[str | None, typer.Option(
    "--base-url", help="Address the staff reach the app at, for the link (default http://SPINETRACK_HOST:PORT).")]


def _with_access(settings: Settings, as_json: bool, work: Any) -> Any:
    """``work(access, actor)`` on the database, acting as the system under the operating-system
    user's name; a refused input ends the command (exit 2) with its message."""
    import getpass

    from spinetrack.store.access import Access
    from spinetrack.store.repositories import Actor, Store

    engine = _engine(settings)
    try:
        access = Access(Store(engine, eq5d_value_set=settings.eq5d_value_set), env=settings.env)
        return work(access, Actor(f"cli:{getpass.getuser()}"[:64], "system"))
    except SpinetrackError as exc:
        _fail(exc, as_json)
    finally:
        engine.dispose()


def _print_link(username: str, url: str, why: str, as_json: bool) -> None:
    from spinetrack.store.access import PASSWORD_LINK_VALID

    hours = int(PASSWORD_LINK_VALID.total_seconds() // 3600)
    if as_json:
        typer.echo(json.dumps({"username": username, "set_password_url": url, "valid_hours": hours}))
        return
    console.print(f"{why}. One-time set-password link for [bold]{username}[/bold] (valid {hours} hours, works once; "
                  "spinetrack sends no e-mail — hand it to the owner yourself):", highlight=False)
    typer.echo(url)


def _link_url(settings: Settings, base_url: str | None, token: str) -> str:
    base = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    return f"{base}/set-password/{token}"


def _user_id(access: Any, actor: Any, username: str) -> int:
    from spinetrack.errors import NotFoundError

    for u in access.list_users(actor):
        if u["username"] == username:
            return int(u["id"])
    raise NotFoundError(entity="user", key=username)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="User name: letters, digits, '.', '-' or '_' (up to 64).")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    role: Annotated[str, typer.Option("--role", help="clinician, coordinator, researcher or admin.")],
    site: Annotated[str | None, typer.Option("--site", help="Site code (clinicians and coordinators).")] = None,
    base_url: BaseUrlOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an account and print its one-time set-password link (how the first admin of a
    production install gets in). Nobody types a password here."""
    from spinetrack.errors import ValidationError
    from spinetrack.store.queries import Queries

    def work(access: Any, actor: Any) -> str:
        site_id = None
        if site is not None:
            codes = {s["code"]: s["id"] for s in Queries(access.store).list_sites(actor)}
            if site not in codes:
                raise ValidationError(field="site", value=site, allowed=sorted(codes) or "no site yet")
            site_id = codes[site]
        return str(access.invite_user(actor, username=username, display_name=name, role=role, site_id=site_id)[1])

    settings = _settings(database_url)
    token = _with_access(settings, as_json, work)
    _print_link(username, _link_url(settings, base_url, token), f"account {username} ({role}) created", as_json)


@users_app.command("reset-password")
def users_reset_password(
    username: Annotated[str, typer.Argument(help="The account's user name.")],
    base_url: BaseUrlOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the account's password unusable, end its sessions and print a new one-time link."""
    settings = _settings(database_url)
    token = _with_access(settings, as_json,
                         lambda access, actor: access.reset_password(actor, _user_id(access, actor, username)))
    _print_link(username, _link_url(settings, base_url, token), "password reset, sessions ended", as_json)


@users_app.command("list")
def users_list(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Every account: role, site, status, whether a password is set, last sign-in (audited)."""
    users = _with_access(_settings(database_url), as_json, lambda access, actor: access.list_users(actor))
    if as_json:
        typer.echo(json.dumps(users, default=str))
        return
    from rich.table import Table

    t = Table()
    for col in ("user name", "role", "site id", "status", "password", "last sign-in"):
        t.add_column(col)
    for u in users:
        t.add_row(u["username"] + (" (demo)" if u["demo"] else ""), u["role"], str(u["site_id"] or "—"),
                  "active" if u["active"] else "deactivated",
                  "set" if u["has_password"] else ("link issued" if u["link_pending"] else "none"),
                  str(u["last_login_at"] or "—")[:16])
    Console(width=120).print(t)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":  # python -m spinetrack.cli
    main()
