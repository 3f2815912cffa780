"""The organization's own SMTP server: the connection members' emails and sequence steps go through when an
admin has configured and enabled it (MailSettings.smtp_*), else the platform's (Django's EMAIL_* settings).

- The host must resolve to public addresses (the webhooks' SSRF rule) unless MAIL_SMTP_ALLOW_PRIVATE_HOSTS,
  checked when saved and again at each connection, and the socket goes to the very address that passed
  (no second DNS answer to rebind); TLS still verifies the certificate against the host name.
- Security: none, STARTTLS (refused when the server does not offer it: never a silent downgrade) or
  implicit TLS; certificates are verified (system CAs plus MAIL_SMTP_CA_FILE).
- `smtp_test` sends a test message through the saved configuration and turns every failure into an
  SmtpTestFailed with a stable code and the server's own words (a 400, never a 500).
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend

from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.core.sealed import SealedValueUnreadable, unseal
from tenant_apps.mail.models import MailSettings, SmtpSecurity
from tenant_apps.webhooks.transport import address_allowed, resolve

TEST_TIMEOUT = 15.0  # seconds: an admin is waiting for the answer


class SmtpHostRefused(Exception):
    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


class SmtpTestFailed(AppError):
    """The test message did not go through the organization's server: `code` says at which step."""

    status_code = 400
    code = "smtp_failed"
    message = "The test message could not be sent."


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str
    username: str
    password: str
    from_domains: tuple[str, ...]
    from_address: str


def server_of(row: MailSettings) -> SmtpServer:
    """The configuration of `row` with its password opened (SealedValueUnreadable if it cannot be)."""
    return SmtpServer(
        host=row.smtp_host,
        port=int(row.smtp_port),
        security=row.smtp_security,
        username=row.smtp_username,
        password=unseal(row.smtp_password_secret),
        from_domains=tuple(row.smtp_from_domains or ()),
        from_address=row.smtp_from_address,
    )


def organization_server() -> SmtpServer | None:
    """The organization's server when configured and enabled, else None (the platform's)."""
    row = MailSettings.objects.filter(pk=1, smtp_enabled=True).exclude(smtp_host="").first()
    return server_of(row) if row is not None else None


