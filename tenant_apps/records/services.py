"""The writes every customer record (lead, account, contact, opportunity) shares: owner, tags and id checks,
the update diff with its activities and event, soft delete, restore and purge, notes, and members logging
activities on a record's timeline. Each record app's services lock the record and call these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from django.apps import apps
from django.db.models import Model, QuerySet, Value
from django.http import HttpRequest
from django.utils import timezone

from shared_apps.audit.services import audit_record
from shared_apps.core.db import connection
from shared_apps.core.errors import AppError, Forbidden, InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.timeline import timeline_switch
from shared_apps.organizations.context import (
    plan_limit,
    plan_limit_check,
    plan_limit_remaining,
    storage_check,
)
from shared_apps.users.models import Role, User
from tenant_apps.activities.models import ActivityType, Note
from tenant_apps.activities.services import activity_record, note_add
from tenant_apps.customfields.values import serialize_values, validate_values
from tenant_apps.privacy.services import SUPPRESSION_REASON_SQL, normalized, suppression_reason
from tenant_apps.records import normalize, visibility
from tenant_apps.records.models import CustomerRecord

Record = Any  # a Lead, Account, Contact or Opportunity
R = TypeVar("R", bound=CustomerRecord)

MAX_ID = 2**63 - 1


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


def custom_for_create(record_type: str, fields: dict[str, Any], *, converted: bool = False) -> dict[str, Any]:
    """The custom values a new record stores (tenant_apps.customfields.values): validated by type, required
    fields enforced, except for a record a lead's conversion makes (nobody is there to fill them in)."""
    values = fields.get("custom")
    if converted:
        return validate_values(record_type, values, partial=True, instance=None)
    return validate_values(record_type, values, partial=False)


def custom_for_update(
    record_type: str, changes: dict[str, Any], record: Record, cleaned: dict[str, Any]
) -> None:
    """Put into `cleaned` the record's custom values after `changes["custom"]` (if sent): only the keys sent
    change; null clears one; a required one cannot be cleared."""
    if "custom" in changes:
        cleaned["custom"] = validate_values(record_type, changes["custom"], partial=True, instance=record)


def created_metadata(from_lead_id: int | None, **data: Any) -> tuple[str, dict[str, Any]]:
    """The subject suffix and metadata of a CREATED activity, naming the lead it was converted from."""
    if from_lead_id is None:
        return "", data
    return f" (converted from lead #{from_lead_id})", {**data, "lead_id": from_lead_id, "via": "conversion"}


# Kept in step with other fields (the normalized phone, a lead's identity key): saved, never reported.
DERIVED_FIELDS = frozenset({"phone_normalized", "identity_key"})
# Announced (the rules watching them need the event) but not timeline events: a score set by hand is no more
# history than one the scoring rules compute (lead_score_set writes no activity either).
UNTIMELINED_FIELDS = frozenset({"score"})


DUPLICATE_LABELS = {"phone_normalized": "phone", "identity_key": "company and name"}


def record_duplicate_check(
    *,
    model: type[Model],
    actor: User | None,
    keys: dict[str, str],
    error: type[AppError],
    exclude_id: int | None = None,
    email_check: str = "",
) -> None:
    """Refuse (`error`) a record sharing one of `keys` (email, phone_normalized, identity_key: checked in that
    order, empty ones skipped) with another live record. Creations and changes that share a key are
    serialized first (advisory locks, taken in one statement in one order), so two of them cannot both pass
    the check. `email_check`: an address to refuse as record_email_check does, read in the locks' round
    trip; its refusal comes first, as when the caller checks it before."""
    present = {field: value for field, value in keys.items() if value}
    locks = sorted(f"{connection.schema_name}:{value}" for value in present.values())
    if locks or email_check:
        reason = _lock_keys_and_read_suppression(locks, email_check)
        if reason is not None:
            _refuse_suppressed(reason)
    if not present:
        return
    # each key's first live record by id, in one query; the first key (in `keys` order) that has one wins
    alive = model._default_manager.alive().exclude(pk=exclude_id)  # type: ignore[attr-defined]
    lookups = [
        alive.filter(**{field: value})
        .annotate(matched=Value(index))
        .order_by("id")
        .values_list("matched", "id", "owner_id")[:1]
        for index, (field, value) in enumerate(present.items())
    ]
    found = sorted(lookups[0].union(*lookups[1:], all=True) if len(lookups) > 1 else lookups[0])
    if found:
        index, existing_id, owner_id = found[0]
        field = list(present)[index]
        if not visibility.can_see(actor, model(pk=existing_id, owner_id=owner_id)):
            existing_id = None
        raise error(existing_id=existing_id, matched_on=DUPLICATE_LABELS.get(field, field))


# The keys' locks in the array's order (unnest reads it in order: every writer takes them sorted, so two
# writers sharing keys never deadlock), then the do-not-contact list's reason for the address, if asked.
_LOCKS_SQL = (
    "SELECT (SELECT count(pg_advisory_xact_lock(hashtextextended(key, 0))) FROM unnest(%s::text[]) AS key)"
)
_LOCKS_AND_SUPPRESSION_SQL = f"{_LOCKS_SQL}, ({SUPPRESSION_REASON_SQL})"


