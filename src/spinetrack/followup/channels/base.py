"""What every channel is: something that sends one :class:`~spinetrack.followup.messages.OutgoingMessage`
or raises :class:`DeliveryError`, saying whether trying again could help."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from spinetrack.errors import SpinetrackError
from spinetrack.followup.messages import OutgoingMessage

__all__ = ["Channel", "DeliveryError"]


class DeliveryError(SpinetrackError):
    """A message was not delivered to the channel's server.

    ``permanent`` is true when this message will never go as it is (the address or number is
    refused, the text is too long): the sender marks it failed and does not retry. Otherwise
    (the server is down or busy, a network error, a bad password) it is tried again on a later
    run. ``reason`` is a short text for the coordinator, with no contact details and no message text.
    """

    def __init__(self, reason: str, *, permanent: bool) -> None:
        self.reason = reason
        self.permanent = permanent
        super().__init__(reason)


@runtime_checkable
class Channel(Protocol):
    """Sends one message; may keep a connection open between :meth:`open` and :meth:`close`
    (a batch), and must work without them (one connection per message)."""

    name: str

    def send(self, msg: OutgoingMessage) -> None:
        """Hand ``msg`` to the server, or raise :class:`DeliveryError`."""
        ...

    def open(self) -> None:
        """Start a batch (connect now)."""
        ...

    def close(self) -> None:
        """End a batch (disconnect; never raises)."""
        ...
