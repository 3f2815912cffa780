"""Running the receiver: an aiosmtpd controller around InboundHandler, with the settings' limits, and
STARTTLS when INBOUND_TLS_CERT and INBOUND_TLS_KEY name a certificate and its key (PEM files)."""

from __future__ import annotations

import logging
import ssl

from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from shared_apps.mailroute.receiver import InboundHandler


def tls_context() -> ssl.SSLContext | None:
    """The server side of STARTTLS (TLS 1.2 or later), or None when no certificate is configured."""
    cert, key = settings.INBOUND_TLS_CERT, settings.INBOUND_TLS_KEY
    if not cert and not key:
        return None
    if not (cert and key):
        raise ImproperlyConfigured("INBOUND_TLS_CERT and INBOUND_TLS_KEY go together: set both or neither.")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def controller(*, host: str | None = None, port: int | None = None) -> Controller:
    """A controller listening on `host`:`port` (INBOUND_SMTP_HOST/PORT by default); `start()` it."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    return Controller(
        InboundHandler(),
        hostname=host if host is not None else settings.INBOUND_SMTP_HOST,
        port=port if port is not None else settings.INBOUND_SMTP_PORT,
        data_size_limit=settings.INBOUND_MAX_BYTES,
        server_hostname=settings.INBOUND_DOMAIN,
        ident="LeadPulse inbound",
        # STARTTLS is offered, not required: mail between servers falls back to plain text when one side
        # cannot do TLS (RFC 3207), and refusing it would lose mail
        tls_context=tls_context(),
    )
