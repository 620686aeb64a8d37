"""The e-mail and SMS channels against real servers the tests start on 127.0.0.1: an SMTP server
(aiosmtpd: plain, with AUTH, with STARTTLS and with TLS from the start, using a self-signed
certificate made here) and an SMS gateway (the standard library's HTTP server)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine, select

from spinetrack import followup
from spinetrack.errors import ConfigurationError
from spinetrack.followup.channels import Channels, DeliveryError, SmsChannel, SmtpChannel, channels_from_settings
from spinetrack.followup.links import hash_link_token
from spinetrack.followup.messages import OutgoingMessage, compose, sms_length
from spinetrack.store.repositories import Store
from spinetrack.store.tables import OutboxRow, PatientLinkRow
from tests.followup.cohort import add_episodes, add_site, rows
from tests.followup.test_messages import CLINICAL_WORDS

LINK = "http://127.0.0.1:8000/p/h/" + "x" * 43
STOP = LINK + "/stop"
USER, PASSWORD = "clinic@north", "s3cret:/@pass"  # characters a URL must escape


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _message(to: str = "patient@example.org", ref: str | None = "17") -> OutgoingMessage:
    subject, text, html = compose("invitation", channel="email", clinic_name="North Clinic",
                                  clinic_phone="+44 20 7946 0000", clinic_email="followup@north.example.org",
                                  timepoint_label="6 months", opens_on=dt.date(2027, 1, 4),
                                  closes_on=dt.date(2027, 4, 5), link=LINK, opt_out_link=STOP)
    return OutgoingMessage("email", to, subject, text, html, opt_out_link=STOP, ref=ref)


# -- the SMTP server ---------------------------------------------------------------------------------
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    peer: Any
    tls: bool
    authenticated: bool


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → SMTP reply

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, session.peer,
                                      session.ssl is not None, bool(session.authenticated)))
        return "250 Message accepted"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    root = tmp_path_factory.mktemp("tls")
    (root / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (root / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    return root / "cert.pem", root / "key.pem"


def _server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    return context


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Handler]]:
    """Plain SMTP, no AUTH."""
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_an_invitation_arrives_with_everything_it_must_carry(smtp_server: tuple[Controller, Handler]) -> None:
    controller, handler = smtp_server
    channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{controller.port}", "North Clinic <followup@north.example.org>")
    channel.send(_message())
    [got] = handler.received
    assert got.mail_from == "followup@north.example.org" and got.rcpt_tos == ["patient@example.org"]
    m = got.message
    assert m["To"] == "patient@example.org" and m["From"] == "North Clinic <followup@north.example.org>"
    assert m["Subject"] == "North Clinic: a short questionnaire about your back"
    assert m["List-Unsubscribe"].strip() == f"<{STOP}>"  # folded onto its own line (it is long)
    message_id = m["Message-ID"].strip()
    assert message_id.startswith("<") and message_id.endswith(".spinetrack.17@north.example.org>")
    assert m["Auto-Submitted"] == "auto-generated"
    assert m.get_content_type() == "multipart/alternative"
    text_part, html_part = m.get_body(("plain",)), m.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    for body in (text, html):
        assert LINK in body and STOP in body and "North Clinic" in body
        assert "4 January 2027" in body and "5 April 2027" in body
    everything = (m["Subject"] + text + html).lower()
    assert not [w for w in CLINICAL_WORDS if f" {w}" in everything]


def test_non_ascii_names_and_long_lines_arrive_intact(smtp_server: tuple[Controller, Handler]) -> None:
    controller, handler = smtp_server
    clinic = "Clínica Norte – São João"
    subject, text, html = compose("reminder", channel="email", clinic_name=clinic, clinic_phone=None,
                                  clinic_email=None, timepoint_label="12 months", opens_on=None,
                                  closes_on=dt.date(2027, 6, 30), link=LINK, opt_out_link=STOP)
    text += ".a line that starts with a dot\n" + "y" * 300 + "\n"
    channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{controller.port}", f"{clinic} <followup@north.example.org>")
    channel.send(OutgoingMessage("email", "patient@example.org", subject, text, html, opt_out_link=STOP))
    with pytest.raises(DeliveryError) as non_ascii:
        channel.send(OutgoingMessage("email", "pätient@example.org", subject, text, html))
    assert non_ascii.value.permanent
    [got] = handler.received
    m = got.message
    assert m["Subject"] == f"Reminder from {clinic}: a short questionnaire about your back"
    [sender] = m["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (clinic, "followup@north.example.org")
    plain, rich = m.get_body(("plain",)), m.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content().replace("\r\n", "\n") == text
    assert rich.get_content().replace("\r\n", "\n") == html + "\n"  # a text part ends with a line end


def test_a_text_only_message_is_one_part(smtp_server: tuple[Controller, Handler]) -> None:
    controller, handler = smtp_server
    channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{controller.port}", "followup@north.example.org")
    channel.send(OutgoingMessage("email", "patient@example.org", "Hello", "Just text, ünïcode.\n"))
    [got] = handler.received
    assert got.message.get_content_type() == "text/plain" and got.message.get("List-Unsubscribe") is None
    assert got.message.get_content().replace("\r\n", "\n") == "Just text, ünïcode.\n"


def test_a_batch_keeps_one_connection_and_single_sends_do_not(smtp_server: tuple[Controller, Handler]) -> None:
    controller, handler = smtp_server
    channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{controller.port}", "followup@north.example.org")
    with channel:
        for i in range(3):
            channel.send(_message(to=f"p{i}@example.org"))
    assert len(handler.received) == 3 and len({r.peer for r in handler.received}) == 1
    for i in range(2):
        channel.send(_message(to=f"q{i}@example.org"))
    assert len({r.peer for r in handler.received[3:]}) == 2


def test_a_batch_connects_again_when_the_server_dropped_the_idle_connection() -> None:
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), timeout=0.3)
    controller.start()
    try:
        channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{controller.port}", "followup@north.example.org")
        with channel:
            channel.send(_message(to="a@example.org"))
            time.sleep(1.0)  # the server closes the idle connection after 0.3 s
            channel.send(_message(to="b@example.org"))
    finally:
        controller.stop()
    assert [r.rcpt_tos for r in handler.received] == [["a@example.org"], ["b@example.org"]]
    assert handler.received[0].peer != handler.received[1].peer


def test_a_refused_recipient_is_permanent_and_a_busy_server_temporary(smtp_server: tuple[Controller, Handler]) -> None:
    controller, handler = smtp_server
    handler.refuse = {"gone@example.org": "550 5.1.1 no such user", "full@example.org": "452 4.2.2 mailbox full"}
    channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{controller.port}", "followup@north.example.org")
    with channel:
        with pytest.raises(DeliveryError) as gone:
            channel.send(_message(to="gone@example.org"))
        assert gone.value.permanent and "550" in gone.value.reason
        with pytest.raises(DeliveryError) as full:
            channel.send(_message(to="full@example.org"))
        assert not full.value.permanent and "452" in full.value.reason
        channel.send(_message(to="fine@example.org"))  # the batch's connection still works
    assert [r.rcpt_tos for r in handler.received] == [["fine@example.org"]]


def test_no_server_is_a_temporary_error_and_a_bad_address_a_permanent_one() -> None:
    channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{_free_port()}?timeout=5", "followup@north.example.org")
    with pytest.raises(DeliveryError) as refused:
        channel.send(_message())
    assert not refused.value.permanent and "cannot reach the mail server" in refused.value.reason
    for bad in ("no-at-sign", "a@b@c", "patient@example.org\r\nBcc: x@example.org", "x@localhost"):
        with pytest.raises(DeliveryError) as invalid:
            channel.send(_message(to=bad))
        assert invalid.value.permanent


def test_starttls_asked_of_a_server_without_it_is_temporary(smtp_server: tuple[Controller, Handler]) -> None:
    controller, handler = smtp_server
    channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{controller.port}?starttls=true", "followup@north.example.org")
    with pytest.raises(DeliveryError) as no_tls:
        channel.send(_message())
    assert not no_tls.value.permanent and "STARTTLS" in no_tls.value.reason
    assert handler.received == []  # nothing went unencrypted


@pytest.fixture
def auth_server(cert: tuple[Path, Path]) -> Iterator[tuple[Controller, Handler]]:
    """STARTTLS offered and required, AUTH required (only after STARTTLS)."""
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), tls_context=_server_context(cert),
                            require_starttls=True, auth_required=True, authenticator=_authenticator)
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_starttls_and_auth_with_an_escaped_password(auth_server: tuple[Controller, Handler],
                                                    cert: tuple[Path, Path]) -> None:
    controller, handler = auth_server
    url = f"smtp://clinic%40north:s3cret%3A%2F%40pass@127.0.0.1:{controller.port}?starttls=true&cafile={cert[0]}"
    channel = SmtpChannel.from_url(url, "followup@north.example.org")
    assert "s3cret" not in repr(channel)
    channel.send(_message())
    [got] = handler.received
    assert got.tls and got.authenticated


def test_a_wrong_password_or_an_untrusted_certificate_is_temporary(auth_server: tuple[Controller, Handler],
                                                                   cert: tuple[Path, Path]) -> None:
    controller, handler = auth_server
    wrong = SmtpChannel.from_url(f"smtp://clinic%40north:nope@127.0.0.1:{controller.port}?starttls=true"
                                 f"&cafile={cert[0]}", "followup@north.example.org")
    with pytest.raises(DeliveryError) as bad_password:
        wrong.send(_message())
    assert not bad_password.value.permanent and "user name or password" in bad_password.value.reason
    untrusted = SmtpChannel.from_url(f"smtp://clinic%40north:x@127.0.0.1:{controller.port}?starttls=true",
                                     "followup@north.example.org")
    with pytest.raises(DeliveryError) as bad_cert:
        untrusted.send(_message())
    assert not bad_cert.value.permanent and "TLS" in bad_cert.value.reason
    assert handler.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtps_tls_from_the_start(cert: tuple[Path, Path]) -> None:
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), ssl_context=_server_context(cert),
                            # aiosmtpd does not count TLS from the start as TLS for AUTH: it is, here
                            auth_required=True, auth_require_tls=False, authenticator=_authenticator)
    controller.start()
    try:
        client = ssl.create_default_context(cafile=str(cert[0]))
        channel = SmtpChannel.from_url(f"smtps://clinic%40north:s3cret%3A%2F%40pass@127.0.0.1:{controller.port}",
                                       "followup@north.example.org", ssl_context=client)
        with channel:
            channel.send(_message(to="a@example.org"))
            channel.send(_message(to="b@example.org"))
    finally:
        controller.stop()
    assert [r.rcpt_tos for r in handler.received] == [["a@example.org"], ["b@example.org"]]
    assert all(r.authenticated for r in handler.received)


def test_plain_auth_only_to_this_machine() -> None:
    with pytest.raises(ConfigurationError, match="no encryption"):
        SmtpChannel.from_url("smtp://u:p@mail.example.org:25", "followup@north.example.org")
    for loopback in ("127.0.0.1", "localhost"):
        assert SmtpChannel.from_url(f"smtp://u:p@{loopback}", "a@north.example.org").port == 25


@pytest.mark.parametrize(("url", "security", "port"), [
    ("smtp://mail.example.org", "plain", 25),
    ("smtp://u:p@mail.example.org?starttls=true", "starttls", 587),
    ("smtp://u:p@mail.example.org:2525?starttls=yes&timeout=5", "starttls", 2525),
    ("smtps://u:p@mail.example.org", "tls", 465),
])
def test_smtp_urls(url: str, security: str, port: int) -> None:
    channel = SmtpChannel.from_url(url, "followup@north.example.org")
    assert (channel.security, channel.port) == (security, port)


@pytest.mark.parametrize("url", ["http://mail.example.org", "smtp://", "smtp://h?starttls=maybe", "smtp://h?tls=1",
                                 "smtps://u:p@h?starttls=true", "smtp://h:port", "smtp://h?timeout=0",
                                 "smtps://h?cafile=/nonexistent/ca.pem"])
def test_bad_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        SmtpChannel.from_url(url, "followup@north.example.org")


# -- the SMS gateway ---------------------------------------------------------------------------------
@dataclass
class Gateway:
    url: str
    requests: list[dict[str, Any]]
    status: list[int]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    requests: list[dict[str, Any]] = []
    status = [202]

    class _Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                             "body": json.loads(body)})
            self.send_response(status[0])
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"id": "msg-1"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Gateway(f"http://127.0.0.1:{server.server_address[1]}/v1/messages", requests, status)
    finally:
        server.shutdown()
        server.server_close()


def _sms(to: str = "+44 7700 900123", **overrides: Any) -> OutgoingMessage:
    _, text, _ = compose("reminder", channel="sms", clinic_name=overrides.pop("clinic", "North \"Spine\" Clinic"),
                         clinic_phone=None, clinic_email=None, timepoint_label="12 months", opens_on=None,
                         closes_on=dt.date(2027, 6, 30), link=LINK, opt_out_link=STOP)
    return OutgoingMessage("sms", to, "", overrides.get("text", text))


def test_an_sms_is_posted_as_json_from_the_template(gateway: Gateway) -> None:
    channel = SmsChannel(gateway.url, auth_header="Authorization: Bearer k3y",
                         body_template='{"to": "{to}", "body": "{text}", "sender": "North", "tags": ["{to}"]}')
    msg = _sms()
    channel.send(msg)
    [request] = gateway.requests
    assert request["method"] == "POST" and request["path"] == "/v1/messages"
    assert request["headers"]["Authorization"] == "Bearer k3y"
    assert request["headers"]["Content-Type"].startswith("application/json")
    body = request["body"]
    assert body == {"to": "+447700900123", "body": msg.text, "sender": "North", "tags": ["+447700900123"]}
    assert 'North "Spine" Clinic' in body["body"]  # a quote in the text does not break the JSON
    assert LINK in body["body"] and STOP in body["body"] and "30 Jun 2027" in body["body"]
    assert sms_length(body["body"]).segments <= channel.max_segments


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (422, True), (401, False), (404, False),
                                                   (429, False), (500, False), (503, False), (302, False)])
def test_gateway_errors_are_permanent_or_temporary(gateway: Gateway, status: int, permanent: bool) -> None:
    gateway.status[0] = status
    with pytest.raises(DeliveryError) as failed:
        SmsChannel(gateway.url).send(_sms())
    assert failed.value.permanent is permanent and str(status) in failed.value.reason
    assert len(gateway.requests) == 1  # a redirect is not followed


def test_a_text_too_long_or_a_bad_number_never_reaches_the_gateway(gateway: Gateway) -> None:
    channel = SmsChannel(gateway.url, max_segments=2)
    with pytest.raises(DeliveryError) as too_long:
        channel.send(_sms(text="x" * 307))  # 3 parts of 153 septets
    assert too_long.value.permanent and "3 SMS parts" in too_long.value.reason
    channel.send(_sms(text="x" * 306))  # 2 parts
    for number in ("12345", "+44 7700 900123 ext 4", "patient@example.org"):
        with pytest.raises(DeliveryError) as bad:
            channel.send(_sms(to=number))
        assert bad.value.permanent
    assert len(gateway.requests) == 1


def test_no_gateway_is_a_temporary_error() -> None:
    with pytest.raises(DeliveryError) as refused:
        SmsChannel(f"http://127.0.0.1:{_free_port()}/send", timeout=5).send(_sms())
    assert not refused.value.permanent and "cannot reach the SMS gateway" in refused.value.reason


@pytest.mark.parametrize("kwargs", [{"body_template": "{to: {text}}"}, {"body_template": '{"to": "{to}"}'},
                                    {"auth_header": "Bearer only"}, {"auth_header": "X: a\r\nY: b"},
                                    {"max_segments": 0}])
def test_bad_sms_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        SmsChannel("https://sms.example.org/send", **kwargs)
    with pytest.raises(ConfigurationError):
        SmsChannel("ftp://sms.example.org/send")


# -- the settings -----------------------------------------------------------------------------------
@dataclass
class _Settings:
    smtp_url: str | None = None
    mail_from: str | None = None
    sms_url: str | None = None
    sms_auth_header: str | None = None
    sms_body_template: str | None = None


def test_channels_from_settings() -> None:
    assert channels_from_settings(_Settings()) is None  # nothing configured: messages are held
    both = channels_from_settings(_Settings(smtp_url="smtp://127.0.0.1:2525", mail_from="a@north.example.org",
                                            sms_url="https://sms.example.org/send"))
    assert both is not None and isinstance(both.email, SmtpChannel) and isinstance(both.sms, SmsChannel)
    assert both.available() == {"email", "sms", "letter"} and both.get("letter") is None
    sms_only = channels_from_settings(_Settings(sms_url="https://sms.example.org/send"))
    assert sms_only is not None and sms_only.email is None and sms_only.available() == {"sms", "letter"}
    with pytest.raises(ConfigurationError, match="MAIL_FROM"):
        channels_from_settings(_Settings(smtp_url="smtp://127.0.0.1:2525"))


def test_the_real_settings_object_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    from spinetrack.config import Settings

    monkeypatch.setenv("SPINETRACK_SMTP_URL", "smtp://127.0.0.1:2525")
    monkeypatch.setenv("SPINETRACK_MAIL_FROM", "North Clinic <followup@north.example.org>")
    channels = channels_from_settings(Settings())
    assert channels is not None and isinstance(channels.email, SmtpChannel) and channels.sms is None


def test_channels_batch_over_a_server_that_is_down_still_reports_per_message() -> None:
    channels = Channels(email=SmtpChannel.from_url(f"smtp://127.0.0.1:{_free_port()}", "a@north.example.org"))
    with channels:  # opening fails quietly …
        email_channel = channels.get("email")
        assert email_channel is not None
        with pytest.raises(DeliveryError) as down:  # … and each message says why
            email_channel.send(_message())
    assert not down.value.permanent


# -- through the scheduler ------------------------------------------------------------------------
def test_the_scheduler_sends_through_the_real_channels(engine: Engine, smtp_server: tuple[Controller, Handler],
                                                       gateway: Gateway) -> None:
    """A window opens: two e-mail patients get their invitation in the local SMTP server, one SMS
    patient through the local gateway; each link is one the store knows (by its hash)."""
    controller, handler = smtp_server
    site = add_site(engine)
    now = dt.datetime(2026, 6, 1, 9, 0)
    index = now.date() - dt.timedelta(days=100)  # the 3-month window (days 64–136) is open
    add_episodes(engine, site, 2, index_date=index)
    add_episodes(engine, site, 1, index_date=index, email=False, phone=True, start=2)
    channels = Channels(email=SmtpChannel.from_url(f"smtp://127.0.0.1:{controller.port}", "followup@example.org"),
                        sms=SmsChannel(gateway.url))
    report = followup.run(Store(engine), now=now, channels=channels, link_base="https://clinic.example.org")
    assert (report.invitations_created, report.messages_sent, report.messages_failed) == (3, 3, 0)
    assert sorted(r.rcpt_tos[0] for r in handler.received) == ["p0@example.org", "p1@example.org"]
    [sms] = gateway.requests
    assert sms["body"]["to"] == "+447700900002"
    hashes = {link.token_hash for link in rows(engine, select(PatientLinkRow))}
    texts = [sms["body"]["text"]] + [r.message.get_body(("plain",)).get_content() for r in handler.received]
    for received, text in zip([None, *handler.received], texts, strict=True):
        [token] = re.findall(r"https://clinic\.example\.org/p/h/([A-Za-z0-9_-]{43})(?!/stop)\b", text)
        assert hash_link_token(token) in hashes
        assert f"https://clinic.example.org/p/h/{token}/stop" in text
        assert "North Spine Clinic" in text
        if received is not None:
            assert received.message["List-Unsubscribe"].strip() == f"<https://clinic.example.org/p/h/{token}/stop>"
    assert {r.status for r in rows(engine, select(OutboxRow.status))} == {"sent"}
