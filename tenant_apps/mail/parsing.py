"""Reading an inbound message: Python's email package with policy.default (multipart, transfer encodings,
charsets, RFC 2047 headers), HTML bodies to text with BeautifulSoup, attachments, and RFC 3464 delivery
status notifications. Pure functions of the raw bytes: nothing here touches the database."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from bs4 import BeautifulSoup
from django.utils import timezone

from tenant_apps.activities.emails import MAX_BODY_CHARS, MSGID_RE

# What we put on every message we send (outbound, next to our Message-IDs): a message carrying it that comes
# back to an inbound address is our own, looping, and is never recorded as a reply.
LOOP_HEADER = "X-LeadPulse-Loop"
# Message-IDs we generate for logged emails end so (tenant_apps.activities.emails)
OWN_MESSAGE_ID_SUFFIX = "@generated.leadpulse>"
MAX_ATTACHMENTS = 50
MAX_REFERENCES = 50


# Header values up to this long are parsed once and remembered (the longest line RFC 5322 allows)
CACHED_HEADER_CHARS = 998


class _HeadersOnce(EmailPolicy):
    """policy.default, except that a header value is parsed once. The email package parses a header anew at
    every read: a message's Content-Type alone is read some twenty times while it is parsed and walked
    (get_body, attachments, reports), and most values repeat from message to message. Parsed headers are
    immutable strings, so the parsed value is shared."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name") or len(value) > CACHED_HEADER_CHARS:
            return super().header_fetch_parse(name, value)
        return _parsed_header(name, value)


@lru_cache(maxsize=4096)
def _parsed_header(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


POLICY = _HeadersOnce()


class MalformedMessage(Exception):
    """Not a message we can read (no headers, or the email package gave up on it)."""


@dataclass
class ParsedAttachment:
    name: str
    content_type: str
    data: bytes


@dataclass
class DeliveryFailure:
    """One recipient of an RFC 3464 report whose delivery failed for good."""

    address: str
    status: str
    diagnostic: str


@dataclass
class Inbound:
    message_id: str
    subject: str
    body: str
    date: datetime
    sender: str  # the From address, lower case ("" when there is none)
    from_header: str
    to_header: str
    cc_header: str
    addresses: list[str]  # every address of From, To and Cc, lower case, in that order, once each
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    is_report: bool = False
    failures: list[DeliveryFailure] = field(default_factory=list)
    returned_message_id: str = ""  # a report's original message
    loop_marked: bool = False


def _clean(value: Any, limit: int = 1000) -> str:
    text = str(value or "").replace("\x00", "")
    return " ".join(text.split())[:limit]


def _ids(value: Any) -> list[str]:
    return MSGID_RE.findall(str(value or ""))


def _date(value: Any) -> datetime:
    try:
        parsed = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        return timezone.now()
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _addresses(*headers: str) -> list[str]:
    found: list[str] = []
    for _name, address in getaddresses([header for header in headers if header]):
        address = address.strip().lower()
        if "@" in address and len(address) <= 254 and address not in found:
            found.append(address)
    return found


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: scripts and styles dropped, blocks on lines of their own."""
    soup = BeautifulSoup(html, "html.parser")
    for element in soup(["script", "style", "head", "title"]):
        element.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    text = soup.get_text("\n")
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, AssertionError, KeyError):  # an unknown or lying charset
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload or "")
    if not isinstance(content, str):
        content = content.decode("utf-8", "replace") if isinstance(content, bytes) else ""
    return content.replace("\x00", "")


def _attachment_name(part: Message, position: int) -> str:
    name = part.get_filename() or ""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/")
    name = PurePosixPath(name).name  # never a path
    name = "".join(char for char in name if char.isprintable()).strip().strip(".")
    if not name:
        subtype = part.get_content_subtype() or "bin"
        name = f"attachment-{position}.{re.sub(r'[^a-z0-9]+', '', subtype.lower())[:10] or 'bin'}"
    return name[:200]


def _is_attachment(part: Message, body: Message | None) -> bool:
    if part is body or part.is_multipart():
        return False
    content_type = part.get_content_type()
    if content_type in ("message/delivery-status", "message/rfc822", "text/rfc822-headers"):
        return False
    disposition = (part.get_content_disposition() or "").lower()
    return (
        disposition == "attachment"
        or bool(part.get_filename())
        or content_type.split("/")[0]
        in (
            "image",
            "application",
            "audio",
            "video",
        )
    )


def _attachments(message: EmailMessage, body: Message | None) -> list[ParsedAttachment]:
    found: list[ParsedAttachment] = []
    for part in message.walk():
        if len(found) >= MAX_ATTACHMENTS:
            break
        if part.get_content_type() == "message/rfc822" and part is not message:
            continue  # a forwarded or returned message's own parts stay inside it (walk still descends)
        if not _is_attachment(part, body):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        found.append(
            ParsedAttachment(
                name=_attachment_name(part, len(found) + 1),
                content_type=part.get_content_type()[:127],
                data=data,
            )
        )
    return found


def _report(message: EmailMessage) -> tuple[bool, list[DeliveryFailure], str]:
    """An RFC 3464 report: (is one, its failed recipients, the returned message's Message-ID)."""
    is_report = (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "")).lower() == "delivery-status"
    )
    if not is_report:
        return False, [], ""
    failures: list[DeliveryFailure] = []
    returned = ""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks[1:] if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                action = _clean(block.get("Action"), 40).lower()
                recipient = _clean(block.get("Final-Recipient") or block.get("Original-Recipient"), 300)
                address = recipient.partition(";")[2].strip().strip("<>").lower() if ";" in recipient else ""
                if action == "failed" and "@" in address and len(address) <= 254:
                    failures.append(
                        DeliveryFailure(
                            address=address,
                            status=_clean(block.get("Status"), 16),
                            diagnostic=_clean(block.get("Diagnostic-Code"), 500),
                        )
                    )
        elif content_type in ("message/rfc822", "text/rfc822-headers") and not returned:
            returned = _returned_message_id(part)
    return True, failures, returned


