"""``spinetrack export``: pseudonymised research exports, OMOP CDM 5.4 (``omop``) and flat CSV (``csv``).

Thin: parse the options, call :func:`spinetrack.interop.omop.export_omop` or
:func:`spinetrack.interop.flat_csv.export_csv` with a Rich progress display, print the counts
(or ``--json``). Bad input exits 2 with the message on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from spinetrack.cli.common import DbOpt, JsonOpt, database, fail_stderr, settings_for
from spinetrack.cli.render import console, progress_bar
from spinetrack.errors import SpinetrackError

if TYPE_CHECKING:
    from rich.progress import TaskID
    from sqlalchemy import Engine

__all__ = ["export_app"]

export_app = typer.Typer(help="Export pseudonymised data for research: OMOP CDM 5.4 or flat CSV.", no_args_is_help=True)

RekeyOpt = Annotated[str | None, typer.Option(
    "--rekey", envvar="SPINETRACK_SNAPSHOT_SECRET", show_envvar=True,
    help="Secret (16+ characters) for HMAC-rekeyed patient keys (as spinetrack snapshot --rekey); the export then "
         "cannot be linked back to the store without it.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing export at --out.")]

Progress = Callable[[str, int, int], None]
R = TypeVar("R")


@contextmanager
def _progress(show: bool) -> Iterator[Progress | None]:
    """A Rich progress display (one bar per table) on stderr when it is a terminal, else nothing."""
    if not show:
        yield None
        return
    with progress_bar("{task.description:<22}") as bar:
        tasks: dict[str, TaskID] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=None)
            bar.update(tasks[table], completed=done, total=total or None)

        yield progress


def _run(database_url: str | None, as_json: bool, export: Callable[[Engine, Progress | None], R]) -> R:
    """Open the store, run ``export`` with a progress display on a terminal, close the store; bad
    input exits 2 with the message on stderr."""
    engine = database(settings_for(database_url))
    try:
        with _progress(not as_json and sys.stderr.isatty()) as progress:
            return export(engine, progress)
    except SpinetrackError as exc:
        fail_stderr(exc, as_json)
    finally:
        engine.dispose()


@export_app.command("omop")
def omop(
    out: Annotated[str, typer.Option("--out", help="A directory (one CSV per table), a FILE.duckdb, or a "
                                                   "postgresql://… URL (tables in --schema).")],
    vocabulary: Annotated[str | None, typer.Option(
        "--vocabulary", help="Athena vocabulary folder (CONCEPT.csv, CONCEPT_RELATIONSHIP.csv, VOCABULARY.csv; "
                             "tab-separated) to map source codes to concept ids; without it they are 0.")] = None,
    rekey: RekeyOpt = None,
    schema: Annotated[str, typer.Option("--schema", help="PostgreSQL schema for a postgresql:// --out.")] = "cdm",
    holder: Annotated[str | None, typer.Option(
        "--holder", help="cdm_source.cdm_holder: the institution holding the data (default: the site's name).")] = None,
    overwrite: OverwriteOpt = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export OMOP CDM 5.4 tables (PERSON, OBSERVATION_PERIOD, VISIT_OCCURRENCE, CONDITION_OCCURRENCE,
    PROCEDURE_OCCURRENCE, MEASUREMENT, OBSERVATION, DEATH, CDM_SOURCE): pseudonymised, year of birth only."""
    from spinetrack.interop.omop import export_omop

    result = _run(database_url, as_json, lambda engine, progress: export_omop(
        engine, out, vocabulary=vocabulary, rekey_secret=rekey, schema=schema, holder=holder, overwrite=overwrite,
        progress=progress))
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    counts = ", ".join(f"{t} {n:,}" for t, n in result.row_counts.items())
    console.print(f"OMOP CDM 5.4 written to {result.target} ({'rekeyed' if result.rekeyed else 'store ids'}, "
                  f"vocabulary {result.vocabulary_version}): {counts}", highlight=False)
    if "death" in result.empty_tables:
        console.print("DEATH is empty: no episode ended with end_reason 'died'.", highlight=False)


@export_app.command("csv")
def csv_export(
    out: Annotated[str, typer.Option("--out", help="Directory to write (new or empty).")],
    rekey: RekeyOpt = None,
    overwrite: OverwriteOpt = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export flat CSV tables (patients, episodes, procedures, complications, readmissions, reoperations,
    outcomes, prom_items) with a data dictionary, for R, Stata or SPSS: pseudonymised, no calendar dates."""
    from spinetrack.interop.flat_csv import export_csv

    result = _run(database_url, as_json, lambda engine, progress: export_csv(
        engine, out, rekey_secret=rekey, overwrite=overwrite, progress=progress))
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    counts = ", ".join(f"{t} {n:,}" for t, n in result.row_counts.items())
    console.print(f"CSV tables and data_dictionary.csv written to {result.path} "
                  f"({'rekeyed' if result.rekeyed else 'store keys'}): {counts}", highlight=False)
