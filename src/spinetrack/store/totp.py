"""Two-factor sign-in for staff: time-based one-time passwords (TOTP, RFC 6238).

* The authenticator's secret: 160 random bits (RFC 4226 §4 recommends 160), base32, stored in
  ``users.totp_secret``; shown once as text and as a QR code (``otpauth://`` URI) when the
  owner sets it up, and kept only after they confirm it with a code (``totp_enabled_at``).
* Codes: 6 digits, HMAC-SHA-1, 30-second steps (RFC 6238 defaults, what authenticator apps
  use), computed by ``pyotp``. A code is accepted for the current step and one step either side
  (±30 s of clock drift, RFC 6238 §5.2) and at most once: the step of the last accepted code is
  kept (``totp_last_step``) and no code of that step or an earlier one is accepted again.
* The second step of a sign-in: after a correct password, an account with two-factor (or of a
  role for which the admin requires it, ``role_policies.require_two_factor``) gets no session,
  only a *pending sign-in*: a token valid 5 minutes, ``user id . issued at . HMAC`` keyed with a
  digest of the account's password hash (server-side only; a changed password voids it). With it
  the browser asks for the code (or, for an enforced role without an authenticator, sets one up);
  only then is the session opened. Wrong codes are throttled as wrong passwords are
  (:mod:`spinetrack.store.throttle`, counted under the user name's own two-factor key).
* An admin can require two-factor per role and reset an account's two-factor (recovery when a
  phone is lost); both are audited, the reset is shown to the owner at the next sign-in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import pyotp
import segno

__all__ = [
    "DIGITS",
    "DRIFT_STEPS",
    "PENDING_VALID",
    "STEP_SECONDS",
    "matching_step",
    "new_secret",
    "pending_token",
    "provisioning_uri",
    "qr_svg",
    "read_pending",
    "step_of",
]

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
PENDING_VALID = dt.timedelta(minutes=5)
ISSUER = "spinetrack"
_EPOCH = dt.datetime(1970, 1, 1)


def new_secret() -> str:
    """A new authenticator secret: 160 random bits as 32 base32 characters."""
    return pyotp.random_base32(32)


def step_of(now: dt.datetime) -> int:
    """The RFC 6238 time step of ``now`` (naive UTC): floor(Unix time / 30)."""
    return int((now - _EPOCH).total_seconds() // STEP_SECONDS)


def code_at(secret: str, step: int, digits: int = DIGITS) -> str:
    return str(pyotp.TOTP(secret, digits=digits, interval=STEP_SECONDS).at(step * STEP_SECONDS))


def matching_step(secret: str, code: str | None, now: dt.datetime, last_step: int | None) -> int | None:
    """The step whose code ``code`` is (current step ± :data:`DRIFT_STEPS`), or None; a step at or
    before ``last_step`` (a code already used, or older than one used) never matches."""
    code = re.sub(r"\s", "", code or "")
    if not re.fullmatch(rf"\d{{{DIGITS}}}", code):
        return None
    current = step_of(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, step), code) and found is None:
            found = step
    return found


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=username,
                                                                                     issuer_name=ISSUER)


def qr_svg(uri: str, title: str) -> str:
    """The QR code of ``uri`` as inline SVG, drawn on the server (no script, no outside request)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff", title=title, border=4)
    return str(svg).replace("<svg ", f'<svg role="img" aria-label="{title}" ', 1)


def _key(password_hash: str | None, secret: str | None) -> bytes:
    return hashlib.sha256(f"spinetrack-2fa\x1f{password_hash or ''}\x1f{secret or ''}".encode()).digest()


def pending_token(user_id: int, password_hash: str | None, now: dt.datetime) -> str:
    """The pending sign-in after a correct password (see the module's notes)."""
    issued = int((now - _EPOCH).total_seconds())
    msg = f"{user_id}.{issued}"
    mac = hmac.new(_key(password_hash, None), msg.encode(), hashlib.sha256).hexdigest()
    return f"{msg}.{mac}"


def read_pending(token: str | None) -> tuple[int, int] | None:
    """``(user_id, issued_at)`` of a well-formed pending token (not yet checked), else None."""
    m = re.fullmatch(r"(\d{1,12})\.(\d{1,12})\.([0-9a-f]{64})", token or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_pending(token: str, password_hash: str | None, now: dt.datetime) -> bool:
    """The token was issued for this account (same password hash) within :data:`PENDING_VALID`."""
    parsed = read_pending(token)
    if parsed is None or password_hash is None:
        return False
    user_id, issued = parsed
    expected = hmac.new(_key(password_hash, None), f"{user_id}.{issued}".encode(), hashlib.sha256).hexdigest()
    age = (now - _EPOCH).total_seconds() - issued
    return hmac.compare_digest(expected, token.rsplit(".", 1)[1]) and -60 <= age <= PENDING_VALID.total_seconds()
