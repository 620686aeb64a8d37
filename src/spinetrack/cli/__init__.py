"""The ``spinetrack`` command line (Typer). Thin: parse, call one function, render.

One module per command group — :mod:`~spinetrack.cli.data` (init, demo, status, score,
snapshot), :mod:`~spinetrack.cli.serve`, :mod:`~spinetrack.cli.analysis` (analyze, report, pool,
evidence), :mod:`~spinetrack.cli.models` (models train/card, predict),
:mod:`~spinetrack.cli.admin` (audit, users) — what they share in :mod:`~spinetrack.cli.common`
(options, settings, exits), and what they print in :mod:`~spinetrack.cli.render`. This module
builds :data:`app`, registering the commands in the order ``spinetrack --help`` lists them.
"""

from __future__ import annotations

import typer

from spinetrack import __version__
from spinetrack.cli.admin import audit_app, users_app
from spinetrack.cli.analysis import analyze, evidence, pool, report
from spinetrack.cli.benchmark import benchmark
from spinetrack.cli.data import demo, init, score, snapshot, status
from spinetrack.cli.exporting import export_app
from spinetrack.cli.followup import followup_app
from spinetrack.cli.ichom import ichom
from spinetrack.cli.importing import import_data
from spinetrack.cli.models import models_app, predict
from spinetrack.cli.serve import serve
from spinetrack.cli.tokens import tokens_app
from spinetrack.cli.wording import wording_app

__all__ = ["app", "main"]

app = typer.Typer(help="spinetrack: outcomes, evidence and decision support for lower back pain treatment.",
                  no_args_is_help=True, add_completion=False)


def version() -> None:
    """Print the version."""
    typer.echo(__version__)


for _command in (init, demo, status, ichom, serve, score, snapshot, analyze, benchmark, report, pool, evidence,
                 predict, version):
    app.command()(_command)
app.command(name="import")(import_data)
app.add_typer(export_app, name="export")
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(followup_app, name="followup")
app.add_typer(wording_app, name="wording")


def main() -> None:
    app()
