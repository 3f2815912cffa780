"""What the API and the settings page share about rate changes: reading a rates file, and what the audit log
says of each change."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import InvalidInput
from tenant_apps.currency.models import ExchangeRate

MAX_FILE_BYTES = 1_000_000
TARGET = ExchangeRate._meta.label_lower


def rates_file_text(upload: UploadedFile) -> str:
    """The text of an uploaded rates file; a 400 naming `file` when too large or not UTF-8."""
    if (upload.size or 0) > MAX_FILE_BYTES:
        raise InvalidInput("file", f"The file is larger than {MAX_FILE_BYTES} bytes.")
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("file", "The file is not UTF-8 text.") from None


def rate_created(request: Any, rate: ExchangeRate) -> None:
    changes = {
        "currency": rate.currency,
        "rate": f"{rate.rate.normalize():f}",
        "valid_from": str(rate.valid_from),
    }
    audit_record("exchange_rate.created", request=request, target=rate, changes=changes)


def rate_deleted(request: Any, rate_id: int) -> None:
    audit_record("exchange_rate.deleted", request=request, target_type=TARGET, target_id=rate_id)


def rates_imported(request: Any, *, count: int, file_name: str) -> None:
    audit_record(
        "exchange_rate.imported",
        request=request,
        target_type=TARGET,
        target_repr=file_name,
        changes={"imported": count, "file_name": file_name},
    )
