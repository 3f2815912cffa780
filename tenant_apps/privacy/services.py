"""The do-not-contact list: `is_suppressed(email)` for whoever is about to write to or bring back a person
(imports, sequences, record creation), `suppress(email, reason)` for whoever learns they must not (erasure,
unsubscribes, bounces), and the admins' manual entries. Emails are compared normalized (trimmed,
lowercase), as leads and contacts store them."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from shared_apps.core.errors import InvalidInput
from shared_apps.core.validation import clean_text
from shared_apps.users.models import User
from tenant_apps.privacy.exceptions import AlreadySuppressed, DoNotContactKept, DoNotContactNotFound
from tenant_apps.privacy.models import DoNotContact, SuppressionReason
from tenant_apps.records import normalize


def normalized(email: str) -> str:
    return (email or "").strip().lower()


def suppression_of(email: str) -> DoNotContact | None:
    """The list's entry for `email`, if any (None for an empty address)."""
    email = normalized(email)
    if not email:
        return None
    return DoNotContact.objects.filter(email=email).first()


# Why an address is on the list: record creation asks it of every address it is given, so it is one indexed
# read in plain SQL (the ORM's compilation of the same query cost more than its round trip).
SUPPRESSION_REASON_SQL = f"SELECT reason FROM {DoNotContact._meta.db_table} WHERE email = %s"  # noqa: S608


def suppression_reason(email: str) -> str | None:
    """The reason `email` is on the list, None when it is not (or empty)."""
    email = normalized(email)
    if not email:
        return None
    with connection.cursor() as cursor:
        cursor.execute(SUPPRESSION_REASON_SQL, [email])
        row = cursor.fetchone()
    return row[0] if row is not None else None


def is_suppressed(email: str) -> bool:
    email = normalized(email)
    return bool(email) and DoNotContact.objects.filter(email=email).exists()


def suppress(email: str, reason: str, *, actor: User | None = None) -> DoNotContact:
    """Put `email` on the list (idempotent). An entry already there keeps its first reason, except that a
    manual entry takes the stronger reason the person gave since (erased, unsubscribed, bounced)."""
    email = normalized(email)
    assert email, "an address is required"
    assert reason in SuppressionReason.values, reason
    entry, created = DoNotContact.objects.get_or_create(
        email=email, defaults={"reason": reason, "created_by": actor}
    )
    if not created and entry.reason == SuppressionReason.MANUAL and reason != SuppressionReason.MANUAL:
        entry.reason = reason
        entry.save(update_fields=["reason"])
    return entry


@transaction.atomic
def do_not_contact_add(*, email: Any, actor: User) -> DoNotContact:
    """An admin's manual entry; an address already listed is a conflict (its reason stands)."""
    email = normalize.email(clean_text(email, field="email", max_length=254, required=True))
    if not email:
        raise InvalidInput("email", "An email address is required.", code="required")
    if DoNotContact.objects.filter(email=email).exists():
        raise AlreadySuppressed(email=email)
    return suppress(email, SuppressionReason.MANUAL, actor=actor)


@transaction.atomic
def do_not_contact_remove(*, entry_id: int) -> DoNotContact:
    """Remove a manual entry. An erased, unsubscribed or bounced address stays: the person asked for it (or
    the mail system said so), not a member."""
    entry = DoNotContact.objects.select_for_update().filter(pk=entry_id).first()
    if entry is None:
        raise DoNotContactNotFound(id=entry_id)
    if entry.reason != SuppressionReason.MANUAL:
        raise DoNotContactKept(id=entry_id, reason=entry.reason)
    entry.delete()
    return entry
