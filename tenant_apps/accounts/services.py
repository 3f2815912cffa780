"""Every write on accounts, plus the pieces every customer-record service shares (contacts and opportunities
hang off accounts, so they import these from here): owner/tags/account checks, the update diff with its
activities, soft delete and restore, and members logging activities on a record's timeline."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_metadata, clean_text
from shared_apps.users.models import User
from tenant_apps.accounts.exceptions import AccountNotDeleted, AccountNotFound, StatusUnchanged
from tenant_apps.accounts.models import Account, AccountSize, AccountStatus, AccountStatusChange
from tenant_apps.activities.models import LOGGABLE_TYPES, Activity, ActivityType, Note
from tenant_apps.activities.services import activity_record, note_add
from tenant_apps.leads import normalize

Record = Any  # an Account, Contact or Opportunity

ACCOUNT_FIELDS = ("name", "domain", "industry", "size", "owner_id", "tags")
MAX_ID = 2**63 - 1
_DOMAIN_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


# --- shared by the customer-record services ----------------------------------------------------------


def clean_owner(value: Any) -> int | None:
    """An active member's id, or None for no owner."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidInput("owner", "A member id is required.")
    if not User.objects.filter(pk=value, is_active=True).exists():
        raise InvalidInput("owner", "Not an active member of this organization.", code="unknown_member")
    return value


