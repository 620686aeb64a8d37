"""What the ``spinetrack`` commands share: their common options, the settings (read here, at the
edge, from the environment), the database, the snapshot an analysis reads, and how bad input
ends a command (exit status 2, the message on stderr or as JSON).
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from spinetrack.cli.render import console
from spinetrack.config import Settings
from spinetrack.errors import SpinetrackError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as Database

__all__ = [
    "DbOpt",
    "EngineOpt",
    "JsonOpt",
    "SnapOpt",
    "database",
    "fail",
    "fail_stderr",
    "settings_for",
    "snapshot_or_export",
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="Overrides SPINETRACK_DATABASE_URL.")]
EngineOpt = Annotated[str | None, typer.Option("--engine",
                                               help="duckdb (default) or spark; overrides SPINETRACK_ENGINE.")]
SnapOpt = Annotated[str | None, typer.Option(
    "--snapshot", help="Snapshot directory (spinetrack snapshot). Default: export a fresh, rekeyed snapshot of the "
                       "database to a temporary directory.")]


def settings_for(database_url: str | None) -> Settings:
    """The settings from the environment, with ``--database-url`` over ``SPINETRACK_DATABASE_URL``."""
    s = Settings()
    return s.model_copy(update={"database_url": database_url}) if database_url else s


def fail(exc: SpinetrackError, as_json: bool) -> NoReturn:
    """Report bad input (JSON on stdout when asked, else the message on stderr) and exit with status 2."""
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


def emit_document(doc: dict[str, Any], out: str | None, as_json: bool) -> bool:
    """Write a command's JSON document to ``out`` (when given) and print it with ``--json``;
    returns whether it was printed (the caller prints its table otherwise)."""
    text = json.dumps(doc, allow_nan=False)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    if as_json:
        typer.echo(text)
    return as_json


def fail_stderr(exc: SpinetrackError, as_json: bool) -> NoReturn:
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


def database(settings: Settings) -> Database:
    """The store's SQLAlchemy engine, its schema brought up to date."""
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def snapshot_or_export(stack: ExitStack, settings: Settings, snapshot_dir: str | None) -> str:
    """``snapshot_dir``, or a fresh rekeyed snapshot of the database in a temporary directory
    that ``stack`` removes on exit."""
    import secrets
    import tempfile

    if snapshot_dir is not None:
        return snapshot_dir
    from spinetrack.snapshot import export_snapshot

    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="spinetrack-snapshot-"))
    db = database(settings)
    try:
        export_snapshot(db, f"{tmp}/snap", rekey_secret=secrets.token_hex(16))
    finally:
        db.dispose()
    return f"{tmp}/snap"
