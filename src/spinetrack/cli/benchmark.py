"""``spinetrack benchmark``: every site's (or surgeon's) risk-adjusted outcomes against the
registry — observed, expected, O/E, the funnel limits at its size, the shrunken estimate and
its flag (``analysis.benchmark``)."""

from __future__ import annotations

import sys
from contextlib import ExitStack
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
from spinetrack.cli.render import console, with_steps
from spinetrack.errors import SpinetrackError, ValidationError

__all__ = ["benchmark"]


def _years(value: str | None) -> tuple[int, int] | None:
    """``2021`` or ``2019-2021`` → (first, last)."""
    if value is None:
        return None
    head, _, tail = value.partition("-")
    try:
        first, last = int(head), int(tail or head)
    except ValueError:
        raise ValidationError(field="years", value=value, allowed="a year (2021) or a range (2019-2021)") from None
    if not (1900 <= first <= last <= 2100):
        raise ValidationError(field="years", value=value, allowed="a year (2021) or a range (2019-2021), "
                                                                  "the first year not after the last")
    return first, last


def benchmark(
    outcome: Annotated[list[str] | None, typer.Option(
        "--outcome", help="Only this outcome (repeatable): odi_mcid_12m, any_complication, infection, dural_tear, "
                          "readmission, reoperation_2y, los_days, return_to_activity_days.")] = None,
    level: Annotated[str, typer.Option("--level", help="Compare sites (default) or surgeons.")] = "site",
    years: Annotated[str | None, typer.Option("--years", help="Only episodes indexed in these years: 2021 or "
                                                                "2019-2021.")] = None,
    approach: Annotated[str, typer.Option("--approach", help="all operated episodes (default), or mis or open "
                                                             "only.")] = "all",
    overdispersion: Annotated[str, typer.Option(
        "--overdispersion", help="auto (default: allow for it when the test finds it), none, multiplicative or "
                                 "additive.")] = "auto",
    arl0: Annotated[float, typer.Option("--arl0", help="The CUSUM's in-control average run length, in operations "
                                                       "per unit (default 10000).")] = 10_000.0,
    snapshot_dir: SnapOpt = None,
    engine_name: EngineOpt = None,
    out: Annotated[str | None, typer.Option("--out", help="Also write the JSON document to this file.")] = None,
    save: Annotated[bool, typer.Option("--save", help="Keep the document in the analyses directory "
                                                      "(SPINETRACK_ANALYSES_DIR): the clinic and research "
                                                      "benchmarking pages show the newest.")] = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Registry benchmarking: each site's risk-adjusted outcomes, O/E, funnel limits, flags and CUSUM alarms."""
    from spinetrack.analysis.benchmark import LEVELS, OUTCOMES, benchmark_snapshot

    settings = settings_for(database_url)
    try:
        span = _years(years)
        if level not in LEVELS:
            raise ValidationError(field="level", value=level, allowed=LEVELS)
        known = tuple(o.key for o in OUTCOMES)
        for k in outcome or ():
            if k not in known:
                raise ValidationError(field="outcome", value=k, allowed=known)
        name = engine_name or settings.engine
        options = settings.engine_options(name)
        n_steps = len(outcome or known) + 3
        with ExitStack() as stack:
            snap = snapshot_or_export(stack, settings, snapshot_dir)
            doc = with_steps(not as_json and sys.stderr.isatty(), f"benchmark on {name}", n_steps,
                             lambda progress: benchmark_snapshot(
                                 snap, engine=name, engine_options=options, level=level, outcomes=outcome,
                                 years=span, approach=approach, overdispersion=overdispersion, arl0=arl0,
                                 progress=progress))
        if save:
            from spinetrack.reports.archive import save_analysis

            stored = save_analysis(doc, settings.analyses_dir, kind="benchmark", tag=level)
            if not as_json:
                console.print(f"saved as {stored.id} in {settings.analyses_dir}", highlight=False)
    except SpinetrackError as exc:
        fail(exc, as_json)
    if not emit_document(doc, out, as_json):
        print_benchmark(doc)


def _num(v: Any, unit: str, digits: int = 1) -> str:
    if v is None:
        return "—"
    return f"{100 * v:.{digits}f}%" if unit == "%" else f"{v:.{digits}f}"


def print_benchmark(doc: dict[str, Any]) -> None:
    """One table per outcome: unit, n, observed, expected, O/E (95% CI), risk-adjusted value,
    the 95% and 99.8% limits at its n, the shrunken estimate and the flag."""
    from rich.table import Table

    for o in doc["outcomes"]:
        od = o["overdispersion"]
        title = (f"{o['label']} — registry {_num(o['overall'], o['unit'])} over {o['n']:,} patients; "
                 f"overdispersion: {od['method']}")
        t = Table(title=title, title_justify="left")
        for col in ("unit", "n", "observed", "expected", "O/E (95% CI)", "adjusted", "95% limits", "99.8% limits",
                    "shrunken", "flag"):
            t.add_column(col, justify="left" if col in ("unit", "flag") else "right")
        for u in o["units"]:
            if u["suppressed"]:
                t.add_row(u["label"], f"<{doc['min_cell']}", *["—"] * 7, "suppressed")
                continue
            lim = u["limits"]
            flag = u["flag"] + (f" ({u['direction']})" if u["direction"] else "")
            obs = f"{u['observed']:.0f}" if o["kind"] == "binary" else f"{u['observed'] / u['n']:.1f} mean"
            exp = f"{u['expected']:.1f}" if o["kind"] == "binary" else f"{u['expected'] / u['n']:.1f} mean"
            t.add_row(u["label"], f"{u['n']:,}", obs, exp, f"{u['oe']:.2f} ({u['oe_low']:.2f}-{u['oe_high']:.2f})",
                      _num(u["adjusted"], o["unit"]),
                      f"{_num(lim['95'][0], o['unit'])}-{_num(lim['95'][1], o['unit'])}",
                      f"{_num(lim['99.8'][0], o['unit'])}-{_num(lim['99.8'][1], o['unit'])}",
                      _num(u["shrunken"], o["unit"]), flag)
        console.print(t)
    c = doc.get("cusum")
    if c:
        console.print(f"CUSUM of {c['outcome'].replace('_', ' ')}: limits {c['h_worse']:.2f} (odds doubled) and "
                      f"{c['h_better']:.2f} (odds halved), for an in-control run of {c['arl0']:,.0f} operations",
                      highlight=False)
        for u in c["units"]:
            if u["alarms"]:
                when = ", ".join(f"{a['date']} ({a['direction']})" for a in u["alarms"][:6])
                more = f" and {len(u['alarms']) - 6} more" if len(u["alarms"]) > 6 else ""
                console.print(f"  {u['label']}: signals on {when}{more}", highlight=False)
    for note in doc.get("notes", []):
        console.print(f"note: {note}", highlight=False)
