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
    emit_document,
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
    if not emit_document(doc, out, as_json):
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
    annual: Annotated[str | None, typer.Option(
        "--annual", metavar="YEAR", help="Write the annual registry report of the patients treated in YEAR "
                                         "(case mix, follow-up, outcomes, funnel plots, CUSUM, a page per site).")
    ] = None,
    site: Annotated[str | None, typer.Option(
        "--site", help="With --annual: a clinic's report (its site named, the others anonymised).")] = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the scorecard report (summary, each claim, cohort flow, balance, methods), or with
    --annual YEAR the annual registry report."""
    settings = settings_for(database_url)
    if annual is not None:
        try:
            summary = _annual_report(settings, annual, out=out, pdf=pdf, site=site, results=results, latest=latest,
                                     snapshot_dir=snapshot_dir, engine_name=engine_name, save=save,
                                     show=not as_json and sys.stderr.isatty())
        except SpinetrackError as exc:
            fail(exc, as_json)
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            console.print(f"annual report {summary['year']} written to {out}" + (f" and {pdf}" if pdf else ""),
                          highlight=False)
        return
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


def _annual_year(text: str, site: str | None, snapshot: str, engine_name: str, options: dict[str, Any]) -> int:
    """``--annual``'s year (and ``--site``), checked before any work starts: a whole number with
    episodes indexed in it in the snapshot, and a site with episodes in that year; otherwise
    refused, naming the field and what the snapshot holds."""
    from spinetrack.analysis.annual import available_sites, available_years
    from spinetrack.engines import get_engine
    from spinetrack.errors import ValidationError

    eng = get_engine(engine_name, **options)
    try:
        eng.register_snapshot(snapshot)
        years = available_years(eng)
        allowed = [str(y) for y in years] or ["(no episodes on record)"]
        try:
            year = int(text.strip())
        except ValueError:
            raise ValidationError(field="year", value=text, allowed=allowed,
                                  reason="--annual takes a year as a whole number, e.g. 2024") from None
        if year not in years:
            raise ValidationError(field="year", value=year, allowed=allowed,
                                  reason="no episode of care in the snapshot has its index date in that year")
        sites = available_sites(eng, year) if site is not None else []
    finally:
        eng.close()
    if site is not None and site not in sites:
        raise ValidationError(field="site", value=site, allowed=sites or ["(no sites in that year)"],
                              reason=f"no episodes of that site in {year}")
    return year


def _annual_scorecard(settings: Settings, results: str | None, latest: bool) -> dict[str, Any] | None:
    """The scorecard summarised in the annual report: ``--results`` FILE, else the newest saved
    analysis (``analyze --save``); ``None`` when neither (the caller then runs it)."""
    from spinetrack.reports.archive import latest_analysis

    if results:
        from spinetrack.errors import ValidationError

        try:
            doc: dict[str, Any] = json.loads(Path(results).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValidationError(field="results", value=results, allowed="a JSON file written by "
                                  "spinetrack analyze --out", reason=str(exc)) from exc
        return doc
    stored = latest_analysis(settings.analyses_dir)
    if stored is None and latest:
        from spinetrack.errors import ValidationError

        raise ValidationError(field="latest", value=settings.analyses_dir, allowed="a directory holding an "
                              "analysis saved by spinetrack analyze --save",
                              reason="no analysis has been saved there yet")
    return None if stored is None else stored.doc


def _annual_report(settings: Settings, year_text: str, *, out: str, pdf: str | None, site: str | None,
                   results: str | None, latest: bool, snapshot_dir: str | None, engine_name: str | None,
                   show: bool, save: bool = False) -> dict[str, Any]:
    """``report --annual YEAR``: snapshot (if needed) → annual document → HTML (and PDF), with a
    Rich progress bar on stderr when ``show``. ``save`` keeps the whole document (every site) in
    the analyses directory: the web app's Benchmarking page offers it to each clinic (its site
    named) and to researchers (every site numbered)."""
    from spinetrack.analysis.annual import annual_snapshot, annual_view
    from spinetrack.reports.annual import render_annual_html, render_annual_pdf

    name = engine_name or settings.engine
    options = settings.engine_options(name)
    with ExitStack() as stack:
        snap = snapshot_or_export(stack, settings, snapshot_dir)
        year = _annual_year(year_text, site, snap, name, options)
        scorecard = _annual_scorecard(settings, results, latest)
        if scorecard is None:
            scorecard = _run_scorecard(settings, snap, name, "ATO", None, True, None, None, show=show)

        def run(progress: Any) -> dict[str, Any]:
            tick = progress or (lambda _msg: None)
            doc = annual_snapshot(snap, year, engine=name, engine_options=options, scorecard=scorecard,
                                  progress=tick)
            if save:
                from spinetrack.reports.archive import save_analysis

                save_analysis(doc, settings.analyses_dir, kind="annual", tag=str(year))
            if site is not None:
                doc = annual_view(doc, own_site=site)
            tick("HTML page")
            Path(out).write_text(render_annual_html(doc, site=site), encoding="utf-8")
            if pdf:
                tick("PDF")
                render_annual_pdf(doc, pdf, site=site)
            return doc

        doc = with_steps(show, f"annual report {year}", 4 + (1 if pdf else 0), run)
    return {"html": out, "pdf": pdf, "year": year, "site": site, "sites": len(doc.get("sites") or [])}


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
