"""API tokens in the store: created with checks, stored as a SHA-256 hash only, resolved to a
caller with the token's role, site and scopes, refused when unknown, expired or revoked, and
audited without the token. Runs on SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from spinetrack.errors import AuthenticationError, ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import ApiTokenRow, AuditRow
from spinetrack.store.tokens import (
    MAX_DAYS,
    TokenUser,
    authenticate_token,
    create_token,
    list_tokens,
    resolve_token,
    revoke_token,
    site_id_for,
    token_scopes,
)

ADMIN = Actor("admin", "admin")
NOW = dt.datetime(2026, 12, 1, 12, 0)


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def site(store: Store) -> int:
    return store.add_site(SYSTEM, code="SITE-A", name="Site A", country="GB")


def test_token_shape_and_only_the_hash_is_stored(store: Store, site: int) -> None:
    token_id, token = create_token(store, ADMIN, name="registry", role="clinician", site_id=site,
                                   scopes=["read", "export"], days=90, now=NOW)
    assert token.startswith("stk_") and len(token) == 4 + 43  # 32 random bytes, URL-safe base64
    with store.transaction() as s:
        row = s.get(ApiTokenRow, token_id)
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str([getattr(row, c.key) for c in ApiTokenRow.__table__.columns])
        assert row.expires_at == NOW + dt.timedelta(days=90)
        assert row.scopes == ["read", "export"]
        audit_rows = s.execute(select(AuditRow).where(AuditRow.entity == "api_token")).scalars().all()
        assert [(a.action, a.actor, a.entity_id) for a in audit_rows] == [("create", "admin", str(token_id))]
        assert token not in str(audit_rows[0].detail) and token[4:] not in str(audit_rows[0].detail)
    assert site_id_for(store, "SITE-A") == site


def test_resolve_gives_the_tokens_role_site_and_scopes(store: Store, site: int) -> None:
    token_id, token = create_token(store, ADMIN, name="feed", role="coordinator", site_id=site,
                                   scopes=["write", "read"], days=10, now=NOW)
    user = resolve_token(store, token, now=NOW + dt.timedelta(days=1))
    assert isinstance(user, TokenUser)
    assert (user.username, user.role, user.site_id, user.csrf_token) == (f"token:{token_id}", "coordinator", site, "")
    assert user.scopes == ("read", "write") == token_scopes(store, token_id)
    assert user.actor == Actor(f"token:{token_id}", "coordinator", site)


def test_expired_revoked_and_unknown_tokens_are_refused(store: Store, site: int) -> None:
    token_id, token = create_token(store, ADMIN, name="feed", role="researcher", site_id=None, scopes=["read"],
                                   days=1, now=NOW)
    assert resolve_token(store, token, now=NOW + dt.timedelta(hours=23)) is not None
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate_token(store, token, now=NOW + dt.timedelta(days=1))
    with pytest.raises(AuthenticationError, match="not known"):
        authenticate_token(store, token[:-2] + "xx", now=NOW)
    assert resolve_token(store, "not a token at all", now=NOW) is None
    revoke_token(store, ADMIN, token_id)
    with pytest.raises(AuthenticationError, match="revoked"):
        authenticate_token(store, token, now=NOW)
    with pytest.raises(ConflictError):
        revoke_token(store, ADMIN, token_id)
    with pytest.raises(NotFoundError):
        revoke_token(store, ADMIN, 999)
    with store.transaction() as s:
        actions = [(a.action, a.entity_id) for a in s.execute(
            select(AuditRow).where(AuditRow.entity == "api_token").order_by(AuditRow.id)).scalars()]
    assert actions == [("create", str(token_id)), ("refuse", str(token_id)), ("refuse", None), ("refuse", None),
                       ("revoke", str(token_id)), ("refuse", str(token_id))]


def test_last_used_is_written_at_most_once_a_minute(store: Store) -> None:
    token_id, token = create_token(store, ADMIN, name="feed", role="researcher", site_id=None, scopes=["read"],
                                   days=1, now=NOW)

    def last_used() -> dt.datetime | None:
        with store.transaction() as s:
            row = s.get(ApiTokenRow, token_id)
            assert row is not None
            return row.last_used_at

    authenticate_token(store, token, now=NOW + dt.timedelta(seconds=1))
    assert last_used() == NOW + dt.timedelta(seconds=1)
    authenticate_token(store, token, now=NOW + dt.timedelta(seconds=30))
    assert last_used() == NOW + dt.timedelta(seconds=1)
    authenticate_token(store, token, now=NOW + dt.timedelta(seconds=61))
    assert last_used() == NOW + dt.timedelta(seconds=61)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": " "}, "token.name"),
    ({"name": "x\x00y"}, "token.name"),
    ({"role": "patient"}, "token.role"),
    ({"role": "clinician", "site_id": None}, "token.site"),
    ({"role": "researcher", "site_id": "SITE"}, "token.site"),
    ({"scopes": []}, "token.scopes"),
    ({"scopes": ["read", "delete"]}, "token.scopes"),
    ({"days": 0}, "token.days"),
    ({"days": MAX_DAYS + 1}, "token.days"),
])
def test_bad_input_is_refused_naming_the_field(store: Store, site: int, kwargs: dict[str, object], field: str) -> None:
    args: dict[str, Any] = {"name": "feed", "role": "clinician", "site_id": site, "scopes": ["read"], "days": 30}
    args.update(kwargs)
    if args["site_id"] == "SITE":
        args["site_id"] = site
    with pytest.raises(ValidationError) as err:
        create_token(store, ADMIN, **args)
    assert err.value.field == field
    with store.transaction() as s:
        assert s.execute(select(ApiTokenRow)).first() is None


def test_only_a_signed_in_admin_manages_tokens(store: Store, site: int) -> None:
    for actor in (Actor("c", "clinician", site), Actor("r", "researcher"), Actor("token:1", "admin")):
        with pytest.raises(PermissionDeniedError):
            create_token(store, actor, name="x", role="researcher", site_id=None, scopes=["read"], days=1)
        with pytest.raises(PermissionDeniedError):
            list_tokens(store, actor)
    with pytest.raises(NotFoundError):
        create_token(store, ADMIN, name="x", role="clinician", site_id=site + 100, scopes=["read"], days=1)


def test_list_shows_state_and_never_the_token(store: Store, site: int) -> None:
    a, token_a = create_token(store, ADMIN, name="a", role="clinician", site_id=site, scopes=["read"], days=5)
    b, _ = create_token(store, ADMIN, name="b", role="researcher", site_id=None, scopes=["export"], days=5)
    revoke_token(store, ADMIN, a)
    items = list_tokens(store, ADMIN)
    assert [t.id for t in items] == [b, a]
    assert items[1].state() == "revoked" and items[1].revoked_by == "admin" and items[1].site_code == "SITE-A"
    assert items[0].state() == "active"
    assert items[0].state(now=items[0].expires_at) == "expired"
    assert token_a not in str([t.as_dict() for t in items])


def test_command_line_creates_lists_and_revokes(tmp_path: Path) -> None:
    """``spinetrack tokens`` (SQLite file): the token on stdout once, bad input exits 2."""
    import json

    from typer.testing import CliRunner

    from spinetrack.cli import app

    url = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()
    r = runner.invoke(app, ["tokens", "create", "--name", "feed", "--role", "researcher", "--scope", "export",
                            "--days", "7", "--json", "--database-url", url])
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout)
    assert created["token"].startswith("stk_") and created["scopes"] == ["export"] and created["state"] == "active"
    r = runner.invoke(app, ["tokens", "list", "--json", "--database-url", url])
    listed = json.loads(r.stdout)["tokens"]
    assert [t["id"] for t in listed] == [created["id"]] and created["token"] not in r.stdout
    r = runner.invoke(app, ["tokens", "create", "--name", "x", "--role", "clinician", "--database-url", url])
    assert r.exit_code == 2 and "token.site" in r.stderr
    r = runner.invoke(app, ["tokens", "revoke", str(created["id"]), "--database-url", url])
    assert r.exit_code == 0
    r = runner.invoke(app, ["tokens", "revoke", str(created["id"]), "--database-url", url])
    assert r.exit_code == 2 and "already revoked" in r.stderr
