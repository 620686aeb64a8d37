"""What the ``spinetrack`` commands print for people: Rich tables on stdout, messages and the
progress display on stderr, and the number formats they share. Computes nothing: every
function takes the document a command's ``--json`` prints (or the result object behind it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from spinetrack import __version__

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = [
    "console",
    "fmt_estimate",
    "fmt_evidence",
    "fmt_pooled",
    "print_audit",
    "print_decision",
    "print_demo_logins",
    "print_evidence",
    "print_models",
    "print_pool",
    "print_score",
    "print_scorecard",
    "print_status",
    "print_users",
    "progress_bar",
    "with_steps",
]

console = Console(stderr=True)

T = TypeVar("T")


# ------------------------------------------------------------------------------------- progress


@contextmanager
def progress_bar(label: str, *, elapsed: bool = False) -> Iterator[Progress]:
    """A Rich progress display on stderr: ``label`` (a Rich column format such as
    ``"{task.description:<14}"``, or plain text), the bar, done of total, and the time
    remaining (or, with ``elapsed``, the time elapsed). Add its tasks to the yielded display."""
    from rich.progress import (  # imported when shown: about 0.1 s of every command's start
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    clock: ProgressColumn = TimeElapsedColumn() if elapsed else TimeRemainingColumn()
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), clock, console=console) as bar:
        yield bar


def with_steps(show: bool, title: str, total: int, run: Callable[[Callable[[str], None] | None], T],
               width: int = 44) -> T:
    """``run(progress)`` where ``progress(message)`` advances a Rich bar of ``total`` steps on
    stderr when ``show`` (otherwise ``progress`` is None)."""
    if not show:
        return run(None)
    with progress_bar(f"{{task.description:<{width}}}", elapsed=True) as bar:
        task = bar.add_task(title, total=total)
        return run(lambda msg: bar.update(task, advance=1, description=msg[:width]))


# ------------------------------------------------------------------------------------- formats


def fmt_estimate(r: dict[str, Any]) -> str:
    """A scorecard row's estimate and interval (binary outcomes in percentage points)."""
    if r["estimate"] is None:
        return "—"
    scale = 100.0 if r["kind"] == "binary" else 1.0
    unit = " pp" if r["kind"] == "binary" else ""
    return f"{r['estimate'] * scale:+.2f}{unit} ({r['ci_low'] * scale:+.2f}, {r['ci_high'] * scale:+.2f})"


def fmt_pooled(r: dict[str, Any], est: float, lo: float, hi: float) -> str:
    """An estimate and interval as displayed (ratios exponentiated), for the pool table."""
    f = math.exp if r["ratio"] is not None else (lambda x: x)
    d = 3 if r["measure"] == "RD" else 2
    return f"{f(est):.{d}f} [{f(lo):.{d}f}, {f(hi):.{d}f}]"


def fmt_evidence(est: float | None, lo: float | None, hi: float | None) -> str:
    """A published figure and its interval, for the evidence table."""
    def f(x: float) -> str:
        return f"{x:.3g}" if x != 0 and abs(x) < 1 else f"{x:.2f}".rstrip("0").rstrip(".")

    if est is None:
        return "—"
    return f(est) + (f" [{f(lo)}, {f(hi)}]" if lo is not None and hi is not None else " [no CI]")


# ------------------------------------------------------------------------------------- data


def print_demo_logins(password: str, accounts: list[dict[str, Any]]) -> None:
    """The demo logins and their shared password, on stderr."""
    from rich.table import Table

    err = Console(stderr=True, width=110)
    err.print(f"[bold]Demo logins[/bold] — password for all: [bold]{password}[/bold] "
              "(demo only; refused when SPINETRACK_ENV=production)", highlight=False)
    t = Table()
    for col in ("user name", "role", "site"):
        t.add_column(col)
    for a in accounts:
        t.add_row(str(a["username"]), str(a["role"]), str(a["site"] or "—"))
    err.print(t)


def print_status(s: dict[str, Any]) -> None:
    """The ``status`` counts and the follow-up completeness per timepoint."""
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
    visits = s.get("followup_visits") or {}
    if visits:
        statuses = list(next(iter(visits.values())))
        v = Table(title="scheduled visits today, by worklist status")
        for col in ("timepoint", *statuses):
            v.add_column(col, justify="right")
        for tp, counts in visits.items():
            v.add_row(tp, *(str(counts[k]) for k in statuses))
        out.print(v)
    scheduled = s.get("followup_scheduled_completeness") or []
    if scheduled:
        g = Table(title="completeness of scheduled visits (windows closed; last 3 months of closing)")
        for col in ("timepoint", "eligible", "responded", "completeness", "recent months"):
            g.add_column(col, justify="right")
        for row in scheduled:
            c = row["completeness"]
            recent = ", ".join(f"{m['month']} {m['responded']}/{m['eligible']}" for m in row["by_month"][-3:])
            g.add_row(row["timepoint"], str(row["eligible"]), str(row["responded"]),
                      "—" if c is None else f"{c:.1%}", recent)
        out.print(g)


def print_score(title: str, scored: dict[str, Any]) -> None:
    """One scored response (``Score.as_dict``) under the instrument's title."""
    from rich.table import Table

    out = Console()
    t = Table(title=title, show_header=False)
    for key, val in scored.items():
        if key in ("instrument", "version") or val in (None, {}):
            continue
        t.add_row(key, json.dumps(val) if isinstance(val, dict) else str(val))
    out.print(t)


