"""``spinetrack import``: patients and their records from CSV templates, a REDCap export or FHIR
files (a transaction Bundle or Bulk NDJSON), validated in full before anything is stored.

Exit status: 0 imported (or a clean dry run); 2 bad input — any invalid record without
``--partial`` (nothing stored), files that do not follow the templates, a mapping that does not
fit; 1 a ``--partial`` import that stored the valid records and refused some (listed in the
rejects file). Formats and columns: ``docs/import.md``.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from spinetrack.cli.common import DbOpt, JsonOpt, database, fail_stderr, settings_for
from spinetrack.cli.render import progress_bar
from spinetrack.errors import InputError, SpinetrackError, ValidationError

__all__ = ["import_data"]

FORMATS = ("csv", "redcap", "fhir")


def _source(fmt: str, files: list[Path], mapping: Path | None, dictionary: Path | None) -> Any:
    """The format's re-iterable record source (with ``files``: name → SHA-256, ``rows``)."""
    if fmt == "csv":
        from spinetrack.interop.imports.csv_format import read_csv

        return read_csv(files)
    if fmt == "redcap":
        from spinetrack.interop.imports.redcap import read_redcap

        if len(files) != 1 or mapping is None or dictionary is None:
            raise ValidationError(field="redcap", value=[str(f) for f in files],
                                  allowed="one records export with --dictionary DICT and --mapping MAP")
        return read_redcap(files[0], dictionary=dictionary, mapping=mapping)
    from spinetrack.interop.imports.fhir_import import read_fhir

    return read_fhir(files)


def _default_source_name(fmt: str, files: list[Path], src: Any) -> str:
    """A stable default: the same files (folder) give the same source system, so re-importing them
    updates instead of duplicating. ``--source`` is better: it survives a renamed folder."""
    named = getattr(getattr(src, "mapping", None), "source_system", None) or getattr(src, "source_system", None)
    if named:
        return str(named)
    first = files[0].resolve()
    return f"{fmt}:{first.parent.name if fmt == 'csv' else first.stem}"


def import_data(
    files: Annotated[list[Path], typer.Argument(help="The files to import (CSV templates, REDCap export, "
                                                     "FHIR Bundle JSON or NDJSON files).", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="csv, redcap or fhir.")] = "csv",
    mapping: Annotated[Path | None, typer.Option("--mapping", help="REDCap: the mapping file (JSON or YAML).")
                       ] = None,
    dictionary: Annotated[Path | None, typer.Option("--dictionary", help="REDCap: the project's data dictionary "
                                                                         "(CSV).")] = None,
    site: Annotated[str | None, typer.Option("--site", help="Put every patient under this existing site (code).")
                    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="Name of the source system (re-importing the "
                                                               "same source updates instead of duplicating).")
                      ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and count; store nothing.")] = False,
    partial: Annotated[bool, typer.Option("--partial", help="Store the valid records; write the rest to --rejects.")
                       ] = False,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="With --partial: CSV file for the refused "
                                                                  "records and why.")] = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import patients and their records from CSV, REDCap or FHIR files, with a validation report."""
    from spinetrack.interop.imports.report import print_report, report_json, write_rejects
    from spinetrack.store.imports import write_records
    from spinetrack.store.repositories import Actor, Store

    try:
        if fmt not in FORMATS:
            raise ValidationError(field="format", value=fmt, allowed=FORMATS)
        if partial and rejects is None:
            raise ValidationError(field="rejects", value=None, allowed="a file name for the refused records",
                                  reason="--partial needs --rejects FILE")
        if partial and dry_run:
            raise ValidationError(field="partial", value=True, allowed="--partial or --dry-run, not both")
        src = _source(fmt, files, mapping, dictionary)
        name = source or _default_source_name(fmt, files, src)
        settings = settings_for(database_url)
        engine = database(settings)
        try:
            store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
            actor = Actor(f"cli:{getpass.getuser()}"[:64], "system")  # audited under the operating-system user
            total = int(getattr(src, "rows", 0)) or None
            show = not as_json and (total or 0) >= 10_000
            kwargs: dict[str, Any] = {"source_system": name, "records": src, "partial": partial, "dry_run": dry_run,
                                      "site_code": site, "files": dict(getattr(src, "files", {}))}
            if show:
                with progress_bar("{task.description:<10}") as bar:
                    tasks = {"check": bar.add_task("checking", total=2 * (total or 0)),
                             "write": bar.add_task("writing", total=total)}
                    result = write_records(store, actor, **kwargs,
                                           progress=lambda phase, n: bar.update(tasks[phase], advance=n))
            else:
                result = write_records(store, actor, **kwargs)
        finally:
            engine.dispose()
            if hasattr(src, "close"):
                src.close()
    except (InputError, SpinetrackError) as exc:
        fail_stderr(exc, as_json)
    if rejects is not None and result.errors:
        write_rejects(rejects, result)
    if as_json:
        typer.echo(json.dumps(report_json(result), indent=2, default=str))
    else:
        print_report(result)
        if rejects is not None and result.errors:
            typer.echo(f"rejects written to {rejects}", err=True)
    if result.n_errors:
        raise typer.Exit(code=1 if result.partial and not result.dry_run else 2)
