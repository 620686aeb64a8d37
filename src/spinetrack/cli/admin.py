"""The administration commands: ``audit verify`` (the audit log's hash chain) and ``users``
(staff accounts: create, reset a password, list). Each acts as the system, under the
operating-system user's name, and is itself audited."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from spinetrack.cli.common import DbOpt, JsonOpt, database, fail, settings_for
from spinetrack.cli.render import console, print_audit, print_users, progress_bar
from spinetrack.config import Settings
from spinetrack.errors import SpinetrackError

__all__ = ["audit_app", "users_app"]

# ------------------------------------------------------------------------------------- audit

audit_app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Recompute the audit log's hash chain and list every row that does not fit.

    Exit code 0 when the chain is intact, 1 when any row is bad, 2 on an error. The verification
    is itself audited, under the operating-system user."""
    import getpass

    from spinetrack.store.queries import Queries
    from spinetrack.store.repositories import Actor, Store

    settings = settings_for(database_url)
    engine = database(settings)
    try:
        queries = Queries(Store(engine, eq5d_value_set=settings.eq5d_value_set))
        actor = Actor(f"cli:{getpass.getuser()}", "system")
        if not as_json and sys.stderr.isatty():
            with progress_bar("audit rows") as bar:
                task = bar.add_task("verify", total=None)
                result = queries.verify_audit_chain(
                    actor, progress=lambda done, total: bar.update(task, completed=done, total=total))
        else:
            result = queries.verify_audit_chain(actor)
    except SpinetrackError as exc:
        fail(exc, as_json)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        print_audit(result)
    if not result.ok:
        raise typer.Exit(code=1)


# ------------------------------------------------------------------------------------- users

users_app = typer.Typer(help="Staff accounts: create one (the owner sets the password with a one-time link), "
                             "reset a password, list accounts.", no_args_is_help=True)
BaseUrlOpt = Annotated[str | None, typer.Option(
    "--base-url", help="Address the staff reach the app at, for the link (default http://SPINETRACK_HOST:PORT).")]


def _with_access(settings: Settings, as_json: bool, work: Callable[[Any, Any], Any]) -> Any:
    """``work(access, actor)`` on the database, acting as the system under the operating-system
    user's name; a refused input ends the command (exit 2) with its message."""
    import getpass

    from spinetrack.store.access import Access
    from spinetrack.store.repositories import Actor, Store

    engine = database(settings)
    try:
        access = Access(Store(engine, eq5d_value_set=settings.eq5d_value_set), env=settings.env)
        return work(access, Actor(f"cli:{getpass.getuser()}"[:64], "system"))
    except SpinetrackError as exc:
        fail(exc, as_json)
    finally:
        engine.dispose()


def _print_link(username: str, url: str, why: str, as_json: bool) -> None:
    from spinetrack.store.access import PASSWORD_LINK_VALID

    hours = int(PASSWORD_LINK_VALID.total_seconds() // 3600)
    if as_json:
        typer.echo(json.dumps({"username": username, "set_password_url": url, "valid_hours": hours}))
        return
    console.print(f"{why}. One-time set-password link for [bold]{username}[/bold] (valid {hours} hours, works once; "
                  "spinetrack sends no e-mail — hand it to the owner yourself):", highlight=False)
    typer.echo(url)


def _link_url(settings: Settings, base_url: str | None, token: str) -> str:
    base = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    return f"{base}/set-password/{token}"


def _user_id(access: Any, actor: Any, username: str) -> int:
    from spinetrack.errors import NotFoundError

    for u in access.list_users(actor):
        if u["username"] == username:
            return int(u["id"])
    raise NotFoundError(entity="user", key=username)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="User name: letters, digits, '.', '-' or '_' (up to 64).")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    role: Annotated[str, typer.Option("--role", help="clinician, coordinator, researcher or admin.")],
    site: Annotated[str | None, typer.Option("--site", help="Site code (clinicians and coordinators).")] = None,
    base_url: BaseUrlOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an account and print its one-time set-password link (how the first admin of a
    production install gets in). Nobody types a password here."""
    from spinetrack.errors import ValidationError
    from spinetrack.store.queries import Queries

    def work(access: Any, actor: Any) -> str:
        site_id = None
        if site is not None:
            codes = {s["code"]: s["id"] for s in Queries(access.store).list_sites(actor)}
            if site not in codes:
                raise ValidationError(field="site", value=site, allowed=sorted(codes) or "no site yet")
            site_id = codes[site]
        return str(access.invite_user(actor, username=username, display_name=name, role=role, site_id=site_id)[1])

    settings = settings_for(database_url)
    token = _with_access(settings, as_json, work)
    _print_link(username, _link_url(settings, base_url, token), f"account {username} ({role}) created", as_json)


@users_app.command("reset-password")
def users_reset_password(
    username: Annotated[str, typer.Argument(help="The account's user name.")],
    base_url: BaseUrlOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the account's password unusable, end its sessions and print a new one-time link."""
    settings = settings_for(database_url)
    token = _with_access(settings, as_json,
                         lambda access, actor: access.reset_password(actor, _user_id(access, actor, username)))
    _print_link(username, _link_url(settings, base_url, token), "password reset, sessions ended", as_json)


@users_app.command("list")
def users_list(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Every account: role, site, status, whether a password is set, last sign-in (audited)."""
    users = _with_access(settings_for(database_url), as_json, lambda access, actor: access.list_users(actor))
    if as_json:
        typer.echo(json.dumps(users, default=str))
        return
    print_users(users)
