"""E-mail over SMTP (the standard library's :mod:`smtplib`): one connection kept for a batch,
opened again when the server has dropped it, multipart text + HTML, a Message-ID, and a
``List-Unsubscribe`` header with the patient's opt-out link (RFC 2369).

The server is given as a URL, ``SPINETRACK_SMTP_URL``:

- ``smtp://host`` — port 25, no encryption (for a relay on the same machine or network);
- ``smtp://user:pass@host:587?starttls=true`` — STARTTLS (port 587 by default when asked);
- ``smtps://user:pass@host`` — TLS from the start (port 465 by default).

The user name and password are URL-decoded (write ``@`` as ``%40``). Query options:
``starttls=true|false``, ``timeout=SECONDS`` (30 by default), ``cafile=PATH`` (trust this CA
bundle instead of the system's, for an internal server). The server's certificate is always
checked. A password is never sent over an unencrypted connection except to this machine
(``localhost``, ``127.0.0.1``, ``::1``): such a URL is refused.
"""

from __future__ import annotations

import binascii
import secrets
import smtplib
import ssl
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

from spinetrack.errors import ConfigurationError
from spinetrack.followup.channels.base import DeliveryError
from spinetrack.followup.messages import OutgoingMessage

__all__ = ["SmtpChannel"]

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(query: dict[str, list[str]], key: str) -> bool | None:
    if key not in query:
        return None
    value = query[key][-1].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"SPINETRACK_SMTP_URL: {key} must be true or false, not {value!r}")


def _valid_address(to: str) -> bool:
    local, at, domain = to.rpartition("@")
    return bool(at and local and "." in domain and not any(c in to for c in "\r\n<>,;\"() \t"))


