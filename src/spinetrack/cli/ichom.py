"""``spinetrack ichom [--json]``: each variable of the ICHOM Low Back Pain Standard Set → spinetrack's
field, and its completeness per timepoint on this database (:mod:`spinetrack.store.ichom`;
the mapping is :mod:`spinetrack.domain.ichom`, explained in docs/ichom.md)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer

from spinetrack.cli.common import DbOpt, JsonOpt, database, fail, settings_for

__all__ = ["ichom", "print_ichom"]


def ichom(
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    as_of: Annotated[str | None, typer.Option(help="Date for completeness (YYYY-MM-DD); default today.")] = None,
    site: Annotated[int | None, typer.Option(help="Only this site's episodes (site id).")] = None,
) -> None:
    """The ICHOM Low Back Pain set: each variable → our field, and its completeness per timepoint."""
    from spinetrack import clock
    from spinetrack.errors import ValidationError
    from spinetrack.store.ichom import ichom_completeness

    try:
        day = dt.date.fromisoformat(as_of) if as_of else clock.today()
    except ValueError:
        fail(ValidationError(field="as_of", value=as_of, allowed="a date as YYYY-MM-DD"), as_json)
    engine = database(settings_for(database_url))
    try:
        doc = ichom_completeness(engine, as_of=day, site_id=site)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    print_ichom(doc)


def _pct(cell: dict[str, Any] | None, eligible: int) -> str:
    """``responded (share)``; with ``/eligible`` when it differs from the timepoint's."""
    if not cell:
        return ""
    c = cell["completeness"]
    n = str(cell["responded"]) + ("" if cell["eligible"] == eligible else f"/{cell['eligible']}")
    return n + ("" if c is None else f" ({c:.0%})")


def print_ichom(doc: dict[str, Any]) -> None:
    """The mapping and completeness as a Rich table, then the complications table."""
    from rich.console import Console
    from rich.table import Table

    out = Console()
    tps = doc["timepoints"]
    t = Table(title=f"ICHOM Low Back Pain Standard Set → spinetrack: responded (share of eligible) on {doc['as_of']}")
    t.add_column("variable")
    t.add_column("our field")
    t.add_column("match")
    for tp in tps:
        t.add_column(f"{tp['code']}{'' if tp['ichom'] == 'required' else ' opt.'}\nn={tp['eligible']}",
                     justify="right")
    for v in doc["variables"]:
        if "completeness" not in v:
            continue
        name = v["key"] if v["ichom"] else f"{v['key']} \\[ours]"
        t.add_row(name, v["field"], v["match"],
                  *(_pct(v["completeness"].get(tp["code"]), tp["eligible"]) for tp in tps))
    out.print(t)
    c = Table(title="ICHOM complications → spinetrack (operated episodes with the event)")
    for col in ("complication", "categories / grades", "episodes", "of operated"):
        c.add_column(col, justify="right" if col in ("episodes", "of operated") else "left")
    for v in doc["variables"]:
        ev = v.get("events")
        if ev is None:
            continue
        what = ", ".join([*ev["categories"], *(f"Clavien-Dindo {g}" for g in ev["grades"])]
                         + (["readmissions"] if ev["readmission"] else []))
        if ev["approximate_categories"]:
            what += f" (approximate: {', '.join(ev['approximate_categories'])})"
        c.add_row(v["key"], what, str(ev["episodes_with_event"]), str(ev["operated_episodes"]))
    out.print(c)
    out.print("Notes: EQ-5D is collected as the 5L (ICHOM names the 3L); work status and analgesic use are "
              "spinetrack's own questions; ICHOM's case-mix list was not retrieved (\\[ours] = spinetrack's "
              "baseline fields). See docs/ichom.md.")
