"""Merging duplicate leads, contacts and accounts into one survivor without losing any of their history.

A merge keeps every record: the merged ones stay as tombstones (merged_into, merged_at) so their URLs can
point at the survivor, and everything that hung on them (timeline, notes, tasks, links from other records)
moves to the survivor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.timeline import timeline_switch
from shared_apps.users.models import User
from tenant_apps.accounts.models import Account, AccountStatusChange
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.activities.services import activity_record
from tenant_apps.contacts.models import Contact
from tenant_apps.customfields import values as custom_values
from tenant_apps.dedupe.exceptions import AlreadyMerged, ConversionConflict, RecordDeleted, RecordNotFound
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.records import normalize
from tenant_apps.tasks.models import Task

MAX_MERGED = 10
MAX_ID = 2**63 - 1  # bigint: a larger id would be a database error, not a 404


@dataclass(frozen=True)
class Relation:
    """A foreign key to the merged type: the rows holding a merged record's id move to the survivor."""

    label: str
    model: type[models.Model]
    field: str  # the column (attname), e.g. "lead_id"
    # Activities: the append-only trigger lets only this anchor change, and only under timeline_switch.
    timeline: bool = False
    # A column unique together with `field` (non-empty values): a row whose value the survivor already
    # has cannot move and stays on its tombstone (the same email recorded on two duplicates).
    unique_with: str = ""


@dataclass(frozen=True)
class MergeSpec:
    record_type: str
    model: type[models.Model]
    # API field name -> model attribute(s) copied from the winner; the first is the one compared.
    fields: dict[str, tuple[str, ...]]
    relations: tuple[Relation, ...]
    # Timestamps the survivor takes the latest of: it was contacted when any of the records was.
    latest: tuple[str, ...] = ()
    check: Callable[[Any, list[Any]], None] | None = None
    # Foreign keys deliberately left on the tombstone ("app.Model.field"), with the reason in the spec.
    stays: tuple[str, ...] = ()
    # After the winning values are copied: derived keys, history rows. Gets (survivor, changes, actor_id).
    finish: Callable[[Any, dict[str, list[Any]], int | None], None] | None = None


@dataclass
class Merge:
    survivor: Any
    merged_ids: list[int]
    field_winners: dict[str, int]
    moved: dict[str, int]
    activity: Activity
    # Activities that stayed on their tombstone because the survivor holds the same email (Message-ID).
    left_on_tombstones: list[int] = field(default_factory=list)


def _check_lead_conversions(survivor: Lead, merged: list[Lead]) -> None:
    """The timeline of a lead converted into an account rolls up into that account's timeline: a converted
    lead's activities may only move to a lead converted into the same account, or that account loses them.
    The tombstone keeps its own conversion links, which stay valid."""
    for lead in merged:
        if lead.converted_at is None:
            continue
        if survivor.converted_at is None or lead.converted_account_id != survivor.converted_account_id:
            raise ConversionConflict(
                converted_id=lead.pk,
                converted_account_id=lead.converted_account_id,
                survivor_converted_account_id=survivor.converted_account_id,
            )


def _finish_lead(lead: Lead, changes: dict[str, list[Any]], actor_id: int | None) -> None:
    if {"name", "company"} & changes.keys():
        lead.identity_key = normalize.identity_key(lead.name, lead.company)


def _finish_account(account: Account, changes: dict[str, list[Any]], actor_id: int | None) -> None:
    """A status taken from a merged account is a status change: its history says so."""
    if "status" in changes:
        previous, current = changes["status"]
        AccountStatusChange.objects.create(
            account=account, from_status=previous, to_status=current, actor_id=actor_id, reason="Merge"
        )


