"""The channels a follow-up message goes by: e-mail (:class:`SmtpChannel`), SMS
(:class:`SmsChannel`) and letters (printed in batches by ``spinetrack followup letters``).

:class:`Channels` holds what is configured; :func:`channels_from_settings` builds it from the
settings and returns ``None`` when neither e-mail nor SMS is configured (the ``make run``
default): the scheduler then keeps every message in the outbox as ``held``. A letter is never
sent by the scheduler: with channels configured it stays ``queued`` for the next print batch.

Delivery is at-least-once: a message is marked sent after its server took it, so a process that
dies between the two sends it again on the next run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from spinetrack.errors import ConfigurationError
from spinetrack.followup.channels.base import Channel, DeliveryError
from spinetrack.followup.channels.sms import DEFAULT_SMS_TEMPLATE, SmsChannel
from spinetrack.followup.channels.smtp import SmtpChannel

__all__ = [
    "DEFAULT_SMS_TEMPLATE",
    "Channel",
    "ChannelSettings",
    "Channels",
    "DeliveryError",
    "SmsChannel",
    "SmtpChannel",
    "channels_from_settings",
]


class ChannelSettings(Protocol):
    """The settings the channels read (``spinetrack.config.Settings`` has them; passed in, not imported)."""

    smtp_url: str | None
    mail_from: str | None
    sms_url: str | None
    sms_auth_header: str | None
    sms_body_template: str | None


@dataclass(frozen=True)
class Channels:
    """What can carry a message now: an e-mail channel, an SMS channel (each ``None`` when not
    configured), and whether letters are printed (``letters``: letter messages wait, ``queued``,
    for the print batch). Use as a context manager around a batch so that the e-mail channel
    keeps one connection."""

    email: Channel | None = None
    sms: Channel | None = None
    letters: bool = True

    def get(self, channel: str) -> Channel | None:
        """The channel that sends ``channel`` messages now (``None`` for a letter: it is printed)."""
        return self.email if channel == "email" else self.sms if channel == "sms" else None

    def available(self) -> frozenset[str]:
        """The channel names a message can go by now."""
        names = {n for n, c in (("email", self.email), ("sms", self.sms)) if c is not None}
        return frozenset(names | ({"letter"} if self.letters else set()))

    def open(self) -> None:
        """Start a batch: connect the channels that keep a connection."""
        for channel in (self.email, self.sms):
            if channel is not None:
                with contextlib.suppress(DeliveryError):  # each send tries again and reports its own error
                    channel.open()

    def close(self) -> None:
        """End a batch (never raises)."""
        for channel in (self.email, self.sms):
            if channel is not None:
                channel.close()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def channels_from_settings(settings: ChannelSettings) -> Channels | None:
    """The configured channels, or ``None`` when neither e-mail nor SMS is (messages are held).

    Raises
    ------
    ConfigurationError
        A URL that cannot be used, an SMTP URL without ``SPINETRACK_MAIL_FROM``, or an SMS body
        template that is not JSON with ``{to}`` and ``{text}``.
    """
    email: Channel | None = None
    sms: Channel | None = None
    if settings.smtp_url:
        if not settings.mail_from:
            raise ConfigurationError("SPINETRACK_SMTP_URL is set but SPINETRACK_MAIL_FROM is not: "
                                     "set the address the messages come from")
        email = SmtpChannel.from_url(settings.smtp_url, settings.mail_from)
    if settings.sms_url:
        sms = SmsChannel(settings.sms_url, auth_header=settings.sms_auth_header,
                         body_template=settings.sms_body_template)
    if email is None and sms is None:
        return None
    return Channels(email=email, sms=sms)