def _returned_message_id(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):  # message/rfc822
        ids = _ids(payload[0].get("Message-ID"))
    else:  # text/rfc822-headers: the headers as text
        headers = message_from_bytes(_text_of(part).encode("utf-8", "replace"), policy=policy.default)
        ids = _ids(headers.get("Message-ID"))
    return ids[0] if ids else ""


def derived_message_id(raw: bytes) -> str:
    """For a message without a Message-ID (or one we cannot read): the same bytes, the same id."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@inbound.leadpulse>"


def parse(raw: bytes) -> Inbound:
    """Read a raw message; MalformedMessage when it cannot be read at all."""
    if not raw.strip():
        raise MalformedMessage("empty")
    try:
        message = message_from_bytes(raw, policy=POLICY)
        if not isinstance(message, EmailMessage) or not list(message.keys()):
            raise MalformedMessage("no headers")
        from_header = _clean(message.get("From"))
        to_header, cc_header = _clean(message.get("To"), 5000), _clean(message.get("Cc"), 5000)
        senders = _addresses(from_header)
        message_ids = _ids(message.get("Message-ID"))
        # without a Message-ID, one derived from the bytes: the same delivery twice is still one message
        message_id = message_ids[0] if message_ids else derived_message_id(raw)
        is_report, failures, returned = _report(message)
        body_part = message.get_body(preferencelist=("plain", "html"))
        body = ""
        if body_part is not None:
            body = _text_of(body_part)
            if body_part.get_content_type() == "text/html":
                body = html_to_text(body)
        references = _ids(message.get("References"))[-MAX_REFERENCES:]
        in_reply_to = _ids(message.get("In-Reply-To"))
        return Inbound(
            message_id=message_id,
            subject=_clean(message.get("Subject"), 300),
            body=body.strip()[:MAX_BODY_CHARS],
            date=_date(message.get("Date")),
            sender=senders[0] if senders else "",
            from_header=from_header,
            to_header=to_header,
            cc_header=cc_header,
            addresses=_addresses(from_header, to_header, cc_header),
            in_reply_to=in_reply_to[0] if in_reply_to else "",
            references=references,
            attachments=_attachments(message, body_part),
            is_report=is_report,
            failures=failures,
            returned_message_id=returned,
            loop_marked=message.get(LOOP_HEADER) is not None,
        )
    except MalformedMessage:
        raise
    except Exception as error:  # the email package raises many kinds of errors on broken input
        raise MalformedMessage(type(error).__name__) from None
