"""``spinetrack wording``: the licensed questionnaire wording a site installs.

``wording import SOURCE --format redcap|fhir --instrument CODE --language LANG --name … --licence …``
    builds a wording pack from the REDCap data dictionary or FHIR Questionnaire the site is
    licensed to use (:mod:`spinetrack.interop.wording_import`): questions matched to our items by
    order, answers to our options by value; every mismatch is reported on stderr and the command
    exits with status 2 (nothing written or installed) unless ``--allow-mismatch``. ``--out`` writes
    the pack (JSON), ``--install`` installs it.
``wording install FILE``   validates (every problem listed at once) and installs a pack.
``wording list``           the installed packs and, per instrument and language, what a patient reads.

Bad input (an unreadable file, an unknown instrument, a pack with problems) exits with status 2,
the message on stderr (``--json``: as JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spinetrack.cli.common import DbOpt, JsonOpt, database, fail_stderr, settings_for
from spinetrack.cli.render import console
from spinetrack.errors import SpinetrackError, ValidationError

__all__ = ["wording_app"]

wording_app = typer.Typer(help="Questionnaire wording: import, install and list licensed wording packs.",
                          no_args_is_help=True)

ACTOR_NAME = "cli:wording"


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValidationError(field=what, value=str(path), allowed="a readable file", reason="file not found") from None
    except UnicodeDecodeError:
        raise ValidationError(field=what, value=str(path), allowed="UTF-8 text", reason="not UTF-8 text") from None
    except OSError as exc:
        raise ValidationError(field=what, value=str(path), allowed="a readable file", reason=str(exc)) from None


def _install(data: dict[str, object], database_url: str | None) -> dict[str, object]:
    from spinetrack.store import wording as store_wording
    from spinetrack.store.repositories import Actor, Store

    settings = settings_for(database_url)
    engine = database(settings)
    try:
        store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
        return store_wording.install_pack(store, Actor(ACTOR_NAME, "system"), data).as_dict()
    finally:
        engine.dispose()


@wording_app.command("import")
def wording_import(
    source: Annotated[Path, typer.Argument(help="REDCap data dictionary (CSV) or FHIR Questionnaire (JSON).")],
    fmt: Annotated[str, typer.Option("--format", help="redcap or fhir.")],
    instrument: Annotated[str, typer.Option("--instrument", help="Instrument code, e.g. odi, eq5d5l.")],
    language: Annotated[str, typer.Option("--language", help="Language of the wording, e.g. es, en-GB.")],
    name: Annotated[str, typer.Option("--name", help="The pack's name, e.g. 'ODI 2.1a Spanish, Example Hospital'.")],
    licence: Annotated[str, typer.Option("--licence", help="The licence under which the site uses the wording.")],
    title: Annotated[str | None, typer.Option("--title", help="The questionnaire's title for patients.")] = None,
    form: Annotated[str | None, typer.Option("--form", help="REDCap: only the fields of this form.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the pack (JSON) here.")] = None,
    install: Annotated[bool, typer.Option("--install", help="Install the pack in the database.")] = False,
    allow_mismatch: Annotated[bool, typer.Option(
        "--allow-mismatch", help="Keep what matched even when something does not (still reported).")] = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a wording pack from a REDCap data dictionary or a FHIR Questionnaire."""
    from spinetrack.instruments.wording import parse_wording_pack
    from spinetrack.interop.wording_import import describe, import_wording

    try:
        result = import_wording(_read(source, "SOURCE"), fmt, instrument=instrument, name=name, language=language,
                                licence=licence, title=title, form=form)
        if result.problems and not allow_mismatch:
            raise ValidationError(field=str(source), value=f"{len(result.problems)} mismatch(es)",
                                  allowed=f"a questionnaire matching {instrument} item by item",
                                  reason="nothing written or installed:\n" + describe(result.problems))
        pack = parse_wording_pack(result.pack)
        installed = _install(result.pack, database_url) if install else None
    except SpinetrackError as exc:
        fail_stderr(exc, as_json)
    if out is not None:
        out.write_text(json.dumps(result.pack, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if as_json:
        payload = result.as_dict()
        payload["sha256"] = pack.sha256
        payload["installed"] = installed
        typer.echo(json.dumps(payload, ensure_ascii=False, default=str))
        return
    console.print(f"matched {len(result.matched)} item(s) of {instrument}: "
                  + ", ".join(f"{a} ← {b}" for a, b in result.matched), highlight=False)
    if result.skipped:
        console.print("left out: " + ", ".join(result.skipped), highlight=False)
    if result.problems:
        console.print(f"{len(result.problems)} mismatch(es), kept out of the pack:\n{describe(result.problems)}",
                      highlight=False)
    if out is not None:
        console.print(f"pack written to {out} (sha256 {pack.sha256})", highlight=False)
    elif not install:
        typer.echo(json.dumps(result.pack, ensure_ascii=False, indent=2))
    if installed is not None:
        console.print(f"installed as pack {installed['id']}", highlight=False)


@wording_app.command("install")
def wording_install(
    file: Annotated[Path, typer.Argument(help="A wording pack (JSON).")],
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a wording pack (every problem listed at once) and install it."""
    try:
        try:
            data = json.loads(_read(file, "FILE"))
        except json.JSONDecodeError as exc:
            raise ValidationError(field="FILE", value=str(file), allowed="valid JSON",
                                  reason=f"line {exc.lineno}: {exc.msg}") from None
        installed = _install(data, database_url)
    except SpinetrackError as exc:
        fail_stderr(exc, as_json)
    if as_json:
        typer.echo(json.dumps(installed, default=str))
        return
    typer.echo(f"installed pack {installed['id']}: {installed['name']} ({installed['language']}), "
               f"instruments {', '.join(installed['instruments'])}")  # type: ignore[arg-type]


@wording_app.command("list")
def wording_list(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The installed packs, and per instrument and language what a patient reads: licensed wording,
    spinetrack's own wording, or numbered demonstration labels."""
    from spinetrack.store import wording as store_wording
    from spinetrack.store.repositories import Store

    settings = settings_for(database_url)
    try:
        engine = database(settings)
        try:
            store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
            store_wording.configure(store, production=settings.env == "production", file_pack=settings.wording_pack)
            packs = store_wording.list_packs(store)
            grid = store_wording.coverage(store)
        finally:
            engine.dispose()
    except SpinetrackError as exc:
        fail_stderr(exc, as_json)
    if as_json:
        typer.echo(json.dumps({"packs": [p.as_dict() for p in packs],
                               "coverage": {code: {lang: {"source": src, "pack": name} for lang, (src, name)
                                                   in by_lang.items()} for code, by_lang in grid.items()}},
                              default=str))
        return
    from rich.console import Console
    from rich.table import Table

    stdout = Console()
    t = Table(title="installed wording packs")
    for col in ("id", "name", "language", "instruments", "active", "uploaded"):
        t.add_column(col)
    for p in packs:
        t.add_row(str(p.id), p.name, p.language, ", ".join(p.instruments), "yes" if p.active else "no",
                  f"{p.uploaded_at:%Y-%m-%d} by {p.uploaded_by}" if p.uploaded_at else p.uploaded_by)
    stdout.print(t if packs else "no wording pack installed", highlight=False)
    g = Table(title="what a patient reads")
    g.add_column("instrument")
    langs = sorted({lang for by_lang in grid.values() for lang in by_lang})
    for lang in langs:
        g.add_column(lang)
    for code, by_lang in grid.items():
        g.add_row(code, *(f"{by_lang[lang][0]}" + (f" ({by_lang[lang][1]})" if by_lang[lang][1] else "")
                          for lang in langs))
    stdout.print(g, highlight=False)
