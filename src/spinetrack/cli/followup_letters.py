"""``spinetrack followup letters --out FILE.pdf``: print the queued follow-up letters as one PDF
(one page per patient, the link as a QR code and a short address) and mark them sent
(:func:`spinetrack.followup.letters.print_letters`). The public address comes from the settings,
read here at the edge.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from spinetrack.cli.common import DbOpt, JsonOpt, database, fail, settings_for
from spinetrack.cli.render import console
from spinetrack.errors import SpinetrackError

__all__ = ["followup_letters"]


def followup_letters(
    out: Annotated[Path, typer.Option("--out", help="The PDF to write (overwritten).", dir_okay=False)],
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the letters the scheduler queued (patients without e-mail or phone, or who prefer
    paper) whose visit is still open, one A4 page each, to the --out file, and mark them sent. A
    letter that can no longer go (no consent, opted out, no postal address) is cancelled and
    counted. With nothing to print no file is written. Exit code 0, or 2 on an error."""
    from spinetrack import clock
    from spinetrack.followup.letters import print_letters
    from spinetrack.store.repositories import Store

    settings = settings_for(database_url)
    engine = database(settings)
    try:
        store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
        now = dt.datetime.combine(clock.today(), clock.utcnow().time())  # SPINETRACK_TODAY: that day, now
        batch = print_letters(store, now=now, link_base=settings.link_base(), out=out)
    except SpinetrackError as exc:
        fail(exc, as_json)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(batch.as_dict()))
        return
    if batch.letters:
        console.print(f"{batch.letters} letter(s) on {batch.pages} page(s): {batch.path}", highlight=False)
    else:
        console.print("no letters to print", highlight=False)
    for reason, n in sorted(batch.reasons.items()):
        console.print(f"cancelled ({reason}): {n}", highlight=False)