LEAD = MergeSpec(
    record_type="lead",
    model=Lead,
    fields={
        "name": ("name",),
        "email": ("email",),
        "phone": ("phone", "phone_normalized"),
        "company": ("company",),
        "source": ("source",),
        "value": ("value",),
        "currency": ("currency",),
        "owner": ("owner_id",),
        "score": ("score",),
    },
    relations=(
        Relation("activities", Activity, "lead_id", timeline=True, unique_with="message_id"),
        Relation("notes", Note, "lead_id"),
        Relation("tasks", Task, "lead_id"),
        Relation("opportunities", Opportunity, "source_lead_id"),
    ),
    # History of the merged lead, not of the survivor: sequence enrollments (the sequences app stops the
    # merged lead's on lead.merged, and the survivor may be enrolled in the same sequence), rule runs and
    # routing decisions (an audit of what happened to that record), and its score (recomputed for the
    # survivor from the moved activities).
    stays=(
        "sequences.Enrollment.lead_id",
        "automation.RuleRun.lead_id",
        "automation.RoutingAssignment.lead_id",
        "automation.LeadScore.lead_id",
        # a reply address names its record; a merged one is followed to its survivor when a reply comes
        "mail.ReplyThread.lead_id",
    ),
    latest=("last_contacted_at",),
    check=_check_lead_conversions,
    finish=_finish_lead,
)
CONTACT = MergeSpec(
    record_type="contact",
    model=Contact,
    fields={
        "name": ("name",),
        "email": ("email",),
        "phone": ("phone", "phone_normalized"),
        "title": ("title",),
        "account": ("account_id",),
        "owner": ("owner_id",),
    },
    relations=(
        Relation("activities", Activity, "contact_id", timeline=True),
        Relation("notes", Note, "contact_id"),
        Relation("tasks", Task, "contact_id"),
        Relation("opportunities", Opportunity, "primary_contact_id"),
        Relation("leads", Lead, "converted_contact_id"),
    ),
    latest=("last_contacted_at",),
    # a reply address names its record; a merged one is followed to its survivor when a reply comes
    stays=("mail.ReplyThread.contact_id",),
)
ACCOUNT = MergeSpec(
    record_type="account",
    model=Account,
    fields={
        "name": ("name",),
        "domain": ("domain",),
        "industry": ("industry",),
        "size": ("size",),
        "status": ("status",),
        "owner": ("owner_id",),
    },
    relations=(
        # Contacts' and opportunities' activities carry their account too: they move with it.
        Relation("activities", Activity, "account_id", timeline=True),
        Relation("notes", Note, "account_id"),
        Relation("tasks", Task, "account_id"),
        Relation("contacts", Contact, "account_id"),
        Relation("opportunities", Opportunity, "account_id"),
        Relation("leads", Lead, "converted_account_id"),
        Relation("status_changes", AccountStatusChange, "account_id"),
    ),
    latest=("last_activity_at",),
    finish=_finish_account,
)
SPECS = {spec.record_type: spec for spec in (LEAD, CONTACT, ACCOUNT)}


