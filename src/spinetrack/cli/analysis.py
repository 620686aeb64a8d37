"""The analysis commands: ``analyze`` (the claims scorecard), ``report`` (its HTML/PDF report),
``pool`` (a meta-analysis of a study file) and ``evidence`` (the published evidence).
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from spinetrack.cli.common import (
    DbOpt,
    EngineOpt,
    JsonOpt,
    SnapOpt,
    fail,
    settings_for,
    snapshot_or_export,
)
from spinetrack.cli.render import console, print_evidence, print_pool, print_scorecard, with_steps
from spinetrack.config import Settings
from spinetrack.errors import SpinetrackError

__all__ = ["analyze", "evidence", "pool", "report"]

EstimandOpt = Annotated[str, typer.Option("--estimand",
                                          help="ATO (overlap weights, default) or ATE (stabilized IPTW).")]
TrimOpt = Annotated[float | None, typer.Option("--trim",
                                               help="With ATE: keep propensity scores in [a, 1-a] (e.g. 0.1).")]
SensOpt = Annotated[bool, typer.Option("--sensitivity/--no-sensitivity",
                                       help="Also run AIPW and inverse-probability-of-censoring sensitivity analyses.")]
OnlyOpt = Annotated[list[str] | None, typer.Option("--comparison", help="Only this comparison (repeatable).")]
ClaimOpt = Annotated[list[str] | None, typer.Option("--claim", help="Only this claim (repeatable).")]
SaveOpt = Annotated[bool, typer.Option("--save", help="Keep the document in the analyses directory "
                                                      "(SPINETRACK_ANALYSES_DIR): the research page shows the newest.")]


def _run_scorecard(settings: Settings, snapshot_dir: str | None, engine_name: str | None, estimand: str,
                   trim: float | None, sensitivity: bool, comparisons: list[str] | None, claims: list[str] | None,
                   show: bool) -> dict[str, Any]:
    """Snapshot (if needed) → scorecard document, with Rich progress on stderr when ``show``. The
    options become :class:`~spinetrack.analysis.settings.AnalysisSettings` (checked before any
    work starts), which the document records."""
    from spinetrack.analysis.claims import CLAIMS
    from spinetrack.analysis.scorecard import analyze_snapshot
    from spinetrack.analysis.settings import AnalysisSettings
    from spinetrack.domain.comparisons import COMPARISONS

    name = engine_name or settings.engine
    analysis = AnalysisSettings(engine=name, estimand=estimand, trim=trim, sensitivity=sensitivity,
                                comparisons=None if comparisons is None else tuple(comparisons),
                                claims=None if claims is None else tuple(claims))
    options = settings.engine_options(name)
    n_steps = (len(comparisons or COMPARISONS)) * (len(claims or CLAIMS) + 1)
    with ExitStack() as stack:
        snapshot_dir = snapshot_or_export(stack, settings, snapshot_dir)
        snap = snapshot_dir
        return with_steps(show, f"analyze on {name}", n_steps, lambda progress: analyze_snapshot(
            snap, analysis, engine_options=options, progress=progress))


def analyze(
    snapshot_dir: SnapOpt = None,
    engine_name: EngineOpt = None,
    estimand: EstimandOpt = "ATO",
    trim: TrimOpt = None,
    sensitivity: SensOpt = True,
    comparison: OnlyOpt = None,
    claim: ClaimOpt = None,
    out: Annotated[str | None, typer.Option("--out", help="Also write the JSON document to this file.")] = None,
    save: SaveOpt = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """
    The claims scorecard: every MISS claim, risk-adjusted, for every comparison (MIS vs open, surgery vs conservative).
    """
    settings = settings_for(database_url)
    try:
        doc = _run_scorecard(settings, snapshot_dir, engine_name, estimand, trim, sensitivity, comparison, claim,
                             show=sys.stderr.isatty())
        if save:
            from spinetrack.reports.archive import save_analysis

            stored = save_analysis(doc, settings.analyses_dir)
            if not as_json:
                console.print(f"saved as analysis {stored.id} in {settings.analyses_dir}", highlight=False)
    except SpinetrackError as exc:
        fail(exc, as_json)
    text = json.dumps(doc, allow_nan=False)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    if as_json:
        typer.echo(text)
        return
    print_scorecard(doc)


def report(
    out: Annotated[str, typer.Option("--out", help="HTML file to write (self-contained, opens offline).")],
    pdf: Annotated[str | None, typer.Option("--pdf", help="Also write a PDF (WeasyPrint).")] = None,
    results: Annotated[str | None, typer.Option(
        "--results", help="Render this JSON document (spinetrack analyze --out) instead of analysing now.")] = None,
    latest: Annotated[bool, typer.Option(
        "--latest", help="Render the newest saved analysis (spinetrack analyze --save) instead of analysing now.")
    ] = False,
    save: SaveOpt = False,
    snapshot_dir: SnapOpt = None,
    engine_name: EngineOpt = None,
    estimand: EstimandOpt = "ATO",
    trim: TrimOpt = None,
    sensitivity: SensOpt = True,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the scorecard report: a one-page summary, then each claim, cohort flow, balance, methods."""
    settings = settings_for(database_url)
    try:
        if latest:
            from spinetrack.reports.archive import latest_analysis

            stored = latest_analysis(settings.analyses_dir)
            if stored is None:
                from spinetrack.errors import ValidationError

                raise ValidationError(field="latest", value=settings.analyses_dir, allowed="a directory holding an "
                                      "analysis saved by spinetrack analyze --save",
                                      reason="no analysis has been saved there yet")
            doc = stored.doc
        elif results:
            try:
                doc = json.loads(Path(results).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                from spinetrack.errors import ValidationError

                raise ValidationError(field="results", value=results, allowed="a JSON file written by "
                                      "spinetrack analyze --out", reason=str(exc)) from exc
        else:
            doc = _run_scorecard(settings, snapshot_dir, engine_name, estimand, trim, sensitivity, None, None,
                                 show=not as_json and sys.stderr.isatty())
            if save:
                from spinetrack.reports.archive import save_analysis

                save_analysis(doc, settings.analyses_dir)
        from spinetrack.reports.print_report import write_report

        # with a PDF to print, the figures are PNG images in both files (WeasyPrint draws inline
        # SVG element by element), drawn in worker processes while WeasyPrint lays out the text
        write_report(doc, Path(out), Path(pdf) if pdf else None)
    except SpinetrackError as exc:
        fail(exc, as_json)
    if as_json:
        typer.echo(json.dumps({"html": out, "pdf": pdf, "claims": len(doc["results"])}))
    else:
        console.print(f"report written to {out}" + (f" and {pdf}" if pdf else ""), highlight=False)


def pool(
    file: Annotated[str, typer.Argument(help="CSV, one study per row: study,n1,mean1,sd1,n2,mean2,sd2 or "
                                             "study,events1,n1,events2,n2 or study,yi,vi (yi: log ratio for RR/OR); "
                                             "optional year and subgroup columns. Arm 1 is the experimental arm.")],
    measure: Annotated[str, typer.Option("--measure", help="MD, SMD, RR, OR or RD.")],
    method: Annotated[str, typer.Option("--method", help="FE, MH (binary data), DL, REML or PM.")] = "REML",
    hksj: Annotated[bool, typer.Option("--hksj", help="Hartung-Knapp-Sidik-Jonkman interval (random effects).")
                    ] = False,
    subgroup: Annotated[str | None, typer.Option("--subgroup", help="Column with the subgroup of each study.")] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Write the forest plot (.svg, or .png).")] = None,
    funnel: Annotated[str | None, typer.Option("--funnel", help="Write the funnel plot (.svg, or .png).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Drop malformed rows (listed) instead of "
                                                                      "refusing the file.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Meta-analysis of the studies in a CSV file: pooled estimate, heterogeneity, subgroups, leave-one-out, Egger."""
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
        fail(exc, as_json)
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
    print_pool(doc, subgroup, plots)


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
    from spinetrack.evidence import summarize_evidence

    try:
        report = summarize_evidence(claim=_claim_keys(claim) if claim is not None else None, comparison=comparison)
    except SpinetrackError as exc:
        fail(exc, as_json)
    doc = report.as_dict()
    if as_json:
        typer.echo(json.dumps(doc, allow_nan=False))
        return
    print_evidence(doc, comparison)