def clean_tags(value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise InvalidInput("tags", "Expected a list of tags.")
    return normalize.tags([_text_tag(tag) for tag in value])


def _text_tag(tag: Any) -> str:
    if not isinstance(tag, str) or "\x00" in tag:
        raise InvalidInput("tags", "Tags are strings without NUL characters.")
    return tag


def clean_id(value: Any, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidInput(field, "An id is required.")
    return value


def clean_account(value: Any, *, required: bool = False) -> int | None:
    """The id of a live account (neither deleted nor merged), or None when optional."""
    if value is None:
        if required:
            raise InvalidInput("account", "An account is required.", code="required")
        return None
    account_id = clean_id(value, field="account")
    if not Account.objects.alive().filter(pk=account_id).exists():
        raise InvalidInput("account", "No such account.", code="unknown_account")
    return account_id


def plain(value: Any) -> Any:
    """A value as the activity metadata (JSON) stores it."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def check_fields(fields: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise InvalidInput(sorted(unknown)[0].removesuffix("_id"), "Unknown or read-only field.")


def created_metadata(from_lead_id: int | None, **data: Any) -> tuple[str, dict[str, Any]]:
    """The subject suffix and metadata of a CREATED activity, naming the lead it was converted from."""
    if from_lead_id is None:
        return "", data
    return f" (converted from lead #{from_lead_id})", {**data, "lead_id": from_lead_id, "via": "conversion"}


def record_changes_save(*, record: Record, cleaned: dict[str, Any], actor_id: int | None) -> dict[str, Any]:
    """Save what differs from the record: an owner change writes OWNER_CHANGE, the other changes one SYSTEM
    activity listing old and new values. Returns the differences (field -> (old, new)). Caller locks."""
    diff = {
        key: (getattr(record, key), value) for key, value in cleaned.items() if getattr(record, key) != value
    }
    if not diff:
        return diff
    for key, (_old, new) in diff.items():
        setattr(record, key, new)
    record.save()
    name, label = record._meta.model_name, record._meta.verbose_name.capitalize()
    changes = dict(diff)
    if "owner_id" in changes:
        previous, current = changes.pop("owner_id")
        activity_record(
            record=record,
            type=ActivityType.OWNER_CHANGE,
            actor_id=actor_id,
            subject="Owner changed",
            metadata={"from": previous, "to": current},
        )
        publish_on_commit(
            f"{name}.owner_changed",
            record_id=record.pk,
            actor_id=actor_id,
            previous=previous,
            current=current,
        )
    changes.pop("phone_normalized", None)
    if changes:
        listed = {key.removesuffix("_id"): [plain(old), plain(new)] for key, (old, new) in changes.items()}
        activity_record(
            record=record,
            type=ActivityType.SYSTEM,
            actor_id=actor_id,
            subject=f"{label} updated",
            metadata={"event": "updated", "changes": listed},
        )
        publish_on_commit(f"{name}.updated", record_id=record.pk, actor_id=actor_id, fields=sorted(listed))
    return diff


def record_soft_delete(*, record: Record, actor_id: int | None) -> None:
    """Hide a locked record from lists and lookups, restorably, with a SYSTEM activity."""
    record.deleted_at = timezone.now()
    record.save(update_fields=["deleted_at", "updated_at"])
    _system(record, actor_id, "deleted")


def record_restore(*, record: Record, actor_id: int | None) -> None:
    record.deleted_at = None
    record.save(update_fields=["deleted_at", "updated_at"])
    _system(record, actor_id, "restored")


def _system(record: Record, actor_id: int | None, event: str) -> None:
    activity_record(
        record=record,
        type=ActivityType.SYSTEM,
        actor_id=actor_id,
        subject=f"{record._meta.verbose_name.capitalize()} {event}",
        metadata={"event": event},
    )
    publish_on_commit(f"{record._meta.model_name}.{event}", record_id=record.pk, actor_id=actor_id)


def record_activity_log(
    *,
    record: Record,
    actor: User | None,
    type: str,
    subject: Any = "",
    body: Any = "",
    metadata: Any = None,
    occurred_at: datetime | None = None,
) -> Activity:
    """A member logs a call, meeting, email, note or task on a record's timeline (activity_log for leads);
    the rest of the types are written by LeadPulse only."""
    if type not in LOGGABLE_TYPES:
        raise InvalidInput(
            "type", f"Members log one of {', '.join(LOGGABLE_TYPES)}; the rest are written by LeadPulse."
        )
    subject = clean_text(subject, field="subject", max_length=300)
    body = clean_text(body, field="body", max_length=100_000)
    metadata = clean_metadata(metadata)
    actor_id = actor.pk if actor else None
    with transaction.atomic():
        activity = activity_record(
            record=record,
            type=type,
            actor_id=actor_id,
            subject=subject,
            body=body,
            metadata=metadata,
            occurred_at=occurred_at,
        )
        publish_on_commit(
            f"{record._meta.model_name}.activity_logged",
            record_id=record.pk,
            actor_id=actor_id,
            activity_id=activity.pk,
            type=type,
        )
    return activity


# --- accounts ------------------------------------------------------------------------------------------


def normalize_domain(value: str) -> str:
    """'https://www.Acme.COM/about?x=1' -> 'acme.com': no scheme, credentials, port, path or leading www.;
    international names in their ASCII (punycode) form. Empty stays empty."""
    value = value.strip()
    if not value:
        return ""
    try:
        host = urlsplit(value if "://" in value else f"//{value}").hostname or ""
        host = host.rstrip(".").removeprefix("www.")
        host = host.encode("idna").decode("ascii") if host else ""
    except (ValueError, UnicodeError):
        host = ""
    labels = host.split(".")
    if (
        len(labels) < 2
        or len(host) > 253
        or labels[-1].isdigit()
        or not all(_DOMAIN_LABEL.match(label) for label in labels)
    ):
        raise InvalidInput("domain", "Enter a domain such as acme.com.")
    return host


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            cleaned["name"] = clean_text(value, field="name", max_length=200, required=True)
        elif key == "domain":
            cleaned["domain"] = normalize_domain(clean_text(value, field="domain", max_length=2000))
        elif key == "industry":
            cleaned["industry"] = clean_text(value, field="industry", max_length=100)
        elif key == "size":
            if value not in ("", None, *AccountSize.values):
                raise InvalidInput("size", f"Expected one of {', '.join(AccountSize.values)}.")
            cleaned["size"] = value or ""
        elif key == "status":
            cleaned["status"] = _clean_status(value)
        elif key == "owner_id":
            cleaned["owner_id"] = clean_owner(value)
        elif key == "tags":
            cleaned["tags"] = clean_tags(value)
    return cleaned


def _clean_status(value: Any) -> str:
    if value not in AccountStatus.values:
        raise InvalidInput("status", f"Expected one of {', '.join(AccountStatus.values)}.")
    return str(value)


def account_create(*, actor: User | None, from_lead_id: int | None = None, **fields: Any) -> Account:
    """Create an account (status prospect unless given: its starting point, not a change) with its CREATED
    activity; `from_lead_id` names the lead a conversion made it from."""
    check_fields(fields, (*ACCOUNT_FIELDS, "status"))
    cleaned = _clean({"name": fields.get("name"), **fields})
    actor_id = actor.pk if actor else None
    with transaction.atomic():
        account = Account.objects.create(**cleaned)
        suffix, metadata = created_metadata(from_lead_id, status=account.status, owner_id=account.owner_id)
        activity_record(
            record=account,
            type=ActivityType.CREATED,
            actor_id=actor_id,
            subject=f"Account created: {account.name}{suffix}",
            metadata=metadata,
        )
        publish_on_commit("account.created", record_id=account.pk, actor_id=actor_id, status=account.status)
    return account


def _locked(account_id: int) -> Account:
    account = Account.objects.select_for_update().alive().filter(pk=account_id).first()
    if account is None:
        raise AccountNotFound(id=account_id)
    return account


@transaction.atomic
def account_update(*, account_id: int, actor: User | None, changes: dict[str, Any]) -> Account:
    """Change editable fields. The lifecycle status is not one of them: it changes only through
    account_set_status, which keeps its history."""
    if "status" in changes:
        raise InvalidInput(
            "status",
            "The status changes only through POST /api/accounts/<id>/status/.",
            code="use_status_endpoint",
        )
    check_fields(changes, ACCOUNT_FIELDS)
    cleaned = _clean(changes)
    account = _locked(account_id)
    record_changes_save(record=account, cleaned=cleaned, actor_id=actor.pk if actor else None)
    return account


@transaction.atomic
def account_set_status(*, account_id: int, status: Any, actor: User | None, reason: Any = "") -> Account:
    """Change the lifecycle status: every change is an AccountStatusChange row (from, to, who, when, why)
    and a STATUS_CHANGE activity, written together; the row is locked so concurrent changes chain."""
    status = _clean_status(status)
    reason = clean_text(reason, field="reason", max_length=1000)
    account = _locked(account_id)
    if account.status == status:
        raise StatusUnchanged(status=status)
    actor_id = actor.pk if actor else None
    previous, now = account.status, timezone.now()
    account.status = status
    account.save(update_fields=["status", "updated_at"])
    change = AccountStatusChange.objects.create(
        account=account, from_status=previous, to_status=status, actor_id=actor_id, reason=reason, at=now
    )
    activity_record(
        record=account,
        type=ActivityType.STATUS_CHANGE,
        actor_id=actor_id,
        subject=f"Status changed to {status}",
        metadata={"from": previous, "to": status, "reason": reason, "status_change_id": change.pk},
        occurred_at=now,
    )
    publish_on_commit(
        "account.status_changed", record_id=account.pk, actor_id=actor_id, previous=previous, current=status
    )
    return account


@transaction.atomic
def account_delete(*, account_id: int, actor: User | None) -> Account:
    """Soft delete: hidden from lists and lookups, restorable. Its contacts and opportunities stay."""
    account = _locked(account_id)
    record_soft_delete(record=account, actor_id=actor.pk if actor else None)
    return account


@transaction.atomic
def account_restore(*, account_id: int, actor: User | None) -> Account:
    account = Account.objects.select_for_update().filter(pk=account_id, merged_into__isnull=True).first()
    if account is None:
        raise AccountNotFound(id=account_id)
    if account.deleted_at is None:
        raise AccountNotDeleted(id=account_id)
    record_restore(record=account, actor_id=actor.pk if actor else None)
    return account


def _alive(account_id: int) -> Account:
    account = Account.objects.alive().filter(pk=account_id).first()
    if account is None:
        raise AccountNotFound(id=account_id)
    return account


def account_note_add(*, account_id: int, actor: User | None, body: Any) -> Note:
    return note_add(record=_alive(account_id), actor=actor, body=body)


def account_activity_log(*, account_id: int, actor: User | None, **activity: Any) -> Activity:
    return record_activity_log(record=_alive(account_id), actor=actor, **activity)