def lead_merge(
    *,
    survivor_id: Any,
    merged_ids: Any,
    field_winners: Any,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Merge:
    """Merge leads into the survivor. A converted lead only merges into a lead converted into the same
    account (its activities roll up into that account's timeline). See `_merge` for the rest."""
    return _merge(
        LEAD,
        survivor_id=survivor_id,
        merged_ids=merged_ids,
        field_winners=field_winners,
        actor=actor,
        request=request,
    )


def contact_merge(
    *,
    survivor_id: Any,
    merged_ids: Any,
    field_winners: Any,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Merge:
    """Merge contacts into the survivor; opportunities and converted leads follow it. See `_merge`."""
    return _merge(
        CONTACT,
        survivor_id=survivor_id,
        merged_ids=merged_ids,
        field_winners=field_winners,
        actor=actor,
        request=request,
    )


def account_merge(
    *,
    survivor_id: Any,
    merged_ids: Any,
    field_winners: Any,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Merge:
    """Merge accounts into the survivor; contacts, opportunities, converted leads and the status history
    follow it, and a status taken from a merged account is recorded as a status change. See `_merge`."""
    return _merge(
        ACCOUNT,
        survivor_id=survivor_id,
        merged_ids=merged_ids,
        field_winners=field_winners,
        actor=actor,
        request=request,
    )


def _merge(
    spec: MergeSpec,
    *,
    survivor_id: Any,
    merged_ids: Any,
    field_winners: Any,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Merge:
    """Merge live records of one type into the survivor, in one transaction.

    - 1 to MAX_MERGED merged ids, distinct, without the survivor; unknown ids are 404, deleted or already
      merged records 409, a field that is not mergeable or a winner outside the records 400;
    - each chosen field takes the winner's value (derived keys follow), tags are the union of all, and
      last-contact/activity timestamps the latest of all;
    - every row pointing at a merged record (timeline, notes, tasks, links from other records) points at
      the survivor; the merged records stay as tombstones (earlier tombstones pointing at them keep doing
      so: records.selectors.merged_into follows the chain);
    - one MERGED activity on the survivor says who merged what, with the field choices and the counts.
    Rows are locked in id order, so concurrent merges of overlapping sets wait instead of deadlocking."""
    survivor_id, merged_ids = _clean_ids(survivor_id, merged_ids)
    winners = _clean_winners(spec, field_winners, {survivor_id, *merged_ids})
    actor_id = actor.pk if actor else None
    with transaction.atomic():
        records = _lock(spec, [survivor_id, *merged_ids])
        survivor, merged = records[survivor_id], [records[record_id] for record_id in merged_ids]
        if spec.check is not None:
            spec.check(survivor, merged)
        changes = _take_fields(spec, survivor, records, winners)
        added_tags = _union_tags(survivor, merged)
        for attribute in spec.latest:
            values = [getattr(record, attribute) for record in records.values() if getattr(record, attribute)]
            setattr(survivor, attribute, max(values, default=None))
        if spec.finish is not None:
            spec.finish(survivor, changes, actor_id)
        survivor.save()

        moved, left_on_tombstones = _move_related(spec, survivor.pk, merged_ids)
        now = timezone.now()
        spec.model._default_manager.filter(pk__in=merged_ids).update(
            merged_into_id=survivor.pk, merged_at=now, updated_at=now
        )
        metadata: dict[str, Any] = {
            "merged_ids": merged_ids,
            "fields": winners,
            "changes": changes,
            "tags_added": added_tags,
            "moved": moved,
        }
        if left_on_tombstones:
            metadata["left_on_tombstones"] = left_on_tombstones
        activity = activity_record(
            record=survivor,
            type=ActivityType.MERGED,
            actor_id=actor_id,
            subject=f"Merged {spec.record_type} {', '.join(f'#{pk}' for pk in merged_ids)} into this one",
            body="\n".join(f"#{record.pk}: {record}" for record in merged),
            metadata=metadata,
        )
        publish_on_commit(
            f"{spec.record_type}.merged",
            record_id=survivor.pk,
            actor_id=actor_id,
            owner_id=survivor.owner_id,
            merged_ids=merged_ids,
            fields=sorted(winners),
        )
        audit_record(
            f"{spec.record_type}.merged",
            request=request,
            actor=actor,
            target=survivor,
            changes={"merged_ids": merged_ids, "fields": winners},
        )
    return Merge(survivor, merged_ids, winners, moved, activity, left_on_tombstones)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _clean_ids(survivor_id: Any, merged_ids: Any) -> tuple[int, list[int]]:
    if not _is_id(survivor_id):
        raise InvalidInput("survivor", "A record id is required.")
    if not isinstance(merged_ids, list | tuple) or not 1 <= len(merged_ids) <= MAX_MERGED:
        raise InvalidInput("merged", f"Between 1 and {MAX_MERGED} record ids.")
    if not all(_is_id(record_id) for record_id in merged_ids):
        raise InvalidInput("merged", "Record ids are positive integers.")
    if len(set(merged_ids)) != len(merged_ids):
        raise InvalidInput("merged", "Each record once.", code="repeated")
    if survivor_id in merged_ids:
        raise InvalidInput("merged", "The survivor cannot be merged into itself.", code="survivor_merged")
    return survivor_id, list(merged_ids)


def _clean_winners(spec: MergeSpec, field_winners: Any, ids: set[int]) -> dict[str, int]:
    if field_winners is None:
        return {}
    if not isinstance(field_winners, dict):
        raise InvalidInput("fields", "Expected an object of field name: id of the record whose value wins.")
    custom = {f"custom.{field.key}" for field in custom_values.definitions(spec.record_type)}
    for name, winner in field_winners.items():
        if name not in spec.fields and name not in custom:
            raise InvalidInput(
                "fields",
                f"{name!r} is not a mergeable {spec.record_type} field; choose among "
                f"{', '.join([*spec.fields, *sorted(custom)])} (tags are always united).",
                code="unknown_field",
                name=name,
            )
        if not _is_id(winner) or winner not in ids:
            raise InvalidInput(
                "fields",
                f"The value of {name!r} must come from one of the records being merged.",
                code="winner_not_merged",
                name=name,
            )
    return dict(field_winners)


def _lock(spec: MergeSpec, ids: list[int]) -> dict[int, Any]:
    locked = spec.model._default_manager.select_for_update().filter(pk__in=ids).order_by("pk")
    records: dict[int, Any] = {record.pk: record for record in locked}
    missing = [record_id for record_id in ids if record_id not in records]
    if missing:
        raise RecordNotFound(record_type=spec.record_type, ids=missing)
    deleted = [record_id for record_id in ids if records[record_id].deleted_at is not None]
    if deleted:
        raise RecordDeleted(record_type=spec.record_type, ids=deleted)
    merged = {
        record_id: records[record_id].merged_into_id for record_id in ids if records[record_id].merged_into_id
    }
    if merged:
        raise AlreadyMerged(record_type=spec.record_type, survivors=merged)
    return records


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _take_fields(
    spec: MergeSpec, survivor: Any, records: dict[int, Any], winners: dict[str, int]
) -> dict[str, list[Any]]:
    """Copy each chosen field from its winner; returns {field: [old, new]} for the values that changed.
    Custom fields (`custom.<key>`) too; a custom field left unchosen that the survivor has no value for takes
    the first merged record's value (a merge loses no custom data the survivor lacks)."""
    changes: dict[str, list[Any]] = {}
    custom = dict(survivor.custom or {})
    for definition in custom_values.definitions(spec.record_type):
        key, name = definition.key, f"custom.{definition.key}"
        old = custom.get(key)
        if name in winners:  # the winner's value, or none if it has none
            new = (records[winners[name]].custom or {}).get(key)
        elif old is None:  # a blank on the survivor takes the first merged value
            given = [record.custom[key] for record in records.values() if key in (record.custom or {})]
            new = given[0] if given else None
        else:
            continue
        if old == new:
            continue
        if new is None:
            custom.pop(key, None)
        else:
            custom[key] = new
        changes[name] = [old, new]
    survivor.custom = custom
    for name, winner_id in winners.items():
        if name not in spec.fields:
            continue
        attributes = spec.fields[name]
        old, new = getattr(survivor, attributes[0]), getattr(records[winner_id], attributes[0])
        if old == new:
            continue
        for attribute in attributes:
            setattr(survivor, attribute, getattr(records[winner_id], attribute))
        changes[name] = [_plain(old), _plain(new)]
    return changes


def _union_tags(survivor: Any, merged: list[Any]) -> list[str]:
    tags = [*survivor.tags]
    for record in merged:
        tags += [tag for tag in record.tags if tag not in tags]
    if len(tags) > normalize.MAX_TAGS:
        raise InvalidInput(
            "tags",
            f"Together the records have {len(tags)} tags and a record holds at most {normalize.MAX_TAGS}; "
            "remove some first.",
            code="too_many_tags",
        )
    added = tags[len(survivor.tags) :]
    survivor.tags = normalize.tags(tags)
    return added


def _move_related(
    spec: MergeSpec, survivor_id: int, merged_ids: list[int]
) -> tuple[dict[str, int], list[int]]:
    moved: dict[str, int] = {}
    left: list[int] = []
    for relation in spec.relations:
        rows = relation.model._default_manager.filter(**{f"{relation.field}__in": merged_ids})
        if relation.unique_with:
            staying = _already_on_survivor(relation, survivor_id, merged_ids)
            rows = rows.exclude(pk__in=staying)
            left += staying
        if relation.timeline:
            with timeline_switch("reassign"):
                moved[relation.label] = rows.update(**{relation.field: survivor_id})
        else:
            moved[relation.label] = rows.update(**{relation.field: survivor_id})
    return moved, left


def _already_on_survivor(relation: Relation, survivor_id: int, merged_ids: list[int]) -> list[int]:
    """Rows of merged records whose `unique_with` value the survivor will already hold: the survivor's own
    copy wins, else the first merged record's (in the order given)."""
    ids = [survivor_id, *merged_ids]
    column, unique = relation.field, relation.unique_with
    rows = relation.model._default_manager.filter(**{f"{column}__in": ids}).exclude(**{unique: ""})
    repeated = rows.values(unique).annotate(copies=Count("pk")).filter(copies__gt=1).values(unique)
    rank = {record_id: position for position, record_id in enumerate(ids)}
    copies = sorted(
        rows.filter(**{f"{unique}__in": repeated}).values_list("pk", column, unique),
        key=lambda row: (rank[row[1]], row[0]),
    )
    seen: set[str] = set()
    staying = []
    for pk, _record_id, value in copies:
        if value in seen:
            staying.append(pk)
        seen.add(value)
    return staying
