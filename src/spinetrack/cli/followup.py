"""``spinetrack followup run``: one run of the follow-up scheduler (what ``spinetrack serve`` does
every ``SPINETRACK_FOLLOWUP_INTERVAL_MINUTES`` unless ``SPINETRACK_FOLLOWUP_AUTO=false``), for a
cron job or a systemd timer. Reads the channels and the public address from the settings here,
at the edge, and hands them to :func:`spinetrack.followup.run`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer

from spinetrack.cli.common import DbOpt, JsonOpt, database, fail, settings_for
from spinetrack.cli.followup_letters import followup_letters
from spinetrack.cli.render import console
from spinetrack.errors import SpinetrackError

__all__ = ["followup_app", "followup_run"]

followup_app = typer.Typer(help="Follow-up: schedule visits, send invitations and reminders.", no_args_is_help=True)

followup_app.command("letters")(followup_letters)

_LABELS = {"schedule": "scheduling visits", "open": "opening visits", "messages": "queueing messages",
           "send": "sending messages"}


@followup_app.command("run")
def followup_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compute and report; store and send nothing.")] = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Schedule every episode's visits, open those whose window has opened, queue and send their
    invitations and reminders, and stop the visits that are complete, closed or opted out.

    Safe to run while another run or ``spinetrack serve`` is running, and after a crash: a
    message is sent again only if a run died while sending it (at-least-once). Exit code 0, or 2
    on bad settings."""
    from spinetrack import clock, followup
    from spinetrack.store import wording
    from spinetrack.store.repositories import Store

    settings = settings_for(database_url)
    try:
        channels = followup.channels_from_settings(settings)
    except SpinetrackError as exc:
        fail(exc, as_json)
    engine = database(settings)
    try:
        store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
        wording.configure(store, production=settings.env == "production", file_pack=settings.wording_pack)
        now = dt.datetime.combine(clock.today(), clock.utcnow().time())  # SPINETRACK_TODAY: that day, now
        if not as_json and sys.stderr.isatty():
            from spinetrack.cli.render import progress_bar

            with progress_bar("{task.description:<18}", elapsed=True) as bar:
                tasks: dict[str, Any] = {}

                def show(stage: str, done: int, total: int | None) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(_LABELS.get(stage, stage), total=total)
                    bar.update(tasks[stage], completed=done, total=total)

                report = followup.run(store, now=now, channels=channels, link_base=settings.link_base(),
                                      dry_run=dry_run, progress=show)
        else:
            report = followup.run(store, now=now, channels=channels, link_base=settings.link_base(), dry_run=dry_run)
    except SpinetrackError as exc:
        fail(exc, as_json)
    finally:
        engine.dispose()
    out = report.as_dict()
    out["channels"] = sorted(channels.available()) if channels is not None else []
    if as_json:
        typer.echo(json.dumps(out, default=str))
        return
    from rich.table import Table

    t = Table(title="follow-up run" + (" (dry run: nothing stored or sent)" if dry_run else ""))
    t.add_column("")
    t.add_column("count", justify="right")
    for key, value in out.items():
        if isinstance(value, int) and not isinstance(value, bool):
            t.add_row(key.replace("_", " "), str(value))
    t.add_row("seconds", f"{report.seconds:.1f}")
    console.print(t)
    if channels is None:
        console.print("no channel configured (SPINETRACK_SMTP_URL, SPINETRACK_SMS_URL): messages are held in the "
                      "outbox", highlight=False)

from spinetrack.cli.followup_letters import followup_letters  # noqa: E402  (spinetrack followup letters)

followup_app.command("letters")(followup_letters)
