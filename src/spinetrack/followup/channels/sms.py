"""SMS through an HTTP gateway: one JSON POST per message, built from a template.

Settings: ``SPINETRACK_SMS_URL`` (the gateway's endpoint, http or https), ``SPINETRACK_SMS_AUTH_HEADER``
(one header line, e.g. ``Authorization: Bearer KEY``) and ``SPINETRACK_SMS_BODY_TEMPLATE``, a
JSON document in which the strings ``{to}`` and ``{text}`` stand for the number and the text,
e.g. ``{"to": "{to}", "body": "{text}", "sender": "NorthSpine"}``. The template is parsed as JSON
and the two placeholders are replaced inside its strings, so a quote or a line break in the text
can never break the JSON. Default template: ``{"to": "{to}", "text": "{text}"}``.

The gateway's answer: any 2xx is delivered. 400, 413 and 422 (and other 4xx not listed below)
mean the gateway will never take this message: permanent. 401, 403, 404 and 405 point at the
settings (key, URL), 408 and 429 at load, and every 5xx, redirect, timeout or refused connection
at the gateway or the network: temporary, tried again on a later run. The text is checked before
it goes: more than ``max_segments`` SMS parts (:func:`~spinetrack.followup.messages.sms_length`)
is refused as permanent. The numbers are sent as stored, without spaces, dashes or brackets;
a number that is not 6 to 15 digits (with an optional leading ``+``) is refused as permanent.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from spinetrack.errors import ConfigurationError
from spinetrack.followup.channels.base import DeliveryError
from spinetrack.followup.messages import DEFAULT_SMS_MAX_SEGMENTS, OutgoingMessage, sms_length

__all__ = ["DEFAULT_SMS_TEMPLATE", "SmsChannel"]

DEFAULT_SMS_TEMPLATE = '{"to": "{to}", "text": "{text}"}'
_NUMBER = re.compile(r"\+?[0-9]{6,15}")
_NUMBER_PUNCTUATION = str.maketrans("", "", " -()./\u00a0")
_TEMPORARY_4XX = frozenset({401, 403, 404, 405, 408, 429})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a POST is never re-sent elsewhere
        return None


def _fill(node: Any, to: str, text: str) -> Any:
    if isinstance(node, str):
        return node.replace("{to}", to).replace("{text}", text)
    if isinstance(node, list):
        return [_fill(v, to, text) for v in node]
    if isinstance(node, dict):
        return {k: _fill(v, to, text) for k, v in node.items()}
    return node


def _mentions(node: Any, placeholder: str) -> bool:
    if isinstance(node, str):
        return placeholder in node
    if isinstance(node, list):
        return any(_mentions(v, placeholder) for v in node)
    if isinstance(node, dict):
        return any(_mentions(v, placeholder) for v in node.values())
    return False


class SmsChannel:
    """Sends SMS through an HTTP gateway (module docstring)."""

    name = "sms"

    def __init__(self, url: str, *, auth_header: str | None = None, body_template: str | None = None,
                 max_segments: int = DEFAULT_SMS_MAX_SEGMENTS, timeout: float = 15.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"SPINETRACK_SMS_URL must be an http:// or https:// URL, not {url!r}")
        self.url = url
        self._headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        if auth_header:
            name, colon, value = auth_header.partition(":")
            if not colon or not name.strip() or not value.strip() or any(c in auth_header for c in "\r\n"):
                raise ConfigurationError("SPINETRACK_SMS_AUTH_HEADER must be one header line such as "
                                         "'Authorization: Bearer KEY'")
            self._headers[name.strip()] = value.strip()
        try:
            self._template = json.loads(body_template or DEFAULT_SMS_TEMPLATE)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"SPINETRACK_SMS_BODY_TEMPLATE is not JSON ({exc})") from exc
        for placeholder in ("{to}", "{text}"):
            if not _mentions(self._template, placeholder):
                raise ConfigurationError(f"SPINETRACK_SMS_BODY_TEMPLATE has no {placeholder} in any of its strings")
        if max_segments < 1:
            raise ConfigurationError("the SMS length limit must be at least one part")
        self.max_segments, self.timeout = max_segments, timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:  # no key
        return f"SmsChannel({self.url!r}, max_segments={self.max_segments})"

    def open(self) -> None:
        """Nothing to do: one HTTP request per message."""

    def close(self) -> None:
        """Nothing to do: one HTTP request per message."""

    def body(self, msg: OutgoingMessage) -> bytes:
        """The JSON the gateway receives for ``msg`` (the template, filled in)."""
        to = msg.to.translate(_NUMBER_PUNCTUATION)
        return json.dumps(_fill(self._template, to, msg.text), ensure_ascii=False).encode("utf-8")

    def send(self, msg: OutgoingMessage) -> None:
        """POST ``msg`` to the gateway; :class:`DeliveryError` (module docstring for which are permanent)."""
        if msg.channel != "sms":
            raise DeliveryError(f"the SMS channel cannot send a {msg.channel} message", permanent=True)
        if not _NUMBER.fullmatch(msg.to.translate(_NUMBER_PUNCTUATION)):
            raise DeliveryError("the patient's phone number is not valid", permanent=True)
        length = sms_length(msg.text)
        if length.segments > self.max_segments:
            raise DeliveryError(f"the text needs {length.segments} SMS parts ({length.units} {length.encoding} "
                                f"units), more than the {self.max_segments} allowed", permanent=True)
        request = urllib.request.Request(self.url, data=self.body(msg), headers=self._headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            permanent = 400 <= status < 500 and status not in _TEMPORARY_4XX
            raise DeliveryError(f"the SMS gateway answered {status} {exc.reason}", permanent=permanent) from exc
        except urllib.error.URLError as exc:
            raise DeliveryError(f"cannot reach the SMS gateway ({exc.reason})", permanent=False) from exc
        except (TimeoutError, OSError) as exc:
            raise DeliveryError(f"the SMS gateway did not answer ({exc})", permanent=False) from exc
