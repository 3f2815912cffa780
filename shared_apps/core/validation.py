"""Checks shared by services for input that PostgreSQL would otherwise reject with a 500."""

from __future__ import annotations

import json
from typing import Any

from shared_apps.core.errors import InvalidInput

MAX_METADATA_BYTES = 32_768


def clean_metadata(value: Any, *, field: str = "metadata") -> dict[str, Any]:
    """A JSON object of bounded size without NUL characters (jsonb cannot store \\u0000)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(field, "Expected a JSON object.")
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(field, "Must be plain JSON (no NaN or Infinity).") from None
    if "\\u0000" in encoded:
        raise InvalidInput(field, "NUL characters are not allowed.")
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        raise InvalidInput(field, f"At most {MAX_METADATA_BYTES} bytes of JSON.")
    return value


def clean_text(value: Any, *, field: str, max_length: int | None = None, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(field, "Expected a string.")
    if "\x00" in value:
        raise InvalidInput(field, "NUL characters are not allowed.")
    value = value.strip()
    if required and not value:
        raise InvalidInput(field, "This field is required.", code="required")
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(field, f"At most {max_length} characters.", code="max_length")
    return value
