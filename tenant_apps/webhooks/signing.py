"""Webhook signatures: `X-LeadPulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

The timestamp is signed with the body so a captured request cannot be replayed later: receivers refuse a
`t` far from their clock (docs/webhooks.md has the verification snippet).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

SIGNATURE_HEADER = "X-LeadPulse-Signature"
EVENT_ID_HEADER = "X-LeadPulse-Event-Id"
EVENT_TYPE_HEADER = "X-LeadPulse-Event-Type"
DELIVERY_HEADER = "X-LeadPulse-Delivery"
ATTEMPT_HEADER = "X-LeadPulse-Attempt"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def body_of(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent: compact, keys sorted, so every attempt of an event sends the same body."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