class SmtpChannel:
    """Sends e-mail through one SMTP server (module docstring for the URL).

    Use as a context manager (or :meth:`open` / :meth:`close`) to send a batch over one
    connection; without it each :meth:`send` connects, sends and disconnects.
    """

    name = "email"

    def __init__(self, *, host: str, port: int, mail_from: str, security: str = "plain",
                 username: str | None = None, password: str | None = None, timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if security not in ("plain", "starttls", "tls"):
            raise ConfigurationError(f"SMTP security must be plain, starttls or tls, not {security!r}")
        display_name, address = parseaddr(mail_from)
        if not _valid_address(address):
            raise ConfigurationError(f"SPINETRACK_MAIL_FROM must hold an e-mail address, not {mail_from!r}")
        if username and security == "plain" and host.lower() not in _LOOPBACK:
            raise ConfigurationError("SPINETRACK_SMTP_URL has a password but no encryption: use smtps:// or "
                                     "?starttls=true (a password goes unencrypted only to this machine)")
        self.host, self.port, self.security, self.timeout = host, port, security, timeout
        self.mail_from, self._envelope_from = mail_from, address
        self._from_header = formataddr((display_name, address), charset="utf-8")
        self._domain = address.rpartition("@")[2]
        self._username, self._password = username, password
        self._context = ssl_context
        self._conn: smtplib.SMTP | None = None

    @classmethod
    def from_url(cls, url: str, mail_from: str, *, ssl_context: ssl.SSLContext | None = None) -> SmtpChannel:
        """The channel for ``smtp://`` or ``smtps://`` URL (module docstring)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError("SPINETRACK_SMTP_URL must look like smtp://user:pass@host:587?starttls=true "
                                     "or smtps://user:pass@host")
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - {"starttls", "timeout", "cafile"})
        if unknown:
            raise ConfigurationError(f"SPINETRACK_SMTP_URL: unknown option {unknown[0]!r} "
                                     "(allowed: starttls, timeout, cafile)")
        starttls = _flag(query, "starttls")
        if parts.scheme == "smtps":
            if starttls:
                raise ConfigurationError("SPINETRACK_SMTP_URL: smtps:// is TLS already; drop ?starttls=true")
            security, default_port = "tls", 465
        else:
            security, default_port = ("starttls", 587) if starttls else ("plain", 25)
        try:
            timeout = float(query["timeout"][-1]) if "timeout" in query else 30.0
            port = parts.port or default_port
        except ValueError as exc:
            raise ConfigurationError(f"SPINETRACK_SMTP_URL: bad port or timeout ({exc})") from exc
        if timeout <= 0:
            raise ConfigurationError("SPINETRACK_SMTP_URL: timeout must be above 0 seconds")
        if ssl_context is None and "cafile" in query:
            try:
                ssl_context = ssl.create_default_context(cafile=query["cafile"][-1])
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(f"SPINETRACK_SMTP_URL: cannot read cafile ({exc})") from exc
        return cls(host=parts.hostname, port=port, mail_from=mail_from, security=security,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None,
                   timeout=timeout, ssl_context=ssl_context)

    def __repr__(self) -> str:  # no password
        return f"SmtpChannel({self.security}://{self.host}:{self.port}, user={self._username!r})"

    # -- the connection ---------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP
        if self.security == "tls":
            conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._ssl())
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            conn.ehlo()
            if self.security == "starttls":
                conn.starttls(context=self._ssl())
                conn.ehlo()
            if self._username:
                conn.login(self._username, self._password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    def open(self) -> None:
        """Connect now (a batch); raises :class:`DeliveryError` when the server cannot be reached."""
        if self._conn is None:
            try:
                self._conn = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                raise _temporary("connect", exc) from exc

    def close(self) -> None:
        """Say goodbye to the server and disconnect (never raises)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- sending --------------------------------------------------------------------------------
    def build(self, msg: OutgoingMessage) -> bytes:
        """The e-mail for ``msg`` as it goes on the wire: From, To, Subject, Date, Message-ID,
        Auto-Submitted, List-Unsubscribe (when the message has an opt-out link), MIME-Version; the
        text, and the HTML as its alternative, in UTF-8 quoted-printable (RFC 2045), CRLF line ends.

        Written here rather than by :mod:`email.generator`, which takes about 2 ms a message
        (folding each header): the values are ours, checked below, and the tests read every
        message back with the email package. A non-ASCII subject or sender name is encoded
        (RFC 2047); a non-ASCII address is refused (it would need SMTPUTF8)."""
        for value in (msg.to, msg.subject, msg.opt_out_link or "", msg.ref or ""):
            if "\r" in value or "\n" in value:
                raise ValueError("a header value holds a line break")
        if not msg.to.isascii():
            raise ValueError("the address is not ASCII (SMTPUTF8 is not used)")
        subject = msg.subject if msg.subject.isascii() else Header(msg.subject, "utf-8").encode()
        head = [f"From: {self._from_header}", f"To: {msg.to}", f"Subject: {subject}",
                f"Date: {formatdate(usegmt=True)}",
                "Message-ID: " + make_msgid(idstring=f"spinetrack.{msg.ref}" if msg.ref else "spinetrack",
                                            domain=self._domain),
                "Auto-Submitted: auto-generated",  # RFC 3834: an out-of-office reply should not answer it
                *([f"List-Unsubscribe: <{msg.opt_out_link}>"] if msg.opt_out_link else []),
                "MIME-Version: 1.0"]
        text = _qp_part("plain", msg.text)
        if not msg.html:
            lines = [*head, *text]
        else:
            boundary = f"=_spinetrack_{secrets.token_hex(12)}"  # random: never found in the parts
            lines = [*head, f'Content-Type: multipart/alternative; boundary="{boundary}"', "",
                     f"--{boundary}", *text, f"--{boundary}", *_qp_part("html", msg.html), f"--{boundary}--", ""]
        return "\r\n".join(lines).encode("ascii")

    def send(self, msg: OutgoingMessage) -> None:
        """Send ``msg``; :class:`DeliveryError` (permanent when the server refuses this recipient
        or this message with a 5xx reply, temporary otherwise)."""
        if msg.channel != "email":
            raise DeliveryError(f"the e-mail channel cannot send a {msg.channel} message", permanent=True)
        if not _valid_address(msg.to):
            raise DeliveryError("the patient's e-mail address is not valid", permanent=True)
        try:
            em = self.build(msg)
        except (ValueError, TypeError) as exc:  # a header the email package refuses
            raise DeliveryError(f"the message cannot be built ({exc})", permanent=True) from exc
        reused = self._conn is not None
        try:
            self._send_once(em, msg.to)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            if not reused:
                raise _temporary("send", exc) from exc
            # A kept connection the server had closed while idle: connect once more.
            try:
                self._send_once(em, msg.to)
            except smtplib.SMTPServerDisconnected as again:
                self._drop()
                raise _temporary("send", again) from again
        finally:
            if not reused:
                self.close()

    def _send_once(self, em: bytes, to: str) -> None:
        try:
            if self._conn is None:
                self._conn = self._connect()
            self._conn.sendmail(self._envelope_from, [to], em)
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(f"the mail server refused the recipient: {code} {_text(reply)}",
                                permanent=500 <= code < 600) from exc
        except smtplib.SMTPSenderRefused as exc:  # the configuration, not this message
            raise DeliveryError(f"the mail server refused the sender address: {exc.smtp_code} "
                                f"{_text(exc.smtp_error)}", permanent=False) from exc
        except smtplib.SMTPDataError as exc:
            raise DeliveryError(f"the mail server refused the message: {exc.smtp_code} {_text(exc.smtp_error)}",
                                permanent=500 <= exc.smtp_code < 600) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise _temporary("send", exc) from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _qp_part(subtype: str, body: str) -> list[str]:
    """The header lines and quoted-printable body of one UTF-8 text part."""
    crlf = "\r\n".join(body.splitlines()) + "\r\n"
    encoded = binascii.b2a_qp(crlf.encode("utf-8"), istext=True).decode("ascii")
    return [f'Content-Type: text/{subtype}; charset="utf-8"', "Content-Transfer-Encoding: quoted-printable", "",
            encoded]  # its last CRLF is the text's; the one before a boundary belongs to the boundary


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:200]


def _temporary(step: str, exc: BaseException) -> DeliveryError:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"the mail server refused the user name or password: {exc.smtp_code}", permanent=False)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"the mail server does not offer what the URL asks for ({exc})", permanent=False)
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(f"TLS with the mail server failed ({exc.reason or exc})", permanent=False)
    if isinstance(exc, smtplib.SMTPResponseException):
        return DeliveryError(f"the mail server answered {exc.smtp_code} {_text(exc.smtp_error)}", permanent=False)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError("the mail server closed the connection", permanent=False)
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"the mail server did not answer in time ({step})", permanent=False)
    if isinstance(exc, OSError):
        return DeliveryError(f"cannot reach the mail server ({exc.strerror or exc})", permanent=False)
    return DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False)