def checked_addresses(host: str, port: int) -> tuple[str, ...]:
    """What `host` resolves to, every address one the platform may connect to (SmtpHostRefused otherwise)."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise SmtpHostRefused(f"The host {host} does not resolve.", code="smtp_host_unresolvable") from None
    if not addresses:
        raise SmtpHostRefused(f"The host {host} does not resolve.", code="smtp_host_unresolvable")
    if settings.MAIL_LOOPBACK_HOSTS_ONLY:  # the test suite's: a fuzzed host is never contacted elsewhere
        outside = [address for address in addresses if not ipaddress.ip_address(address).is_loopback]
        if outside:
            raise SmtpHostRefused(
                f"The host {host} resolves to {outside[0]}: only this machine here.", code="smtp_host_private"
            )
    if not settings.MAIL_SMTP_ALLOW_PRIVATE_HOSTS:
        refused = [address for address in addresses if not address_allowed(address)]
        if refused:
            raise SmtpHostRefused(
                f"The host {host} resolves to {refused[0]}: private, loopback, link-local and reserved "
                "addresses are not allowed.",
                code="smtp_host_private",
            )
    return tuple(addresses)


class _PinnedSMTP(smtplib.SMTP):
    """Connects to the checked addresses whatever host it is given (the host name still serves for TLS)."""

    addresses: tuple[str, ...] = ()

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        error: OSError | None = None
        for address in self.addresses:
            try:
                return socket.create_connection((address, port), timeout, self.source_address)
            except OSError as failed:
                error = failed
        raise error or OSError("no address to connect to")


class _PinnedSMTPSSL(smtplib.SMTP_SSL, _PinnedSMTP):
    """SMTP_SSL wraps the socket _PinnedSMTP opens (its _get_socket calls super()'s)."""


class OrganizationSmtpBackend(EmailBackend):
    """Django's SMTP backend aimed at the organization's server."""

    def __init__(self, server: SmtpServer, *, timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(
            host=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.security == SmtpSecurity.STARTTLS,
            use_ssl=server.security == SmtpSecurity.TLS,
            timeout=timeout if timeout is not None else settings.EMAIL_TIMEOUT,
            fail_silently=False,
            **kwargs,
        )
        self.server = server

    @property
    def connection_class(self) -> Any:
        base = _PinnedSMTPSSL if self.use_ssl else _PinnedSMTP
        addresses = checked_addresses(self.server.host, self.server.port)
        return type(base.__name__, (base,), {"addresses": addresses})

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if settings.MAIL_SMTP_CA_FILE:
            context.load_verify_locations(cafile=settings.MAIL_SMTP_CA_FILE)
        return context

    def open(self) -> bool | None:
        try:
            return super().open()
        except SmtpHostRefused as refused:  # an OSError for the callers: the server cannot be reached
            raise OSError(refused.message) from refused


class _Unusable(BaseEmailBackend):
    """The organization's server is enabled but its password cannot be opened: every send fails as with an
    unreachable server (the caller's OSError handling: nothing recorded, sequences try again later) until
    an admin enters it again. Never the platform's server instead: the organization chose its own."""

    server: SmtpServer | None = None

    def send_messages(self, email_messages: Any) -> int:
        raise OSError("The organization's SMTP password cannot be read: an admin must enter it again.")


def outbound_connection() -> OrganizationSmtpBackend | _Unusable | None:
    """The backend an outbound message goes through: the organization's server, or None (EmailMessage
    then takes the platform's, settings.EMAIL_BACKEND)."""
    try:
        server = organization_server()
    except SealedValueUnreadable:
        return _Unusable()
    return OrganizationSmtpBackend(server) if server is not None else None


def sender_address(server: SmtpServer | None, address: str) -> str:
    """The From address of a member whose own is `address`: theirs, unless the organization's server may
    send only for some domains and theirs is not one (then its From address)."""
    if server is None or not server.from_domains or not server.from_address:
        return address
    domain = address.rpartition("@")[2].lower()
    return address if domain in server.from_domains else server.from_address


def smtp_test(*, row: MailSettings, sender: str, to: str) -> str:
    """Send a test message to `to` through the saved configuration (enabled or not); returns the server's
    host. Every failure is SmtpTestFailed with a code naming the step that failed."""
    if not row.smtp_host:
        raise InvalidInput("smtp_host", "Configure the SMTP host first.", code="required")
    try:
        server = server_of(row)
    except SealedValueUnreadable:
        raise SmtpTestFailed(
            "The stored password cannot be read (the platform's keys changed): enter it again.",
            code="smtp_password_unreadable",
        ) from None
    name, address = parseaddr(sender)
    message = EmailMessage(
        subject="LeadPulse: test message",
        body=(
            "This is a test message from LeadPulse, sent through your organization's SMTP server "
            f"({server.host}:{server.port}). It arrived: the configuration works.\n"
        ),
        from_email=formataddr((name, sender_address(server, address))),
        to=[to],
        connection=OrganizationSmtpBackend(server, timeout=min(TEST_TIMEOUT, settings.EMAIL_TIMEOUT)),
    )
    try:
        checked_addresses(server.host, server.port)
        message.send()
    except SmtpHostRefused as refused:
        raise SmtpTestFailed(refused.message, code=refused.code) from None
    except Exception as error:  # every failure is answered (what failed, in the server's words)
        raise _failure(error, server) from None
    return server.host


def _reply(error: Any) -> str:
    code = getattr(error, "smtp_code", None)
    text = getattr(error, "smtp_error", b"")
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {text}".strip()[:300] if code else str(error)[:300]


def _failure(error: Exception, server: SmtpServer) -> SmtpTestFailed:
    where = f"{server.host}:{server.port}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return SmtpTestFailed(
            f"{where} refused the username or password: {_reply(error)}", code="smtp_auth_failed"
        )
    if isinstance(error, smtplib.SMTPNotSupportedError):
        offered = "STARTTLS" if server.security == SmtpSecurity.STARTTLS else "AUTH"
        return SmtpTestFailed(f"{where} does not offer {offered}: {error}"[:400], code="smtp_not_supported")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = "; ".join(
            f"{address}: {_reply_tuple(reply)}" for address, reply in error.recipients.items()
        )
        return SmtpTestFailed(
            f"{where} refused the recipient: {replies}"[:400], code="smtp_recipient_refused"
        )
    if isinstance(error, smtplib.SMTPSenderRefused):
        return SmtpTestFailed(
            f"{where} refused the sender {error.sender}: {_reply(error)}", code="smtp_sender_refused"
        )
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return SmtpTestFailed(f"{where} closed the connection: {error}"[:400], code="smtp_disconnected")
    if isinstance(error, smtplib.SMTPResponseException):
        return SmtpTestFailed(f"{where} refused the message: {_reply(error)}", code="smtp_refused")
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        reason = getattr(error, "verify_message", "") or getattr(error, "reason", "") or str(error)
        return SmtpTestFailed(f"TLS with {where} failed: {reason}"[:400], code="smtp_tls_failed")
    if isinstance(error, TimeoutError):
        return SmtpTestFailed(f"{where} did not answer in time.", code="smtp_timeout")
    if isinstance(error, OSError):
        return SmtpTestFailed(f"Could not connect to {where}: {error}"[:400], code="smtp_connect_failed")
    return SmtpTestFailed(f"{where}: {type(error).__name__}: {error}"[:400], code="smtp_failed")


def _reply_tuple(reply: Any) -> str:
    if isinstance(reply, tuple) and len(reply) == 2:
        text = reply[1].decode("utf-8", "replace") if isinstance(reply[1], bytes) else str(reply[1])
        return f"{reply[0]} {text}"
    return str(reply)