def _lock_keys_and_read_suppression(locks: list[str], email: str) -> str | None:
    email = normalized(email)
    with connection.cursor() as cursor:
        if email:
            cursor.execute(_LOCKS_AND_SUPPRESSION_SQL, [locks, email])
            row = cursor.fetchone()
            return row[1] if row is not None else None
        cursor.execute(_LOCKS_SQL, [locks])
    return None


def record_email_check(*, email: str, allow: bool) -> None:
    """Refuse (400 `do_not_contact`, on `email`) an address on the do-not-contact list, unless `allow`: a
    member who creates (or re-addresses) a record for a person who was erased, unsubscribed or bounced must
    say so. The address stays on the list, so imports and sequences still leave the person alone.
    (record_duplicate_check does the same for its `email_check`, in the round trip of its locks.)"""
    if allow or not email:
        return
    reason = suppression_reason(email)
    if reason is not None:
        _refuse_suppressed(reason)


def _refuse_suppressed(reason: str) -> None:
    raise InvalidInput(
        "email",
        "This address is on the do-not-contact list; send allow_do_not_contact to add the record anyway.",
        code="do_not_contact",
        reason=reason,
    )


def changed_keys(record: Model, cleaned: dict[str, Any]) -> dict[str, str]:
    """The duplicate keys (email, phone) a change gives the record new values of."""
    return {
        field: cleaned[field]
        for field in ("email", "phone_normalized")
        if field in cleaned and cleaned[field] != getattr(record, field)
    }


def records_count() -> int:
    """Live customer records of every type (leads, accounts, contacts, opportunities): what the plan's
    `records` limit counts. A soft-deleted record stops counting; a merged one is gone."""
    models = [model for model in apps.get_models() if issubclass(model, CustomerRecord)]
    return sum(
        _records(model).filter(deleted_at__isnull=True, merged_into__isnull=True).count() for model in models
    )


def record_create_check(*, adding: int = 1) -> None:
    """The records core's hook every record create calls: refuse (402 plan_limit_reached) a record past the
    organization's plan's `records` limit, or once its storage is at the plan's `storage_mb`. Counts
    nothing when the plan has no such limit."""
    storage_check()
    if plan_limit("records") is not None:
        plan_limit_check("records", current=records_count(), adding=adding)


def record_create_room() -> int | None:
    """How many more records the plan allows (None: no limit); imports write no row past it."""
    if plan_limit("records") is None:
        return None
    return plan_limit_remaining("records", current=records_count())


def import_create_check(*, today: int) -> None:
    """Refuse an import past the plan's imports per day (`today`: the organization's imports so far today),
    and one that could not create a single record or whose storage is at the plan's limit."""
    plan_limit_check("imports_per_day", current=today)
    storage_check()
    if record_create_room() == 0:
        plan_limit_check("records", current=records_count())


def _records(model: type[R]) -> QuerySet[R]:
    return cast("QuerySet[R]", model._default_manager.all())


def record_locked(model: type[R], record_id: int, *, not_found: type[AppError], deleted: bool = False) -> R:
    """The live record (the soft-deleted one with `deleted`), locked until the transaction ends. A merged
    record is a tombstone: nothing writes to it any more."""
    record = (
        _records(model)
        .select_for_update()
        .filter(pk=record_id, deleted_at__isnull=not deleted, merged_into__isnull=True)
        .first()
    )
    if record is None:
        raise not_found(id=record_id)
    return record


def record_alive(model: type[R], record_id: int, *, not_found: type[AppError]) -> R:
    """The record, neither soft-deleted nor merged (unlocked: for writes that only hang things on it)."""
    record = _records(model).filter(pk=record_id, deleted_at__isnull=True, merged_into__isnull=True).first()
    if record is None:
        raise not_found(id=record_id)
    return record


def record_changes_save(*, record: Record, cleaned: dict[str, Any], actor_id: int | None) -> dict[str, Any]:
    """Save what differs from the record: an owner change writes OWNER_CHANGE, the other changes one SYSTEM
    activity listing old and new values. The events carry the change itself: `<type>.owner_changed` from/to,
    `<type>.updated` its `changes` ({field: [old, new]}) and `fields`, both with the record's `owner_id`.
    Returns the differences (field -> (old, new)). Caller locks."""
    diff = {
        key: (getattr(record, key), value) for key, value in cleaned.items() if getattr(record, key) != value
    }
    if not diff:
        return diff
    for key, (_old, new) in diff.items():
        setattr(record, key, new)
    record.save()
    name, label = record._meta.model_name, record._meta.verbose_name.capitalize()
    changes = {key: pair for key, pair in diff.items() if key not in DERIVED_FIELDS}
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
            owner_id=current,
            **from_to(previous, current),
        )
    custom_changes = _custom_changes(*changes.pop("custom")) if "custom" in changes else {}
    if changes or custom_changes:
        listed = {key.removesuffix("_id"): [plain(old), plain(new)] for key, (old, new) in changes.items()}
        listed.update(custom_changes)
        timelined = {key: pair for key, pair in listed.items() if key not in UNTIMELINED_FIELDS}
        if timelined:
            activity_record(
                record=record,
                type=ActivityType.SYSTEM,
                actor_id=actor_id,
                subject=f"{label} updated",
                metadata={"event": "updated", "changes": timelined},
            )
        publish_on_commit(
            f"{name}.updated",
            record_id=record.pk,
            actor_id=actor_id,
            owner_id=record.owner_id,
            fields=sorted(listed),
            changes=listed,
            **({"custom": serialize_values(name, record)} if custom_changes else {}),
        )
    return diff


