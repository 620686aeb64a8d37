"""The validation report of an import: counts per record type, every problem with its file, line,
field, value and allowed values, as a Rich table for people, JSON for machines, and the rejects
file of a ``--partial`` import (CSV, one row per refused record, with the reason).

Computes nothing: everything comes from :class:`spinetrack.store.imports.ImportResult`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from spinetrack.store.imports import ENTITIES, ImportResult

__all__ = ["REJECT_COLUMNS", "SHOWN_ERRORS", "print_report", "report_json", "write_rejects"]

#: How many problems the human report lists (``--json`` lists them all).
SHOWN_ERRORS: Final = 25
#: The columns of the rejects file.
REJECT_COLUMNS: Final = ("location", "entity", "source_id", "field", "value", "allowed", "reason", "message")


def report_json(result: ImportResult) -> dict[str, Any]:
    """The whole report (every problem kept by the writer) as a JSON-ready document."""
    return result.as_dict()


def write_rejects(path: str | Path, result: ImportResult) -> int:
    """Write one CSV row per problem (the refused records and why); returns the rows written."""
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REJECT_COLUMNS)
        for p in result.errors:
            d = p.as_dict()
            w.writerow(["" if d[c] is None else d[c] for c in REJECT_COLUMNS])
    return len(result.errors)


def _verdict(result: ImportResult) -> str:
    if result.dry_run:
        return ("[yellow]dry run: nothing stored[/yellow]" + (
            f"; {result.n_errors} problem{'s' if result.n_errors != 1 else ''} to fix" if result.n_errors else
            "; every record is valid"))
    if result.n_errors and not result.partial:
        return (f"[red]nothing stored[/red]: {result.n_errors} record{'s are' if result.n_errors != 1 else ' is'} "
                "invalid (fix them, or import the valid ones with --partial --rejects FILE)")
    if result.n_errors:
        return f"[yellow]stored the valid records[/yellow]; {result.n_errors} refused (see the rejects file)"
    return "[green]imported[/green]"


def print_report(result: ImportResult, *, out: Console | None = None, err: Console | None = None,
                 shown: int = SHOWN_ERRORS) -> None:
    """Counts per record type (created / updated / unchanged / rejected) on ``out``; the verdict and
    the first ``shown`` problems on ``err`` (stderr), then "… and K more"."""
    out = out or Console()
    err = err or Console(stderr=True, width=140)
    label = "would be " if result.dry_run or (result.n_errors and not result.partial) else ""
    t = Table(title=f"import from {result.source_system}")
    t.add_column("record type")
    for col in ("created", "updated", "unchanged", "rejected"):
        t.add_column(f"{label}{col}" if col != "rejected" else col, justify="right")
    for entity in ENTITIES:
        c = result.counts[entity]
        if c.created or c.updated or c.unchanged or c.rejected:
            t.add_row(entity, str(c.created), str(c.updated), str(c.unchanged), str(c.rejected))
    tot = result.totals()
    t.add_row("[bold]total[/bold]", str(tot.created), str(tot.updated), str(tot.unchanged), str(tot.rejected))
    out.print(t)
    err.print(_verdict(result), highlight=False)
    if not result.errors:
        return
    e = Table(title="problems", show_lines=False)
    for col in ("where", "field", "value", "allowed", "why"):
        e.add_column(col, overflow="fold")
    for p in result.errors[:shown]:
        value = "(empty)" if p.value is None or p.value == "" else str(p.value)
        allowed = p.allowed if len(p.allowed) <= 80 else p.allowed[:77] + "…"
        e.add_row(p.location, p.field, value, allowed, p.reason or "")
    err.print(e)
    more = result.n_errors - min(shown, len(result.errors))
    if more > 0:
        err.print(f"… and {more} more (--json lists every problem; --partial --rejects FILE writes them to a file)",
                  highlight=False)
