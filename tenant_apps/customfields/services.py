"""Writes of custom field definitions (admins). Each change is in the audit log, forgets the memoized
definitions, and queues the index work (build, drop) and the value clean-up after commit."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.http import HttpRequest
from rest_framework.request import Request

from shared_apps.audit.services import audit_record
from shared_apps.core.db import connection
from shared_apps.core.errors import Conflict, InvalidInput, NotFound
from shared_apps.core.events import publish_on_commit
from shared_apps.organizations.context import enqueue_in_organization
from shared_apps.users.models import User
from tenant_apps.customfields import indexes, values
from tenant_apps.customfields.models import (
    SELECTS,
    CustomField,
    FieldKind,
    FieldState,
    IndexState,
    RecordType,
)
from tenant_apps.customfields.queries import KEY_RE

MAX_FIELDS_PER_TYPE = 100
MAX_OPTIONS = 200
MAX_LABEL = 100
# Type changes that keep every stored value valid as it is (text-like to wider text).
SAFE_CONVERSIONS = {
    (FieldKind.TEXT, FieldKind.LONG_TEXT),
    (FieldKind.EMAIL, FieldKind.TEXT),
    (FieldKind.EMAIL, FieldKind.LONG_TEXT),
    (FieldKind.URL, FieldKind.LONG_TEXT),
    (FieldKind.PHONE, FieldKind.TEXT),
    (FieldKind.PHONE, FieldKind.LONG_TEXT),
    (FieldKind.SINGLE_SELECT, FieldKind.MULTI_SELECT),  # values are rewritten as one-option lists
}
EDITABLE = ("label", "type", "required", "options", "position", "filterable", "on_card", "migrate_to")
AuditRequest = HttpRequest | Request | None


class FieldInUse(Conflict):
    code = "custom_field_in_use"


class OptionInUse(Conflict):
    code = "option_in_use"


def _label(value: Any, *, field: str = "label") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "A label is required.")
    if len(value.strip()) > MAX_LABEL or "\x00" in value:
        raise InvalidInput(field, f"At most {MAX_LABEL} characters.")
    return value.strip()


def _options(value: Any, *, kind: str, current: list[dict[str, str]]) -> list[dict[str, str]]:
    """[{"id"?, "label"}] -> [{"id", "label"}]: known ids keep theirs (a new label relabels), new ones get
    a fresh id. Labels are unique, case-insensitively."""
    if kind not in SELECTS:
        if value not in (None, []):
            raise InvalidInput("options", "Only select fields have options.")
        return []
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_OPTIONS:
        raise InvalidInput("options", f"A select field needs a list of 1 to {MAX_OPTIONS} options.")
    known = {option["id"] for option in current}
    cleaned: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if isinstance(item, str):
            item = {"label": item}
        if not isinstance(item, dict) or set(item) - {"id", "label"}:
            raise InvalidInput(f"options[{index}]", 'Expected {"id"?, "label"}.')
        label = _label(item.get("label"), field=f"options[{index}].label")
        if label.casefold() in seen:
            raise InvalidInput(f"options[{index}].label", "Option labels must differ.")
        seen.add(label.casefold())
        option_id = item.get("id")
        if option_id is None:
            option_id = f"o_{secrets.token_hex(4)}"
        elif option_id not in known:
            raise InvalidInput(f"options[{index}].id", "No such option on this field; omit id for a new one.")
        cleaned.append({"id": option_id, "label": label})
    if len({option["id"] for option in cleaned}) != len(cleaned):
        raise InvalidInput("options", "An option id appears twice.")
    return cleaned


def _flag(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(key, "Expected true or false.")
    return value


def _position(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise InvalidInput("position", "An integer between 0 and 10000.")
    return value


def _check_filterable(field: CustomField) -> None:
    if field.filterable and field.type in indexes.UNINDEXED:
        raise InvalidInput("filterable", "Long text fields cannot be filterable.")


def _indexable(field: CustomField) -> bool:
    return field.filterable and field.type not in indexes.UNINDEXED


def _changed(field: CustomField) -> None:
    values.cache_drop()
    values.forget()
    transaction.on_commit(values.cache_drop)
    transaction.on_commit(values.forget)


@transaction.atomic
def custom_field_create(*, actor: User | None, request: AuditRequest = None, **data: Any) -> CustomField:
    """A new field of a record type. Its key is fixed for good (values and filters are keyed by it); a
    filterable one gets its index built by a job after commit (index_state building, then ready)."""
    unknown = sorted(set(data) - {"record_type", "key", *EDITABLE} - {"migrate_to"})
    if unknown:
        raise InvalidInput(unknown[0], "Unknown field.")
    record_type = data.get("record_type")
    if record_type not in RecordType.values:
        raise InvalidInput("record_type", f"Expected one of {', '.join(RecordType.values)}.")
    key = data.get("key")
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InvalidInput(
            "key", "1 to 50 lower-case letters, digits and underscores, starting with a letter."
        )
    kind = data.get("type")
    if kind not in FieldKind.values:
        raise InvalidInput("type", f"Expected one of {', '.join(FieldKind.values)}.")
    existing = CustomField.objects.select_for_update().filter(record_type=record_type, key=key).first()
    if existing is not None:
        if existing.state == FieldState.DELETING:
            raise Conflict(
                "A field with this key is being deleted; try again in a moment.", code="custom_field_deleting"
            )
        raise Conflict("A field with this key exists.", code="custom_field_key_taken", id=existing.pk)
    if CustomField.objects.filter(record_type=record_type).count() >= MAX_FIELDS_PER_TYPE:
        raise InvalidInput("record_type", f"At most {MAX_FIELDS_PER_TYPE} custom fields per record type.")
    position = data.get("position")
    if position is None:
        last = CustomField.objects.filter(record_type=record_type).aggregate(last=Max("position"))["last"]
        position = 0 if last is None else last + 1
    field = CustomField(
        record_type=record_type,
        key=key,
        type=kind,
        label=_label(data.get("label")),
        required=_flag(data, "required", False),
        options=_options(data.get("options"), kind=kind, current=[]),
        position=_position(position),
        filterable=_flag(data, "filterable", False),
        on_card=_flag(data, "on_card", False),
    )
    _check_filterable(field)
    field.index_state = IndexState.BUILDING if _indexable(field) else IndexState.NONE
    field.save()
    _changed(field)
    if field.index_state == IndexState.BUILDING:
        _enqueue("index_build_job", field.pk)
    audit_record("custom_field.created", request=request, actor=actor, target=field, changes=describe(field))
    publish_on_commit("custom_field.created", record_id=field.pk, record_type=record_type, key=key)
    return field


def describe(field: CustomField) -> dict[str, Any]:
    return {
        "record_type": field.record_type,
        "key": field.key,
        "label": field.label,
        "type": field.type,
        "required": field.required,
        "options": field.options,
        "position": field.position,
        "filterable": field.filterable,
        "on_card": field.on_card,
    }


def _locked(field_id: int) -> CustomField:
    field = (
        CustomField.objects.select_for_update().filter(pk=field_id, state=FieldState.ACTIVE).first()
        if 0 < field_id < 2**63
        else None
    )
    if field is None:
        raise NotFound("No such custom field.", code="custom_field_not_found", id=field_id)
    return field


def _records(field: CustomField) -> Any:
    return values.record_model(field.record_type)._default_manager.all()


def values_count(field: CustomField) -> int:
    """How many records (deleted ones too: they may be restored) hold a value of the field."""
    return int(_records(field).filter(custom__has_key=field.key).count())


def _holding(field: CustomField, option_id: str) -> Q:
    if field.type == FieldKind.MULTI_SELECT:
        return Q(**{f"custom__{field.key}__contains": [option_id]})
    return Q(**{f"custom__{field.key}": option_id})


@transaction.atomic
def custom_field_update(
    *, field_id: int, actor: User | None, changes: dict[str, Any], request: AuditRequest = None
) -> CustomField:
    """Change a field. The key and record type never change. Removing an option some records hold is
    refused (409 option_in_use with the count) unless `migrate_to` maps it to a kept option (or null:
    the values are cleared). A type change with values present is refused (409 custom_field_in_use with
    the count) unless safe (SAFE_CONVERSIONS: every stored value stays valid). Turning `filterable` on
    or off builds or drops the index by a job."""
    for fixed in ("key", "record_type"):
        if fixed in changes:
            raise InvalidInput(fixed, f"The {fixed} of a field cannot change.", code="immutable")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(unknown[0], "Unknown field.")
    field = _locked(field_id)
    before = describe(field)
    previous_kind = field.type
    kind = changes.get("type", field.type)
    if kind not in FieldKind.values:
        raise InvalidInput("type", f"Expected one of {', '.join(FieldKind.values)}.")
    if "label" in changes:
        field.label = _label(changes["label"])
    if "required" in changes:
        field.required = _flag(changes, "required", field.required)
    if "position" in changes:
        field.position = _position(changes["position"])
    if "filterable" in changes:
        field.filterable = _flag(changes, "filterable", field.filterable)
    if "on_card" in changes:
        field.on_card = _flag(changes, "on_card", field.on_card)
    if kind != previous_kind:
        _change_type(field, kind)
    if "options" in changes or kind != previous_kind:
        options = changes.get("options", field.options if kind in SELECTS else [])
        new_options = _options(options, kind=kind, current=field.options)
        _migrate_removed(field, new_options, changes.get("migrate_to"))
        field.options = new_options
    elif changes.get("migrate_to") is not None:
        raise InvalidInput("migrate_to", "Only with options.")
    field.type = kind
    _check_filterable(field)
    was_indexed = before["filterable"] and previous_kind not in indexes.UNINDEXED
    reindex = kind != previous_kind or was_indexed != _indexable(field)
    if reindex:
        field.index_state = IndexState.BUILDING if _indexable(field) else IndexState.NONE
    field.save()
    _changed(field)
    if reindex:
        # one job, in order: drop what the old definition indexed, then build for the new one
        _enqueue("index_rebuild_job", field.pk, field.index_name)
    after = describe(field)
    diff = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if diff:
        audit_record("custom_field.updated", request=request, actor=actor, target=field, changes=diff)
        publish_on_commit("custom_field.updated", record_id=field.pk, fields=sorted(diff))
    return field


def _change_type(field: CustomField, kind: str) -> None:
    count = values_count(field)
    if count and (field.type, kind) not in SAFE_CONVERSIONS:
        raise FieldInUse(
            f"{count} records have a value of this field: its type can only become a wider text type.",
            count=count,
            current=field.type,
            requested=kind,
        )
    if count and kind == FieldKind.MULTI_SELECT:
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(_records(field).model._meta.db_table)
            cursor.execute(
                f"UPDATE {table} SET custom = jsonb_set(custom, %s, jsonb_build_array(custom -> %s)) "  # noqa: S608
                "WHERE custom ? %s",
                [[field.key], field.key, field.key],
            )


def _migrate_removed(field: CustomField, new_options: list[dict[str, str]], migrate_to: Any) -> None:
    """Values holding a removed option: refused while any record holds one, unless `migrate_to` says where
    each goes ({removed id: kept id or null})."""
    kept = {option["id"] for option in new_options}
    removed = [option for option in field.options if option["id"] not in kept]
    if migrate_to is None:
        migrate_to = {}
    if not isinstance(migrate_to, dict):
        raise InvalidInput("migrate_to", "Expected {removed option id: kept option id or null}.")
    for source, target in migrate_to.items():
        if source not in {option["id"] for option in removed}:
            raise InvalidInput("migrate_to", f"{source!r} is not an option this change removes.")
        if target is not None and target not in kept:
            raise InvalidInput("migrate_to", f"{target!r} is not one of the kept options.")
    records = _records(field)
    for option in removed:
        holding = records.filter(_holding(field, option["id"]))
        if option["id"] not in migrate_to:
            count = holding.count()
            if count:
                raise OptionInUse(
                    f"{count} records hold the option {option['label']!r}: send migrate_to to move them.",
                    option=option["id"],
                    label=option["label"],
                    count=count,
                )
            continue
        target = migrate_to[option["id"]]
        order = [item["id"] for item in new_options]
        batch = []
        for record in holding.select_for_update().only("id", "custom").iterator(chunk_size=2000):
            custom = dict(record.custom)
            if field.type == FieldKind.MULTI_SELECT:
                chosen = {*custom[field.key], *([target] if target else [])} - {option["id"]}
                custom[field.key] = [oid for oid in order if oid in chosen]
                if not custom[field.key]:
                    del custom[field.key]
            elif target is None:
                del custom[field.key]
            else:
                custom[field.key] = target
            record.custom = custom
            batch.append(record)
        records.model.objects.bulk_update(batch, ["custom"], batch_size=2000)


@transaction.atomic
def custom_field_delete(*, field_id: int, actor: User | None, request: AuditRequest = None) -> None:
    """Hide the field at once (state deleting); a job drops its index, strips its values from every record
    and removes the definition."""
    field = _locked(field_id)
    field.state = FieldState.DELETING
    field.save(update_fields=["state", "updated_at"])
    _changed(field)
    _enqueue("field_purge_job", field.pk)
    audit_record("custom_field.deleted", request=request, actor=actor, target=field, changes=describe(field))
    publish_on_commit(
        "custom_field.deleted", record_id=field.pk, record_type=field.record_type, key=field.key
    )


def _enqueue(job: str, *args: Any) -> None:
    enqueue_in_organization(connection.schema_name, f"tenant_apps.customfields.jobs.{job}", *args)


# ---- the jobs' work (outside any transaction: concurrent index statements) ------------------------------


def index_build(*, field_id: int) -> None:
    """Build the field's index if it is still active and filterable; mark it ready (or failed)."""
    field = CustomField.objects.filter(pk=field_id, state=FieldState.ACTIVE).first()
    if field is None or not _indexable(field):
        return
    table = _records(field).model._meta.db_table
    try:
        indexes.index_build(table=table, name=field.index_name, kind=field.type, key=field.key)
    except Exception:
        CustomField.objects.filter(pk=field_id).update(index_state=IndexState.FAILED)
        raise
    CustomField.objects.filter(pk=field_id, state=FieldState.ACTIVE).update(index_state=IndexState.READY)
    values.cache_drop()


def index_rebuild(*, field_id: int, index_name: str) -> None:
    indexes.index_drop(name=index_name)
    index_build(field_id=field_id)


BATCH = 5000


def field_purge(*, field_id: int) -> None:
    """Drop a deleted field's index, remove its values from every record (in batches, each its own
    transaction: no long lock), then its definition. Safe to run again."""
    field = CustomField.objects.filter(pk=field_id, state=FieldState.DELETING).first()
    if field is None:
        return
    indexes.index_drop(name=field.index_name)
    model = _records(field).model
    table = connection.ops.quote_name(model._meta.db_table)
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET custom = custom - %s WHERE id IN "  # noqa: S608
                f"(SELECT id FROM {table} WHERE custom ? %s LIMIT {BATCH} FOR UPDATE SKIP LOCKED)",
                [field.key, field.key],
            )
            if cursor.rowcount == 0 and not model._default_manager.filter(custom__has_key=field.key).exists():
                break
    CustomField.objects.filter(pk=field_id, state=FieldState.DELETING).delete()
    values.cache_drop()
    values.forget()