# ------------------------------------------------------------------------------------- analysis


def print_scorecard(doc: dict[str, Any]) -> None:
    """The claims scorecard: one row per applicable comparison × claim."""
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
        table.add_row(r["comparison"], r["claim"], fmt_estimate(r), verdict, naive)
    Console().print(table)


def print_pool(doc: dict[str, Any], subgroup: str | None, plots: dict[str, str]) -> None:
    """A meta-analysis: the studies and the pooled estimate, heterogeneity, subgroups, Egger,
    leave-one-out, notes, skipped rows and the plots written."""
    from rich.table import Table

    r = doc["pooled"]
    out = Console()
    level = f"{r['ci_level']:.0%}"
    t = Table(title=f"{doc['measure']}, {r['description']} ({doc['file']}, k = {r['k']})")
    for col, justify in (("study", "left"), (f"{doc['measure']} [{level} CI]", "right"), ("weight", "right")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in r["studies"]:
        t.add_row(s["label"], fmt_pooled(r, s["yi"], s["ci_low"], s["ci_high"]), f"{s['weight_pct']:.1f}%")
    t.add_row("[bold]pooled[/bold]", "[bold]" + fmt_pooled(r, r["estimate"], r["ci_low"], r["ci_high"]) + "[/bold]",
              "100.0%")
    if r["pi_low"] is not None:
        t.add_row("prediction interval", fmt_pooled(r, r["estimate"], r["pi_low"], r["pi_high"]).split(" ", 1)[1],
                  "")
    out.print(t)
    p_text = "n/a" if r["q_p_value"] is None else f"{r['q_p_value']:.4g}"
    i2 = "n/a" if r["i2"] is None else f"{r['i2']:.1f}%"
    df = f"({r['df']})" if r["df"] is not None else ""
    tau2_se = f" (SE {r['tau2_se']:.4g})" if r.get("tau2_se") is not None else ""
    out.print(f"{r['statistic_name']}{df} = {r['statistic']:.3f}, p = {r['p_value']:.4g}; "
              f"tau^2 = {r['tau2']:.4g}{tau2_se}; "
              f"Q = {r['q']:.3f} (df {r['q_df']}, p = {p_text}); I^2 = {i2}", highlight=False)
    sub = doc["subgroups"]
    if sub is not None:
        st = Table(title=f"subgroups ({subgroup}; tau^2 {sub['tau2_mode']})")
        for col in ("subgroup", "k", f"estimate [{level} CI]", "I^2"):
            st.add_column(col)
        for g in sub["subgroups"]:
            st.add_row(str(g["group"]), str(g["k"]), fmt_pooled(g, g["estimate"], g["ci_low"], g["ci_high"]),
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
        out.print("leave-one-out estimates range: " + fmt_pooled(r, (lo + hi) / 2, lo, hi).split(" ", 1)[1],
                  highlight=False)
    for note in [*r["notes"], *doc["notes"]]:
        out.print(f"note: {note}", highlight=False)
    for p in doc["skipped"]:
        out.print(f"skipped: line {p['line']}, column {p['column']!r}: {p['value']!r} {p['reason']}", highlight=False,
                  markup=False)
    for key, path in plots.items():
        console.print(f"{key} plot written to {path}", highlight=False)


def print_evidence(doc: dict[str, Any], comparison: str | None) -> None:
    """The published evidence: every figure with its citation, grouped by outcome."""
    from rich.markup import escape
    from rich.table import Table

    from spinetrack.evidence import unit_text

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
                      escape(f"{p['measure']} " + fmt_evidence(p["estimate"], p["ci_low"], p["ci_high"])
                             + f" {p['unit']}"),
                      f"{p['k']} / {p['n_patients'] or '?'}",
                      escape(f"I² {p['i2']:.0f}%, tau² {p['tau2']:.3g}" if p["i2"] is not None else ""),
                      escape("; ".join(c["short"] for c in p["citations"])))
        for i in g["items"]:
            label = what[i["status"]]
            if i["status"] in ("not_pooled", "single_study"):
                label += ": " + "; ".join(i["reasons"])
            label = ("[red]AGAINST the claim[/red] · " if i["against"] else "") + escape(label)
            est = (f"{i['effect_measure']} " + fmt_evidence(i["estimate"], i["ci_low"], i["ci_high"]) + " "
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


# ------------------------------------------------------------------------------------- models


def print_models(doc: dict[str, Any], bootstrap: int, out_dir: str) -> None:
    """The trained models (performance, optimism-corrected) and what each is used for."""
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


def print_decision(doc: dict[str, Any]) -> None:
    """One patient's decision support: red flags, guideline criteria, expected outcomes per option."""
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


# ------------------------------------------------------------------------------------- admin


def print_audit(result: Any) -> None:
    """The audit chain's verification: intact, or every bad row (up to the result's list)."""
    if result.ok:
        console.print(f"audit chain intact: {result.n_rows:,} rows checked, ok", highlight=False)
        return
    console.print(f"[red]audit chain BROKEN:[/red] {result.n_rows:,} rows checked, {result.n_bad:,} bad",
                  highlight=False)
    for bad in result.bad_rows:
        console.print(f"  row {bad.id}: {bad.reason}", highlight=False)
    if result.n_bad > len(result.bad_rows):
        console.print(f"  … and {result.n_bad - len(result.bad_rows):,} more", highlight=False)


def print_users(users: list[dict[str, Any]]) -> None:
    """The staff accounts: role, site, status, password state, last sign-in."""
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
