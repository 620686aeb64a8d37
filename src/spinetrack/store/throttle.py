"""The sign-in throttle: failed attempts counted in the database, atomically.

Every sign-in attempt first *reserves* a slot, in its own committed transaction, before the
password is checked: the rows of its keys are locked (PostgreSQL: ``INSERT … ON CONFLICT DO
NOTHING`` then ``SELECT … FOR UPDATE``; SQLite: the ``INSERT`` takes the database's write lock),
their counts read and raised by one, and the lock time set, in one transaction. So parallel
attempts are counted one after another, and the count holds across server processes — no
process memory holds any of it. A correct password then clears the pair's count and gives the
address back its slot; a wrong one leaves the count as reserved.

Two keys per attempt:

* the **pair** (user name, client address): 5 attempts, then an exponential back-off — 1 s
  after the 5th failure, 2 s after the 6th, 4 s … capped at 15 minutes; forgotten after 24 hours
  without a failure, or at a successful sign-in. A stranger therefore cannot lock a known user
  out of their own address;
* the **address**: 30 attempts across all user names, then the same back-off; forgotten after
  an hour without a failure.

A refused attempt (the key is still waiting) is not counted and checks no password; the
response is 429 with ``Retry-After`` (RFC 6585 §4). No CAPTCHA: the back-off alone slows an
online guesser to a few attempts an hour per pair. Keys are stored as SHA-256 digests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from spinetrack.errors import RateLimitError
from spinetrack.store.tables import LoginThrottleRow

__all__ = ["ADDRESS", "PAIR", "Reservation", "ThrottlePolicy", "forget_stale", "release", "reserve"]


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How many attempts a key gets before the back-off, and when its count is forgotten."""

    scope: str
    free_attempts: int
    forget_after: dt.timedelta
    first_wait_s: float = 1.0
    max_wait_s: float = 900.0

    def wait(self, failures: int) -> dt.timedelta:
        """The wait after ``failures`` counted attempts (none before the limit)."""
        if failures < self.free_attempts:
            return dt.timedelta(0)
        exponent = min(failures - self.free_attempts, 30)
        return dt.timedelta(seconds=min(self.first_wait_s * 2 ** exponent, self.max_wait_s))


PAIR = ThrottlePolicy("pair", free_attempts=5, forget_after=dt.timedelta(hours=24))
ADDRESS = ThrottlePolicy("address", free_attempts=30, forget_after=dt.timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class Reservation:
    """The keys an attempt counted against, and whether this attempt started a wait."""

    pair_key: str
    address_key: str
    locked: tuple[str, ...] = ()


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _insert_missing(s: Session, key: str, now: dt.datetime) -> None:
    values = {"key_hash": key, "failures": 0, "last_failure_at": now, "locked_until": None}
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        s.execute(pg_insert(LoginThrottleRow).values(**values).on_conflict_do_nothing(index_elements=["key_hash"]))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        s.execute(sqlite_insert(LoginThrottleRow).values(**values).on_conflict_do_nothing(
            index_elements=["key_hash"]))


def reserve(s: Session, username: str, client: str, now: dt.datetime) -> Reservation:
    """Count one attempt against the pair and the address, or refuse it while either waits.

    Call in a transaction of its own and commit before checking the password.

    Raises
    ------
    RateLimitError
        When the pair or the address is waiting; ``retry_after_s`` is the wait left (whole
        seconds, at least 1). Nothing is counted.
    """
    keys = {_key("pair", username.lower(), client): PAIR, _key("address", client): ADDRESS}
    ordered = sorted(keys)  # one lock order for every attempt: no deadlock between two keys
    for key in ordered:
        _insert_missing(s, key, now)  # SQLite: this takes the write lock until commit
    rows = {r.key_hash: r for r in s.execute(select(LoginThrottleRow).where(
        LoginThrottleRow.key_hash.in_(ordered)).order_by(LoginThrottleRow.key_hash).with_for_update()).scalars()}
    waits = [r.locked_until - now for r in rows.values() if r.locked_until is not None and r.locked_until > now]
    if waits:
        raise RateLimitError("too many failed sign-in attempts from this address; wait and try again",
                             retry_after_s=max(1, math.ceil(max(waits).total_seconds())))
    locked = []
    for key, policy in keys.items():
        row = rows[key]
        if now - row.last_failure_at > policy.forget_after:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        wait = policy.wait(row.failures)
        row.locked_until = now + wait if wait else None
        if wait:
            locked.append(policy.scope)
    s.flush()
    pair_key, address_key = list(keys)
    return Reservation(pair_key, address_key, tuple(locked))


def release(s: Session, reservation: Reservation) -> None:
    """A correct password: forget the pair's count, and give the address its slot back."""
    s.execute(delete(LoginThrottleRow).where(LoginThrottleRow.key_hash == reservation.pair_key))
    row = s.execute(select(LoginThrottleRow).where(LoginThrottleRow.key_hash == reservation.address_key)
                    .with_for_update()).scalar()
    if row is not None:
        row.failures = max(0, row.failures - 1)
        if row.failures < ADDRESS.free_attempts:
            row.locked_until = None


def forget_stale(s: Session, now: dt.datetime) -> int:
    """Delete the counts every policy has forgotten (run in a transaction of its own, holding no
    other throttle row, so that it cannot deadlock with an attempt). Returns the rows deleted."""
    longest = max(PAIR.forget_after, ADDRESS.forget_after)
    result = s.execute(delete(LoginThrottleRow).where(
        LoginThrottleRow.last_failure_at < now - longest,
        (LoginThrottleRow.locked_until.is_(None)) | (LoginThrottleRow.locked_until < now)))
    return int(getattr(result, "rowcount", 0) or 0)
