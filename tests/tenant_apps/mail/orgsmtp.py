"""An organization's own SMTP server for the tests: aiosmtpd on 127.0.0.1 requiring STARTTLS and AUTH (a
self-signed certificate made here with `cryptography`), or speaking implicit TLS; and the fixtures that
configure an organization to send through it."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.tenant_apps.sequences.smtp import Inbox, _free_port

USERNAME = "acme-mailer"
PASSWORD = "s3cret-smtp-pass"


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (an IP address or a name) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class AuthInbox(Inbox):
    """An Inbox whose server requires AUTH: the logins it accepted, in order."""

    logins: list[str] = field(default_factory=list)
    ca_file: str = ""

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        ):
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def reset(self) -> None:
        super().reset()
        self.logins.clear()


@pytest.fixture(scope="session")
def _certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture(scope="session")
def _org_smtp_server(_certificate: tuple[Path, Path]) -> Iterator[AuthInbox]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    inbox = AuthInbox(port=_free_port(), ca_file=str(_certificate[0]))
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=inbox.port,
        tls_context=server_context(*_certificate),
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_require_tls=True,
        auth_required=True,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def _org_smtps_server(_certificate: tuple[Path, Path]) -> Iterator[AuthInbox]:
    """The same server speaking implicit TLS (SMTPS) from the first byte."""
    inbox = AuthInbox(port=_free_port(), ca_file=str(_certificate[0]))
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=inbox.port,
        ssl_context=server_context(*_certificate),
        authenticator=inbox.authenticate,
        auth_required=True,
        # aiosmtpd's check looks for STARTTLS; here the whole session is TLS from the first byte
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def org_smtp(_org_smtp_server: AuthInbox, settings: Any) -> Iterator[AuthInbox]:
    """The organization's server (STARTTLS + AUTH), its certificate trusted through MAIL_SMTP_CA_FILE."""
    settings.MAIL_SMTP_CA_FILE = _org_smtp_server.ca_file
    _org_smtp_server.reset()
    yield _org_smtp_server
    _org_smtp_server.reset()


@pytest.fixture
def org_smtps(_org_smtps_server: AuthInbox, settings: Any) -> Iterator[AuthInbox]:
    settings.MAIL_SMTP_CA_FILE = _org_smtps_server.ca_file
    _org_smtps_server.reset()
    yield _org_smtps_server
    _org_smtps_server.reset()


def smtp_settings(server: Inbox, **overrides: Any) -> dict[str, Any]:
    """The PATCH /api/settings/email/ body configuring `server` (STARTTLS, the right password), enabled."""
    return {
        "smtp_enabled": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_security": "starttls",
        "smtp_username": USERNAME,
        "smtp_password": PASSWORD,
        **overrides,
    }
