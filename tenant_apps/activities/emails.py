"""Parsing emails for the timeline: a raw RFC 5322 message or its already-parsed fields."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_string, policy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from django.utils import timezone

from shared_apps.core.errors import InvalidInput

MAX_RAW_CHARS = 2_000_000
MAX_BODY_CHARS = 100_000
MSGID_RE = re.compile(r"<[^<>\s]{1,290}>")


@dataclass
class ParsedEmail:
    message_id: str
    subject: str
    body: str
    date: datetime
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    from_addresses: list[str] = field(default_factory=list)
    headers: dict[str, Any] = field(default_factory=dict)


def _clean(text: Any) -> str:
    return str(text or "").replace("\x00", "").strip()


def _ids(value: Any, *, field_name: str) -> list[str]:
    """Message ids from a header value ('<a@x> <b@y>') or a list of them; bare ids get their brackets."""
    if isinstance(value, list | tuple):
        value = " ".join(str(item) for item in value)
    value = _clean(value)
    if not value:
        return []
    found = MSGID_RE.findall(value)
    if not found and "<" not in value:
        found = [f"<{part}>" for part in value.split() if len(part) <= 290]
    if not found:
        raise InvalidInput(field_name, "Expected message ids such as <abc@mail.example.com>.")
    return found


def _date(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif value:
        try:
            parsed = parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            try:
                parsed = datetime.fromisoformat(str(value))
            except ValueError:
                raise InvalidInput("date", "Use an RFC 5322 or ISO 8601 date.") from None
    else:
        return timezone.now()
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _generated_id(*parts: str) -> str:
    # No Message-ID: derive one from the content, so re-sending the same message is still recognized.
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"<{digest}@generated.leadpulse>"


def _finish(
    *,
    message_id: list[str],
    subject: str,
    body: str,
    date_header: Any,
    in_reply_to: list[str],
    references: list[str],
    sender: str,
    to: str,
    cc: str,
) -> ParsedEmail:
    subject, body = subject[:300], body[:MAX_BODY_CHARS]
    date = _date(date_header)
    # without a Message-ID, the id is derived from what was sent (not from when we saw it)
    msgid = message_id[0] if message_id else _generated_id(sender, to, subject, _clean(date_header), body)
    addresses = [address.lower() for _name, address in getaddresses([sender]) if address]
    headers = {
        "from": sender,
        "to": to,
        "cc": cc,
        "message_id": msgid,
        "in_reply_to": in_reply_to[:1],
        "references": references[:50],
        "date": date.isoformat(),
    }
    return ParsedEmail(
        message_id=msgid,
        subject=subject,
        body=body,
        date=date,
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=references[:50],
        from_addresses=addresses,
        headers=headers,
    )


@dataclass
class LoggedEmail:
    """What places an email a member logs on a timeline (POST .../activities/, type EMAIL) in a thread: a
    Message-ID of its own, and the message it answers when the metadata names one (`in_reply_to`,
    `references`, as ids or lists of ids)."""

    message_id: str
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)


def logged_email(metadata: dict[str, Any]) -> LoggedEmail:
    in_reply_to = _ids(metadata.get("in_reply_to"), field_name="metadata")
    references = _ids(metadata.get("references"), field_name="metadata")
    # a fresh id, never derived from the content: two emails logged alike are two messages
    return LoggedEmail(
        message_id=f"<logged-{uuid.uuid4().hex}@generated.leadpulse>",
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=references[:50],
    )


def parse_raw(raw: Any) -> ParsedEmail:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("raw", "A raw RFC 5322 message is required.", code="required")
    if len(raw) > MAX_RAW_CHARS:
        raise InvalidInput("raw", f"Messages are at most {MAX_RAW_CHARS} characters.", code="too_large")
    try:
        message = message_from_string(raw.replace("\x00", ""), policy=policy.default)
        sender = _clean(message.get("From"))
        if not sender:
            raise InvalidInput("raw", "Not an email: it has no From header.", code="not_an_email")
        part = message.get_body(preferencelist=("plain", "html"))
        body = _clean(part.get_content()) if part is not None else ""
        if part is not None and part.get_content_type() == "text/html":
            body = re.sub(r"<[^>]+>", " ", body)
        return _finish(
            message_id=_ids(message.get("Message-ID"), field_name="raw"),
            subject=_clean(message.get("Subject")),
            body=body,
            date_header=message.get("Date"),
            in_reply_to=_ids(message.get("In-Reply-To"), field_name="raw"),
            references=_ids(message.get("References"), field_name="raw"),
            sender=sender,
            to=_clean(message.get("To")),
            cc=_clean(message.get("Cc")),
        )
    except InvalidInput:
        raise
    except Exception:  # the email package raises many kinds of errors on malformed headers
        raise InvalidInput("raw", "Not a parseable RFC 5322 message.", code="not_an_email") from None


def parse_fields(fields: dict[str, Any]) -> ParsedEmail:
    sender = _clean(fields.get("from"))
    if not sender:
        raise InvalidInput("from", "The sender is required.", code="required")
    return _finish(
        message_id=_ids(fields.get("message_id"), field_name="message_id"),
        subject=_clean(fields.get("subject")),
        body=_clean(fields.get("body")),
        date_header=fields.get("date"),
        in_reply_to=_ids(fields.get("in_reply_to"), field_name="in_reply_to"),
        references=_ids(fields.get("references"), field_name="references"),
        sender=sender,
        to=_clean(fields.get("to")),
        cc=_clean(fields.get("cc")),
    )
