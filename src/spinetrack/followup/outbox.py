"""Sending the outbox: claim due messages in small committed batches, send each with its
channel, record the outcome. **At-least-once**: a message is marked ``sent`` after its server
took it, so a process that dies in between sends it again later; nothing due is ever dropped.

A batch:

1. **Claim** (one short transaction): up to ``batch`` (25) messages move to ``sending`` with
   ``claimed_by`` (host, process id and a run token) and ``claimed_at``. Due are: ``queued``
   messages, ``failed`` ones with attempts left whose retry time has come, and ``sending`` ones
   whose claim is stale — older than the lease (10 minutes), or held by a process of this host
   that no longer exists (a ``kill -9``: taken again at once). Only a message whose visit is
   still open (or that belongs to no visit: a new link the patient asked for) is claimed, so a
   visit completed a second ago gets no reminder. On PostgreSQL the rows are locked with
   ``FOR UPDATE SKIP LOCKED``, so two senders never claim the same row; on SQLite the write lock
   every transaction takes (``BEGIN IMMEDIATE``) serialises the claims. In the same transaction
   each message gets a new link to the patient's home (``patient_links``, purpose ``message``),
   and a message that can no longer go (no consent, opted out, no address on file) is cancelled.
2. **Send**, outside any transaction, on :attr:`Sender.WORKERS` threads at once, each with its
   own copy of the channel and so its own SMTP connection (sending waits on the server's replies,
   four round trips a message, which threads overlap). The address is read from
   ``patient_identities`` at this moment and never stored in the outbox; so is the patient's
   language, the message's (:func:`~spinetrack.followup.messages.compose`).
3. **Record** (one transaction): ``sent`` or ``failed`` (``last_error``, retried after
   ``attempts`` × 15 minutes, up to :attr:`Sender.MAX_ATTEMPTS` attempts; a permanent refusal is
   not retried), each with an audit entry naming the patient (never the address).

The duplicates a crash can cause are bounded: at most the messages in flight when the process
died (the batch on the wire and the one being recorded, :meth:`Sender.send_due`);
``bench/bench_followup.py`` measures it with ``kill -9``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from spinetrack.domain.pathway import get_timepoint
from spinetrack.errors import SpinetrackError
from spinetrack.followup.channels import Channel, Channels, DeliveryError
from spinetrack.followup.links import hash_link_token, opt_out_url, patient_link_url
from spinetrack.followup.messages import OutgoingMessage, compose
from spinetrack.store import audit
from spinetrack.store.repositories import Store
from spinetrack.store.tables import (
    EpisodeRow,
    FollowupRow,
    OutboxRow,
    PatientIdentityRow,
    PatientLinkRow,
    PatientRow,
    SiteRow,
)

__all__ = ["ChannelSet", "SendCounts", "Sender", "configured_channels", "redact"]

ACTOR = "system:followup"


@dataclass
class SendCounts:
    """What :meth:`Sender.send_due` did."""

    sent: int = 0
    failed: int = 0
    retried: int = 0  # taken again from a dead or expired claim (at-least-once)


ChannelSet = Channels | Mapping[str, Channel]

_O = cast(Table, OutboxRow.__table__)
_F = cast(Table, FollowupRow.__table__)
_E = cast(Table, EpisodeRow.__table__)
_P = cast(Table, PatientRow.__table__)
_ID = cast(Table, PatientIdentityRow.__table__)
_S = cast(Table, SiteRow.__table__)
_L = cast(Table, PatientLinkRow.__table__)
_SENDABLE = ("email", "sms")


def configured_channels(channels: ChannelSet | None) -> dict[str, Channel]:
    """The channels that send now, by name (``email``, ``sms``): letters are printed, not sent."""
    if channels is None:
        return {}
    if isinstance(channels, Mapping):
        return {n: c for n, c in channels.items() if n in _SENDABLE and c is not None}
    return {n: c for n in _SENDABLE if (c := channels.get(n)) is not None}


_ADDRESS = re.compile(r"[^\s<>\"']+@[^\s<>\"']+|\+?\d[\d ()-]{5,}\d")


def redact(reason: str) -> str:
    """An error text without e-mail addresses or phone numbers (servers often echo them)."""
    return _ADDRESS.sub("[redacted]", reason)[:500]


def _this_host() -> str:
    return socket.gethostname()[:30]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_DETAILS = (select(_O.c.id, _O.c.episode_id, _O.c.followup_id, _O.c.kind, _O.c.sequence, _O.c.channel, _O.c.attempts,
                   _F.c.timepoint, _F.c.opens_on, _F.c.closes_on, _E.c.patient_id, _ID.c.email, _ID.c.phone,
                   _ID.c.language, _ID.c.contact_consent, _ID.c.opted_out_at, _S.c.name.label("clinic_name"),
                   _S.c.contact_phone.label("clinic_phone"), _S.c.contact_email.label("clinic_email"))
            .select_from(_O.join(_E, _E.c.id == _O.c.episode_id).join(_P, _P.c.id == _E.c.patient_id)
                         .join(_S, _S.c.id == _P.c.site_id).outerjoin(_F, _F.c.id == _O.c.followup_id)
                         .outerjoin(_ID, _ID.c.patient_id == _P.c.id)))
_SENT = (update(_O).where(_O.c.id == bindparam("oid"), _O.c.claimed_by == bindparam("me"), _O.c.status == "sending")
         .values(status="sent", sent_at=bindparam("at"), last_error=None))
_FAILED = (update(_O).where(_O.c.id == bindparam("oid"), _O.c.claimed_by == bindparam("me"), _O.c.status == "sending")
           .values(status="failed", last_error=bindparam("err"), due_at=bindparam("retry_at"),
                   attempts=bindparam("attempts")))
_CANCEL = (update(_O).where(_O.c.id == bindparam("oid"))
           .values(status="cancelled", last_error=bindparam("err")))


class Sender:
    """Sends the due messages of the outbox (module docstring)."""

    MAX_ATTEMPTS = 5
    LEASE = dt.timedelta(minutes=10)
    BATCH = 25
    WORKERS = 6  # connections sending at once (each thread its own copy of a channel)
    RETRY_AFTER = dt.timedelta(minutes=15)

    def __init__(self, store: Store, senders: dict[str, Channel], *, link_base: str, sender_id: str | None = None,
                 lease: dt.timedelta | None = None, batch: int | None = None, workers: int | None = None) -> None:
        self.store = store
        self.senders = senders
        self.link_base = link_base
        self.me = (sender_id or f"{_this_host()}:{os.getpid()}:{secrets.token_hex(4)}")[:64]
        self.lease = lease or self.LEASE
        self.batch = batch or self.BATCH
        self.workers = workers or self.WORKERS
        self._local = threading.local()
        self._opened: list[Channel] = []
        self._opened_lock = threading.Lock()

    # ------------------------------------------------------------------ claim

    def _dead_claimers(self, s: Session) -> list[str]:
        """Claimers of ``sending`` rows that were processes of this host and are gone."""
        host = _this_host()
        dead = []
        for (who,) in s.execute(select(_O.c.claimed_by).where(_O.c.status == "sending").distinct()):
            parts = (who or "").split(":")
            if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not _alive(int(parts[1])):
                dead.append(who)
        return dead

    def _due(self, now: dt.datetime, dead: list[str]) -> Any:
        stale = now - self.lease
        return and_(
            _O.c.status.in_(("queued", "failed", "sending")),  # the status index: sent rows are never read
            _O.c.channel.in_(sorted(self.senders)),
            or_(and_(_O.c.status == "queued", _O.c.due_at <= now),
                and_(_O.c.status == "failed", _O.c.attempts < self.MAX_ATTEMPTS, _O.c.due_at <= now),
                and_(_O.c.status == "sending", or_(_O.c.claimed_at < stale, _O.c.claimed_by.in_(dead)))),
            or_(_O.c.followup_id.is_(None),
                exists(select(1).where(_F.c.id == _O.c.followup_id, _F.c.status == "open"))))

    def count_due(self, s: Session, now: dt.datetime) -> int:
        if not self.senders:
            return 0
        return int(s.execute(select(func.count()).select_from(_O).where(self._due(now, self._dead_claimers(s))))
                   .scalar_one())

    def _claim(self, now: dt.datetime) -> tuple[list[dict[str, Any]], int]:
        """Claim one batch; returns the messages to send (with their details and link) and how
        many of them were taken from a stale claim."""
        with self.store.transaction() as s:
            pick = select(_O.c.id, _O.c.status).where(self._due(now, self._dead_claimers(s))).order_by(_O.c.id)
            pick = pick.limit(self.batch)
            if s.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(of=_O, skip_locked=True)
            picked = s.execute(pick).all()
            if not picked:
                return [], 0
            ids = [r.id for r in picked]
            s.execute(update(_O).where(_O.c.id.in_(ids))
                      .values(status="sending", claimed_by=self.me, claimed_at=now, attempts=_O.c.attempts + 1))
            out, cancel, links = [], [], []
            for r in s.execute(_DETAILS.where(_O.c.id.in_(ids)).order_by(_O.c.id)).mappings():
                why = self._why_not(dict(r))
                if why:
                    cancel.append({"oid": r["id"], "err": why})
                    continue
                token = secrets.token_urlsafe(32)
                links.append({"token_hash": hash_link_token(token), "episode_id": r["episode_id"],
                              "outbox_id": r["id"], "purpose": "message", "created_by": ACTOR, "created_at": now,
                              "revoked": False})
                out.append({**r, "token": token})  # attempts: as counted by the claim
            if cancel:
                s.execute(_CANCEL, cancel)
            if links:
                s.execute(insert(_L), links)
            return out, sum(1 for r in picked if r.status == "sending")

    @staticmethod
    def _why_not(r: Mapping[str, Any]) -> str | None:
        """Why a claimed message can no longer go (cancelled), or None."""
        if r["kind"] != "new_link":  # a new link is what the patient just asked for
            if r["contact_consent"] is not True:
                return "the patient has not agreed to be contacted"
            if r["opted_out_at"] is not None:
                return "the patient opted out"
        if r["channel"] == "email" and not r["email"]:
            return "no e-mail address on file"
        if r["channel"] == "sms" and not r["phone"]:
            return "no phone number on file"
        return None

    # ------------------------------------------------------------------ send

    def _outgoing(self, m: Mapping[str, Any]) -> OutgoingMessage:
        link = patient_link_url(self.link_base, m["token"])
        stop = opt_out_url(self.link_base, m["token"])
        label = get_timepoint(m["timepoint"]).label if m["timepoint"] else None
        subject, body, html = compose(m["kind"], channel=m["channel"], clinic_name=m["clinic_name"],
                                      clinic_phone=m["clinic_phone"], clinic_email=m["clinic_email"],
                                      timepoint_label=label, opens_on=m["opens_on"], closes_on=m["closes_on"],
                                      link=link, opt_out_link=stop, language=m["language"])
        to = m["email"] if m["channel"] == "email" else m["phone"]
        return OutgoingMessage(channel=m["channel"], to=to, subject=subject, text=body, html=html,
                               opt_out_link=stop, ref=str(m["id"]))

    def _channel(self, name: str) -> Channel:
        """This thread's own copy of channel ``name`` (its own connection), opened on first use."""
        chans: dict[str, Channel] | None = getattr(self._local, "chans", None)
        if chans is None:
            chans = self._local.chans = {}
        ch = chans.get(name)
        if ch is None:
            original = self.senders[name]
            clone = getattr(original, "clone", None)  # a channel that keeps state may say how to copy it
            ch = chans[name] = clone() if callable(clone) else copy.copy(original)  # unopened: settings only
            opener = getattr(ch, "open", None)
            if callable(opener):
                with contextlib.suppress(DeliveryError):  # each send connects again, reports its own error
                    opener()
            with self._opened_lock:
                self._opened.append(ch)
        return ch

    def _send_one(self, m: Mapping[str, Any]) -> tuple[str | None, bool]:
        """Send; returns ``(None, False)`` when sent, else ``(reason, permanent)``."""
        try:
            self._channel(m["channel"]).send(self._outgoing(m))
        except DeliveryError as exc:
            return redact(exc.reason or type(exc).__name__), exc.permanent
        except SpinetrackError as exc:  # the message could not be composed: it never will be
            return redact(f"{type(exc).__name__}: {exc}"), True
        except Exception as exc:  # a fault in a channel: this message fails (retried), the batch goes on
            return redact(f"{type(exc).__name__}: {exc}"), False
        return None, False

    def _record(self, now: dt.datetime, results: list[tuple[dict[str, Any], str | None, bool]]) -> None:
        sent = [{"oid": m["id"], "me": self.me, "at": now} for m, err, _ in results if err is None]
        failed = [{"oid": m["id"], "me": self.me, "err": ("permanent: " if perm else "") + err,
                   "retry_at": now + self.RETRY_AFTER * m["attempts"],
                   "attempts": self.MAX_ATTEMPTS if perm else m["attempts"]}
                  for m, err, perm in results if err is not None]
        with self.store.transaction() as s:
            if sent:
                s.execute(_SENT, sent)
            if failed:
                s.execute(_FAILED, failed)
            for m, err, perm in results:
                detail: dict[str, Any] = {"channel": m["channel"], "kind": m["kind"], "sequence": m["sequence"],
                                          "timepoint": m["timepoint"], "attempt": m["attempts"]}
                if err is not None:
                    detail.update(error=err, permanent=perm)
                audit.append(s, actor=ACTOR, actor_role="system", action="send" if err is None else "send_failed",
                             entity="outbox", entity_id=m["id"], patient_id=m["patient_id"], detail=detail, at=now)

    def _close_all(self) -> None:
        for ch in self._opened:
            closer = getattr(ch, "close", None)
            if callable(closer):
                closer()

    def send_due(self, now: dt.datetime, progress: Callable[[str, int, int | None], None] | None = None,
                 expected: int | None = None) -> SendCounts:
        """Claim, send and record batch after batch until nothing is due (``expected``: the count
        for the progress callback). Pipelined: while one batch is on the wire, the next is claimed
        and the one before is recorded, so at most two batches are ``sending`` at once."""
        counts = SendCounts()
        if not self.senders:
            return counts
        t0 = time.perf_counter()

        def clock() -> dt.datetime:  # the run's clock, moving on
            return now + dt.timedelta(seconds=time.perf_counter() - t0)

        def finish(batch: list[dict[str, Any]], futures: list[Future[tuple[str | None, bool]]]) -> None:
            results = [(m, *f.result()) for m, f in zip(batch, futures, strict=True)]
            self._record(clock(), results)
            counts.sent += sum(1 for _, err, _ in results if err is None)
            counts.failed += sum(1 for _, err, _ in results if err is not None)
            if progress:
                progress("send", counts.sent + counts.failed, expected)

        self._local, self._opened = threading.local(), []
        with ExitStack() as stack:
            pool = stack.enter_context(ThreadPoolExecutor(self.workers, thread_name_prefix="spinetrack-send"))
            stack.callback(self._close_all)
            on_the_wire: tuple[list[dict[str, Any]], list[Future[tuple[str | None, bool]]]] | None = None
            while True:
                batch, retried = self._claim(clock())
                counts.retried += retried
                futures = [pool.submit(self._send_one, m) for m in batch]
                if on_the_wire is not None:
                    finish(*on_the_wire)
                if not batch:
                    return counts
                on_the_wire = (batch, futures)
