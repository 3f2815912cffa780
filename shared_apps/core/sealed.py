"""Secrets kept at rest (an organization's SMTP password, ...): sealed with Fernet (AES-128-CBC + HMAC-SHA256)
and opened only where they are used; routes never return them.

Keys: FIELD_ENCRYPTION_KEYS (Fernet keys, the first seals, every one opens: rotate by putting a new key
first), else keys derived (HKDF-SHA256) from SECRET_KEY and SECRET_KEY_FALLBACKS, so rotating SECRET_KEY with
Django's fallbacks keeps sealed values readable. A value sealed under a key no longer configured cannot be
opened (SealedValueUnreadable): it has to be entered again.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_INFO = b"leadpulse.sealed-values"


class SealedValueUnreadable(Exception):
    """No configured key opens this value (keys changed, or the value was tampered with)."""


def _derived(secret: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(key)


@lru_cache(maxsize=4)
def _fernet(configured: tuple[str, ...], secrets: tuple[str, ...]) -> MultiFernet:
    keys = [key.encode() for key in configured] or [_derived(secret) for secret in secrets]
    return MultiFernet([Fernet(key) for key in keys])


def _current() -> MultiFernet:
    configured = tuple(key for key in getattr(settings, "FIELD_ENCRYPTION_KEYS", ()) if key)
    secrets = (str(settings.SECRET_KEY), *(str(key) for key in getattr(settings, "SECRET_KEY_FALLBACKS", ())))
    return _fernet(configured, secrets)


def seal(value: str) -> str:
    """`value` encrypted and authenticated (text, safe for a CharField); "" stays "" (nothing set)."""
    if not value:
        return ""
    return _current().encrypt(value.encode("utf-8")).decode("ascii")


def unseal(token: str) -> str:
    if not token:
        return ""
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        raise SealedValueUnreadable() from None
