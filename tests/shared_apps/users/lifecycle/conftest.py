"""The real SMTP server (aiosmtpd) of the sequences' tests, for the lifecycle emails."""

from __future__ import annotations

import re

from tests.tenant_apps.sequences.smtp import Inbox, _smtp_server, smtp

__all__ = ["_smtp_server", "link_in", "smtp"]


def link_in(inbox: Inbox, to: str) -> str:
    """The one link of the last message sent to `to`."""
    [message] = [m for m in inbox.messages if to in m.recipients][-1:]
    [link] = re.findall(r"https?://\S+", message.body)
    return link
