"""The data commands: ``init`` (the schema), ``demo`` (the synthetic cohort), ``status`` (what the
store holds), ``score`` (one questionnaire response) and ``snapshot`` (the pseudonymised export).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from spinetrack.cli.common import DbOpt, JsonOpt, database, fail, fail_stderr, settings_for
from spinetrack.cli.render import console, print_demo_logins, print_score, print_status, progress_bar
from spinetrack.config import Settings
from spinetrack.errors import SpinetrackError

__all__ = ["demo", "init", "score", "snapshot", "status"]


def init(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Create the database (or bring its schema up to date)."""
    from spinetrack.store.migrate import current_revision

    settings = settings_for(database_url)
    engine = database(settings)
    rev = current_revision(engine)
    if as_json:
        typer.echo(json.dumps({"database_url": engine.url.render_as_string(hide_password=True),
                               "schema_revision": rev}))
    else:
        console.print(f"database ready at {engine.url.render_as_string(hide_password=True)} (schema {rev})")
    engine.dispose()


def demo(
    patients: Annotated[int, typer.Option(help="Number of synthetic patients.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical data.")] = 7,
    sites: Annotated[int, typer.Option(
        help="Spread the patients over this many sites: the 3 demo clinics, or up to 99 for a registry (from 8 on, "
             "DEMO-05 is a planted under-performing and DEMO-08 an over-performing site, for spinetrack benchmark)."
    )] = 3,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing if the database holds patients.")] = False,
    logins: Annotated[bool, typer.Option("--logins/--no-logins",
                                         help="Create the demo logins and synthetic patient names.")] = True,
    truth_out: Annotated[Path | None, typer.Option(
        "--truth-out", help="Write the true effect of every comparison and claim (overlap population 'ato' and "
                            "whole population 'ate', from each patient's outcomes under both options) as JSON.")
    ] = None,
    fixed_dates: Annotated[bool, typer.Option(
        "--fixed-dates", help="Keep the generator's own calendar (enrolment 2018-2022, every follow-up complete; "
                              "the same rows whatever the date) instead of dating the cohort relative to today.")
    ] = False,
    followup: Annotated[bool, typer.Option(
        "--followup/--no-followup", help="After loading a cohort dated relative to today, run the follow-up "
                                         "scheduler once (visits due, reminders, the outbox).")] = True,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fill the database with a reproducible synthetic cohort (planted, documented effects), dated
    relative to today (SPINETRACK_TODAY or the system date) unless --fixed-dates."""
    from spinetrack import clock
    from spinetrack.synth.demo_access import DEMO_PASSWORD, seed_demo_access
    from spinetrack.synth.load import ENROL_LAG_DAYS, load_demo

    settings = settings_for(database_url)
    if settings.env == "production":  # before anything is written: production holds no demo content
        from spinetrack.errors import ConfigurationError

        fail(ConfigurationError("spinetrack demo is refused when SPINETRACK_ENV=production (demo accounts and "
                                "synthetic patients never go into a production database)"), as_json)
    engine = database(settings)
    show = not as_json and sys.stderr.isatty()
    today = clock.today()
    relative_to = None if fixed_dates else today
    truth = None
    if truth_out is not None:
        from spinetrack.synth.truth import Truth

        truth = Truth()
    followup_report: dict[str, Any] | None = None
    try:
        if show:
            with progress_bar("synthetic cohort") as bar:
                task = bar.add_task("patients", total=patients)
                result = load_demo(engine, patients=patients, seed=seed, if_empty=if_empty,
                                   progress=lambda n: bar.advance(task, n), truth=truth, relative_to=relative_to,
                                   sites=sites)
        else:
            result = load_demo(engine, patients=patients, seed=seed, if_empty=if_empty, truth=truth,
                               relative_to=relative_to, sites=sites)
        if truth is not None and truth_out is not None and not result.skipped:
            truth.write(truth_out)
        accounts = seed_demo_access(engine, env=settings.env, today=today) if logins else []
        if followup and relative_to is not None and not result.skipped:
            followup_report = _demo_followup(engine, settings, today)
    except SpinetrackError as exc:
        fail(exc, as_json)
    finally:
        engine.dispose()
    out: dict[str, Any] = {"patients": result.patients, "prom_responses": result.responses, "seed": result.seed,
                           "skipped": result.skipped, "dated_to": None if relative_to is None else today.isoformat()}
    if accounts:
        out["logins"] = {"password": DEMO_PASSWORD, "users": accounts}
    if truth_out is not None and not result.skipped:
        out["truth_out"] = str(truth_out)
    if followup_report is not None:
        out["followup"] = followup_report
    if as_json:
        typer.echo(json.dumps(out))
        return
    if result.skipped:
        console.print("database already holds patients: demo cohort not loaded (--if-empty)"
                      + (" and no truth written" if truth_out is not None else ""))
    else:
        dated = (f"dated to {today.isoformat()}: enrolment ends {ENROL_LAG_DAYS} days before, later follow-up not yet "
                 "collected" if relative_to is not None else "fixed dates, enrolment 2018-2022")
        console.print(f"loaded {result.patients} synthetic patients ({result.responses} PROM responses), seed {seed}, "
                      f"{dated}", highlight=False)
    if followup_report is not None:
        if followup_report.get("available", True):
            counts = {k: v for k, v in followup_report.items() if isinstance(v, int) and not isinstance(v, bool)}
            console.print("follow-up scheduler run once: " + ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in counts.items()), highlight=False)
        else:
            console.print(f"follow-up scheduler not run: {followup_report['reason']}", highlight=False)
    if accounts:
        print_demo_logins(DEMO_PASSWORD, accounts)


def _demo_followup(engine: Any, settings: Settings, today: dt.date) -> dict[str, Any]:
    """Run the follow-up scheduler once on the freshly loaded demo, at the current time of day on
    ``today``, so that visits are open, due and missed and the outbox holds the messages (held
    when no channel is configured). Its report as a dict."""
    import importlib

    from spinetrack import clock
    from spinetrack.store.repositories import Store

    # The scheduler (spinetrack.followup) is built alongside this command (issue 18); until the
    # package exists the demo says so instead of failing.
    try:
        followup = importlib.import_module("spinetrack.followup")
    except ModuleNotFoundError as exc:
        if exc.name != "spinetrack.followup":
            raise
        followup = None
    if followup is None or not hasattr(followup, "run") or not hasattr(followup, "channels_from_settings"):
        return {"available": False, "reason": "spinetrack.followup.run is not in this version yet"}
    from sqlalchemy import select

    from spinetrack.store.repositories import SYSTEM
    from spinetrack.store.tables import SiteRow, SiteScheduleRow
    from spinetrack.synth.demo_access import demo_schedule_entries
    from spinetrack.synth.load import DEMO_SITES

    store = Store(engine)
    now = dt.datetime.combine(today, clock.utcnow().time())
    schedule = importlib.import_module("spinetrack.followup.schedule")
    with engine.connect() as c:  # demo clinics without a schedule of their own get the demo's
        site_ids = c.execute(select(SiteRow.id).where(SiteRow.code.in_([code for code, _, _ in DEMO_SITES]),
                                                      ~select(SiteScheduleRow.site_id).where(
                                                          SiteScheduleRow.site_id == SiteRow.id).exists())
                             ).scalars().all()
    for site_id in site_ids:
        schedule.set_site_schedule(store, SYSTEM, site_id, demo_schedule_entries(), now=now)
    report = followup.run(store, now=now, channels=followup.channels_from_settings(settings),
                          link_base=settings.link_base())
    return dict(report.as_dict())


def status(
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    as_of: Annotated[str | None, typer.Option(help="Date for follow-up completeness (YYYY-MM-DD); default today.")
                     ] = None,
) -> None:
    """Counts of patients, episodes, procedures by approach, PROM responses, follow-up completeness."""
    from spinetrack.store.status import compute_status

    settings = settings_for(database_url)
    engine = database(settings)
    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        from spinetrack.errors import ValidationError

        fail(ValidationError(field="as_of", value=as_of, allowed="a date as YYYY-MM-DD"), as_json)
    s = compute_status(engine, as_of=day)
    engine.dispose()
    if as_json:
        typer.echo(json.dumps(s, indent=2, sort_keys=True))
        return
    print_status(s)


def score(
    instrument: Annotated[str, typer.Argument(help="Instrument code, e.g. odi, eq5d5l, comi_back.")],
    answers: Annotated[str | None, typer.Option("--answers", help="JSON object of item code → value.")] = None,
    value_set: Annotated[str | None, typer.Option("--value-set", help="EQ-5D-5L value set, e.g. England.")] = None,
    questionnaire: Annotated[bool, typer.Option("--questionnaire", help="Print the FHIR R4 Questionnaire.")] = False,
    wording: Annotated[str | None, typer.Option("--wording", help="Licensed wording pack (JSON file).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score one response with an instrument, or print the instrument's FHIR Questionnaire."""
    from spinetrack import instruments
    from spinetrack.errors import ValidationError

    try:
        inst = instruments.get(instrument)
        if questionnaire:
            from spinetrack.instruments.wording import load_wording_pack
            from spinetrack.interop.questionnaire import to_questionnaire

            pack_path = wording or Settings().wording_pack
            pack = load_wording_pack(pack_path) if pack_path else None
            typer.echo(json.dumps(to_questionnaire(inst, pack.for_instrument(instrument) if pack else None),
                                  indent=2, ensure_ascii=False))
            return
        if answers is None:
            raise ValidationError(field="answers", value=None, allowed="a JSON object of item code → value",
                                  reason="--answers is required unless --questionnaire")
        try:
            data = json.loads(answers)
        except json.JSONDecodeError as exc:
            raise ValidationError(field="answers", value=answers, allowed="a JSON object of item code → value",
                                  reason=f"not JSON: {exc.msg}") from None
        options: dict[str, Any] = {}
        if value_set is not None:
            if instrument != "eq5d5l":
                raise ValidationError(field="value_set", value=value_set, allowed="only with eq5d5l")
            options["value_set"] = value_set
        result = inst.score(data, **options)
    except SpinetrackError as exc:
        fail_stderr(exc, as_json)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    print_score(f"{inst.definition.title} ({inst.definition.version})", result.as_dict())


def snapshot(
    out: Annotated[str, typer.Option("--out", help="Directory to write (new or empty).")],
    rekey: Annotated[str | None, typer.Option(
        "--rekey", envvar="SPINETRACK_SNAPSHOT_SECRET", show_envvar=True,
        help="Secret (16+ characters) for HMAC-rekeyed patient and episode keys; the export then cannot be "
             "linked back to the store without it.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty directory.")] = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export pseudonymised analysis tables (Parquet) and a manifest: no names, contacts, free text or dates."""
    from spinetrack.snapshot import TABLES, export_snapshot

    settings = settings_for(database_url)
    engine = database(settings)
    show = not as_json and sys.stderr.isatty()
    try:
        if show:
            with progress_bar("{task.description:<14}") as bar:
                tasks = {t: bar.add_task(t, total=None) for t in TABLES}

                def progress(table: str, done: int, total: int) -> None:
                    bar.update(tasks[table], completed=done, total=total)

                result = export_snapshot(engine, out, rekey_secret=rekey, overwrite=overwrite, progress=progress)
        else:
            result = export_snapshot(engine, out, rekey_secret=rekey, overwrite=overwrite)
    except SpinetrackError as exc:
        fail(exc, as_json)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.manifest, indent=2))
        return
    counts = ", ".join(f"{t} {n:,}" for t, n in result.row_counts.items())
    console.print(f"snapshot written to {result.path} ({'rekeyed' if result.manifest['rekeyed'] else 'store keys'}): "
                  f"{counts}", highlight=False)