def _custom_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """Custom values that changed, one entry each: {"custom.<key>": [old, new]} (None for no value)."""
    return {
        f"custom.{key}": [old.get(key), new.get(key)]
        for key in sorted({*old, *new})
        if old.get(key) != new.get(key)
    }


def from_to(previous: Any, current: Any) -> dict[str, Any]:
    """What a change event carries about a value that moved (a stage, an owner, a status)."""
    return {"from": previous, "to": current}


def record_soft_delete(*, record: Record, actor_id: int | None) -> None:
    """Hide a locked record from lists and lookups, restorably, with a SYSTEM activity."""
    record.deleted_at = timezone.now()
    record.save(update_fields=["deleted_at", "updated_at"])
    _system(record, actor_id, "deleted")


def record_restore(
    *,
    model: type[R],
    record_id: int,
    actor_id: int | None,
    not_found: type[AppError],
    not_deleted: type[AppError],
) -> R:
    """Bring back a soft-deleted record (never a merged one), locked, with a SYSTEM activity."""
    record = _records(model).select_for_update().filter(pk=record_id, merged_into__isnull=True).first()
    if record is None:
        raise not_found(id=record_id)
    if record.deleted_at is None:
        raise not_deleted(id=record_id)
    record.deleted_at = None
    record.save(update_fields=["deleted_at", "updated_at"])
    _system(record, actor_id, "restored")
    return record


def record_purge(
    *,
    model: type[R],
    record_id: int,
    actor: User,
    not_found: type[AppError],
    not_deleted: type[AppError],
    before_delete: Callable[[R], None] | None = None,
    request: HttpRequest | None = None,
) -> None:
    """Remove a soft-deleted record for good, with its notes and its timeline. Admins only. The purge is in
    the audit log (the record's timeline goes with it).

    The only path allowed through the timeline's append-only trigger (SET LOCAL leadpulse.purge).
    `before_delete` gets the locked record once the checks passed (to refuse, or to detach what stays)."""
    label = model._meta.verbose_name
    if actor.role != Role.ADMIN:
        raise Forbidden(f"Only an admin can purge a {label}.")
    record = _records(model).select_for_update().filter(pk=record_id, merged_into__isnull=True).first()
    if record is None:
        raise not_found(id=record_id)
    if record.deleted_at is None:
        raise not_deleted(f"Delete the {label} before purging it.", id=record_id)
    if before_delete is not None:
        before_delete(record)
    owner_id = record.owner_id
    audit_record(f"{model._meta.model_name}.purged", request=request, actor=actor, target=record)
    with timeline_switch("purge"):
        record.delete()
    publish_on_commit(
        f"{model._meta.model_name}.purged", record_id=record_id, actor_id=actor.pk, owner_id=owner_id
    )


def _system(record: Record, actor_id: int | None, event: str) -> None:
    activity_record(
        record=record,
        type=ActivityType.SYSTEM,
        actor_id=actor_id,
        subject=f"{record._meta.verbose_name.capitalize()} {event}",
        metadata={"event": event},
    )
    publish_on_commit(
        f"{record._meta.model_name}.{event}", record_id=record.pk, actor_id=actor_id, owner_id=record.owner_id
    )


def record_note_add(
    *, model: type[R], record_id: int, actor: User | None, body: Any, not_found: type[AppError]
) -> Note:
    """A note on a live record, with its NOTE activity."""
    return note_add(record=record_alive(model, record_id, not_found=not_found), actor=actor, body=body)


def phones_renormalize(*, models: tuple[type[Model], ...], batch_size: int = 2000) -> int:
    """Recompute phone_normalized of every record of `models` from its phone, with the current organization's
    region (after normalize.phone changed, or the region did). A derived key, not a change anyone made: no
    activity is written. Returns how many records changed."""
    region = normalize.phone_region()
    changed = 0
    for model in models:
        rows = model._default_manager.exclude(phone="").only("id", "phone", "phone_normalized")
        pending: list[Any] = []
        for row in rows.order_by("id").iterator(chunk_size=batch_size):
            value = normalize.phone_or_blank(row.phone, region)  # type: ignore[attr-defined]
            if value != row.phone_normalized:  # type: ignore[attr-defined]
                row.phone_normalized = value  # type: ignore[attr-defined]
                pending.append(row)
            if len(pending) >= batch_size:
                changed += len(pending)
                model._default_manager.bulk_update(pending, ["phone_normalized"])
                pending = []
        changed += len(pending)
        model._default_manager.bulk_update(pending, ["phone_normalized"])
    return changed
