"""Running the receiver: an aiosmtpd controller around InboundHandler, with the settings' limits."""

from __future__ import annotations

import logging

from aiosmtpd.controller import Controller
from django.conf import settings

from shared_apps.mailroute.receiver import InboundHandler


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
    )
