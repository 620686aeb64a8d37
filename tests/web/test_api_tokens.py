"""API tokens over HTTP: ``Authorization: Bearer`` on ``/api/v1``, its refusals, CSRF, and the
admin page that creates, lists and revokes tokens.

The expected 401 answer follows RFC 6750 §3 (Bearer token usage): ``WWW-Authenticate: Bearer
error="invalid_token"`` for an unknown, revoked or expired token, ``insufficient_scope`` (403) for
a token without the scope the request needs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack.store.repositories import SYSTEM
from spinetrack.store.tables import ApiTokenRow, AuditRow
from spinetrack.store.tokens import create_token, hash_api_token, revoke_token
from tests.web.conftest import World

NEW_PATIENT = {"birth_year": 1970, "sex": "male"}


def _token(app: Any, role: str, scopes: list[str], site_id: int | None = None, days: int = 30) -> tuple[int, str]:
    return create_token(app.state.store, SYSTEM, name=f"{role} client", role=role, site_id=site_id, scopes=scopes,
                        days=days)


def _bearer(app: Any, token: str) -> TestClient:
    c = TestClient(app)
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def _audit(app: Any, action: str) -> list[AuditRow]:
    with app.state.store.transaction() as s:
        return list(s.execute(select(AuditRow).where(AuditRow.entity == "api_token", AuditRow.action == action)
                              .order_by(AuditRow.id)).scalars())


def test_clinic_token_sees_its_own_site_only(app: Any, world: World) -> None:
    _, token = _token(app, "clinician", ["read"], world.sites["A"])
    c = _bearer(app, token)
    r = c.get("/api/v1/patients")
    assert r.status_code == 200, r.text
    ids = {p["patient_id"] for p in r.json()["items"]}
    assert ids == {world.patients["A"]}
    assert c.get(f"/api/v1/patients/{world.patients['B']}").status_code == 404
    assert c.get(f"/api/v1/patients/{world.patients['A']}").status_code == 200


def test_write_scope_and_no_csrf_for_bearer(app: Any, world: World) -> None:
    _, reader = _token(app, "clinician", ["read"], world.sites["A"])
    r = _bearer(app, reader).post("/api/v1/patients", json=NEW_PATIENT)
    assert r.status_code == 403
    assert "write" in r.json()["message"]
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    _, writer = _token(app, "clinician", ["read", "write"], world.sites["A"])
    r = _bearer(app, writer).post("/api/v1/patients", json=NEW_PATIENT)  # no X-CSRF-Token: none needed
    assert r.status_code in (200, 201), r.text
    # a write-only token cannot read
    _, write_only = _token(app, "clinician", ["write"], world.sites["A"])
    assert _bearer(app, write_only).get("/api/v1/patients").status_code == 403
    refusals = _audit(app, "refuse")
    assert [(r.detail or {})["reason"] for r in refusals] == ["missing scope write", "missing scope read"]


def test_cookies_still_need_csrf(app: Any, world: World, client_for: Callable[[str], TestClient]) -> None:
    c = client_for("clinician")
    c.headers.pop("X-CSRF-Token")
    assert c.post("/api/v1/patients", json=NEW_PATIENT).status_code == 401
    # an Authorization header that is not Bearer gives the cookie no free pass either
    c.headers["Authorization"] = "Basic Zm9vOmJhcg=="
    assert c.post("/api/v1/patients", json=NEW_PATIENT).status_code == 401


def test_bad_tokens_are_refused_with_401(app: Any, world: World) -> None:
    _, good = _token(app, "clinician", ["read"], world.sites["A"])
    revoked_id, revoked = _token(app, "clinician", ["read"], world.sites["A"])
    revoke_token(app.state.store, SYSTEM, revoked_id)
    expired_id, expired = _token(app, "clinician", ["read"], world.sites["A"])
    with app.state.store.transaction() as s:
        s.get(ApiTokenRow, expired_id).expires_at = dt.datetime(2020, 1, 1)
    cases = {"stk_" + "x" * 43: "not known", good[:-1]: "not known", revoked: "revoked", expired: "expired",
             "": "not known"}
    for token, word in cases.items():
        r = _bearer(app, token).get("/api/v1/patients")
        assert r.status_code == 401, token
        assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert word in r.json()["message"]
    # the refusals are audited, naming the token by number and never by value
    refusals = _audit(app, "refuse")
    assert {r.entity_id for r in refusals} >= {str(revoked_id), str(expired_id)}
    with app.state.store.transaction() as s:
        everything = " ".join(str(r.detail) for r in s.execute(select(AuditRow)).scalars())
    for token in (good, revoked, expired):
        assert token not in everything and token[4:] not in everything


def test_made_up_tokens_are_throttled_not_audited_without_end(app: Any, world: World) -> None:
    """A client trying made-up tokens meets the sign-in throttle (store/throttle.py: 5 failures per
    name and address, then a back-off): 429 with Retry-After (RFC 6585 §4), and no more audit rows,
    so it cannot flood the audit log; a valid token from the same address is never slowed."""
    before = len(_audit(app, "refuse"))
    answers = [_bearer(app, f"stk_{n:043d}").get("/api/v1/patients") for n in range(40)]
    statuses = [r.status_code for r in answers]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 35
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert len(_audit(app, "refuse")) - before == 5
    _, good = _token(app, "clinician", ["read"], world.sites["A"])
    assert _bearer(app, good).get("/api/v1/patients").status_code == 200


def test_role_of_the_token_applies(app: Any, world: World) -> None:
    _, researcher = _token(app, "researcher", ["read"])
    c = _bearer(app, researcher)
    assert c.get("/api/v1/patients").status_code == 403  # researchers see no patient-level data
    assert c.get("/api/v1/status").status_code == 200
    assert c.get("/api/v1/aggregates/outcomes").status_code == 200


def test_last_used_is_recorded_at_most_once_a_minute(app: Any, world: World) -> None:
    token_id, token = _token(app, "clinician", ["read"], world.sites["A"])
    c = _bearer(app, token)
    c.get("/api/v1/patients")
    with app.state.store.transaction() as s:
        first = s.get(ApiTokenRow, token_id).last_used_at
    assert first is not None
    c.get("/api/v1/patients")
    with app.state.store.transaction() as s:
        assert s.get(ApiTokenRow, token_id).last_used_at == first


def test_admin_page_creates_shows_once_lists_and_revokes(app: Any, world: World,
                                                         client_for: Callable[[str], TestClient]) -> None:
    admin = client_for("admin")
    csrf = admin.headers.pop("X-CSRF-Token")
    page = admin.get("/admin")
    assert 'href="/admin/tokens"' in page.text
    r = admin.get("/admin/tokens")
    assert r.status_code == 200 and "No API token yet" in r.text
    r = admin.post("/admin/tokens", data={"csrf_token": csrf, "name": "registry feed", "role": "clinician",
                                          "site_id": str(world.sites["A"]), "scopes": ["read", "export"],
                                          "days": "30"})
    assert r.status_code == 200, r.text
    shown = re.search(r'<code id="token-value">(stk_[A-Za-z0-9_-]{43})</code>', r.text)
    assert shown is not None
    token = shown.group(1)
    with app.state.store.transaction() as s:
        row = s.execute(select(ApiTokenRow)).scalar_one()
        assert row.token_hash == hash_api_token(token) and row.scopes == ["read", "export"]
        assert row.created_by == "admin" and row.site_id == world.sites["A"]
    listing = admin.get("/admin/tokens").text
    assert token not in listing and "registry feed" in listing and 'data-state="active"' in listing
    assert _bearer(app, token).get("/api/v1/patients").status_code == 200
    # refused input: clinic role without a site; nothing stored
    r = admin.post("/admin/tokens", data={"csrf_token": csrf, "name": "x", "role": "coordinator",
                                          "scopes": ["read"], "days": "30"})
    assert r.status_code == 422 and "Nothing was created" in r.text
    # no CSRF token: refused
    r = admin.post("/admin/tokens", data={"name": "y", "role": "researcher", "scopes": ["read"]},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")  # a page's 401
    r = admin.post(f"/admin/tokens/{row.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert 'data-state="revoked"' in admin.get("/admin/tokens").text
    assert _bearer(app, token).get("/api/v1/patients").status_code == 401
    assert admin.post(f"/admin/tokens/{row.id}/revoke", data={"csrf_token": csrf}).status_code == 409
    assert [r.action for r in _audit(app, "create")] == ["create"]
    assert [r.action for r in _audit(app, "revoke")] == ["revoke"]


def test_token_page_is_for_signed_in_admins(app: Any, world: World, client_for: Callable[[str], TestClient]) -> None:
    for key in ("clinician", "researcher"):
        assert client_for(key).get("/admin/tokens").status_code == 403
    assert TestClient(app).get("/admin/tokens", follow_redirects=False).status_code == 303
    _, admin_token = _token(app, "admin", ["read", "write"])
    c = _bearer(app, admin_token)
    assert c.get("/admin/tokens").status_code == 403  # a token cannot list or mint tokens
    r = c.post("/admin/tokens", data={"name": "z", "role": "researcher", "scopes": ["read"]})
    assert r.status_code == 403
