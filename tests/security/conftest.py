"""Security-suite fixtures: the web suite's world, reused rather than copied.

``app`` (the app on a fresh database: SQLite, then PostgreSQL through the ``engine`` fixture of
tests/conftest.py), ``world`` (two sites with a patient each, one account per role, an open
invitation per site), ``client_for(role_key)`` (a TestClient signed in as that role with its
CSRF header) and the cheap argon2 parameters for test accounts all come from
tests/web/conftest.py; see that module for the accounts and the records the world holds.
"""

from __future__ import annotations

from tests.web.conftest import (  # noqa: F401  (fixtures: re-exported for the tests in this folder)
    _fast_password_hashing,
    anonymous,
    app,
    client_for,
    world,
)
