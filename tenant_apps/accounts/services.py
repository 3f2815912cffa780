"""Every write on accounts, and the account check contacts and opportunities make (clean_account). The pieces
every customer record shares live in tenant_apps.records.services."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.timeline import timeline_switch
from shared_apps.core.validation import clean_text
from shared_apps.users.models import User
from tenant_apps.accounts.exceptions import (
    AccountHasDeals,
    AccountNotDeleted,
    AccountNotFound,
    StatusUnchanged,
)
from tenant_apps.accounts.models import Account, AccountSize, AccountStatus, AccountStatusChange
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.activities.services import activity_log, activity_record
from tenant_apps.customfields.values import event_values
from tenant_apps.records.services import (
    check_fields,
    clean_id,
    clean_owner,
    clean_tags,
    created_metadata,
    custom_for_create,
    custom_for_update,
    from_to,
    record_alive,
    record_changes_save,
    record_create_check,
    record_locked,
    record_note_add,
    record_purge,
    record_restore,
    record_soft_delete,
)

ACCOUNT_FIELDS = ("name", "domain", "industry", "size", "owner_id", "tags", "custom")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


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
    record_create_check()
    check_fields(fields, (*ACCOUNT_FIELDS, "status"))
    cleaned = _clean({"name": fields.get("name"), **fields})
    cleaned["custom"] = custom_for_create("account", fields, converted=from_lead_id is not None)
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
        publish_on_commit(
            "account.created",
            record_id=account.pk,
            actor_id=actor_id,
            status=account.status,
            **event_values("account", account),
        )
    return account


def _locked(account_id: int) -> Account:
    return record_locked(Account, account_id, not_found=AccountNotFound)


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
    custom_for_update("account", changes, account, cleaned)
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
        "account.status_changed",
        record_id=account.pk,
        actor_id=actor_id,
        owner_id=account.owner_id,
        **from_to(previous, status),
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
    return record_restore(
        model=Account,
        record_id=account_id,
        actor_id=actor.pk if actor else None,
        not_found=AccountNotFound,
        not_deleted=AccountNotDeleted,
    )


def _keep_what_is_not_the_accounts(account: Account) -> None:
    """Before an account goes: refuse while deals are on it (a deal is on exactly one account; its money and
    history must not vanish with it), and take the account off its contacts' activities (they carry the
    account as a second anchor) so that their timelines stay whole. Its contacts stay, without an account."""
    deals = account.opportunities.count()
    if deals:
        raise AccountHasDeals(id=account.pk, deals=deals)
    with timeline_switch("reassign"):
        Activity.objects.filter(account=account).filter(
            Q(lead__isnull=False) | Q(contact__isnull=False) | Q(opportunity__isnull=False)
        ).update(account=None)


@transaction.atomic
def account_purge(*, account_id: int, actor: User, request: HttpRequest | None = None) -> None:
    """Remove a deleted account for good, with its notes, tasks, status history and own timeline. Admins
    only; refused while deals are on it."""
    record_purge(
        model=Account,
        record_id=account_id,
        actor=actor,
        not_found=AccountNotFound,
        not_deleted=AccountNotDeleted,
        before_delete=_keep_what_is_not_the_accounts,
        request=request,
    )


def _alive(account_id: int) -> Account:
    return record_alive(Account, account_id, not_found=AccountNotFound)


def account_note_add(*, account_id: int, actor: User | None, body: Any) -> Note:
    return record_note_add(
        model=Account, record_id=account_id, actor=actor, body=body, not_found=AccountNotFound
    )


def account_activity_log(*, account_id: int, actor: User | None, **activity: Any) -> Activity:
    return activity_log(record=_alive(account_id), actor=actor, **activity)
