"""``spinetrack tokens``: API tokens for machine clients (FHIR and REST), see docs/api_tokens.md.

``tokens create --name N --role R [--site CODE] [--scope read --scope write ...] [--days 90] [--json]``
    creates a token and prints it once (only its hash is stored: copy it now). Clinic roles
    (clinician, coordinator) need ``--site``; researcher and admin tokens have none. Scopes:
    ``read`` (default), ``write``, ``export``.
``tokens list [--json]``   every token: name, role, site, scopes, created, expires, last used, revoked.
``tokens revoke ID``       revokes a token at once.

Run by the operator of the server (actor ``cli:tokens``); every change is audited. Bad input
exits with status 2, the message on stderr (``--json``: as JSON).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from spinetrack.cli.common import DbOpt, JsonOpt, database, fail_stderr, settings_for
from spinetrack.cli.render import console
from spinetrack.errors import SpinetrackError

__all__ = ["tokens_app"]

tokens_app = typer.Typer(help="API tokens for machine clients (FHIR and REST).", no_args_is_help=True)

ACTOR_NAME = "cli:tokens"


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option("--name", help="What uses the token, e.g. 'registry upload'.")],
    role: Annotated[str, typer.Option("--role", help="clinician, coordinator, researcher or admin.")],
    site: Annotated[str | None, typer.Option("--site", help="Site code (clinician and coordinator tokens).")] = None,
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", help="read, write or export; repeat for several (default: read).")] = None,
    days: Annotated[int, typer.Option("--days", help="Days until it expires (1 to 365).")] = 90,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token and print it once."""
    from spinetrack.store import tokens
    from spinetrack.store.repositories import Actor, Store

    settings = settings_for(database_url)
    try:
        engine = database(settings)
        try:
            store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
            site_id = tokens.site_id_for(store, site) if site else None
            token_id, token = tokens.create_token(store, Actor(ACTOR_NAME, "system"), name=name, role=role,
                                                  site_id=site_id, scopes=scope or ["read"], days=days)
            info = next(t for t in tokens.list_tokens(store, Actor(ACTOR_NAME, "system")) if t.id == token_id)
        finally:
            engine.dispose()
    except SpinetrackError as exc:
        fail_stderr(exc, as_json)
    if as_json:
        typer.echo(json.dumps({**info.as_dict(), "token": token}))
        return
    console.print(f"API token {token_id} ({info.name}): role {info.role}"
                  + (f", site {info.site_code}" if info.site_code else "")
                  + f", scopes {', '.join(info.scopes)}, expires {info.expires_at:%Y-%m-%d %H:%M} UTC", highlight=False)
    console.print("Copy it now: it is shown only once (only its hash is kept).", highlight=False)
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Every API token (never the token itself, which is not stored)."""
    from spinetrack.store import tokens
    from spinetrack.store.repositories import Actor, Store

    settings = settings_for(database_url)
    try:
        engine = database(settings)
        try:
            items = tokens.list_tokens(Store(engine, eq5d_value_set=settings.eq5d_value_set),
                                       Actor(ACTOR_NAME, "system"))
        finally:
            engine.dispose()
    except SpinetrackError as exc:
        fail_stderr(exc, as_json)
    if as_json:
        typer.echo(json.dumps({"tokens": [t.as_dict() for t in items]}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="API tokens")
    for col in ("id", "name", "role", "site", "scopes", "created", "expires", "last used", "state"):
        table.add_column(col)
    for t in items:
        table.add_row(str(t.id), t.name, t.role, t.site_code or "—", ", ".join(t.scopes),
                      f"{t.created_at:%Y-%m-%d} by {t.created_by}", f"{t.expires_at:%Y-%m-%d}",
                      f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
                      t.state() + (f" ({t.revoked_at:%Y-%m-%d} by {t.revoked_by})" if t.revoked_at else ""))
    Console().print(table if items else "no API tokens", highlight=False)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="The token's number (tokens list).")],
                  database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Revoke an API token at once."""
    from spinetrack.store import tokens
    from spinetrack.store.repositories import Actor, Store

    settings = settings_for(database_url)
    try:
        engine = database(settings)
        try:
            tokens.revoke_token(Store(engine, eq5d_value_set=settings.eq5d_value_set), Actor(ACTOR_NAME, "system"),
                                token_id)
        finally:
            engine.dispose()
    except SpinetrackError as exc:
        fail_stderr(exc, as_json)
    if as_json:
        typer.echo(json.dumps({"id": token_id, "revoked": True}))
    else:
        console.print(f"API token {token_id} revoked.", highlight=False)
