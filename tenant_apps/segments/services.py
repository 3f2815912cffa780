"""Writes on segments (saved filters). A segment is not a customer record: it has no timeline, so its
writes announce themselves but record no activity."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.users.models import Role, User
from tenant_apps.filtering.language import SEGMENTS, clean_definition
from tenant_apps.segments.exceptions import SegmentNotEditable, SegmentNotFound
from tenant_apps.segments.models import RecordType, Segment
from tenant_apps.segments.selectors import segment_visible

EDITABLE_FIELDS = ("name", "record_type", "definition", "shared")


def _clean_record_type(value: Any) -> str:
    if not isinstance(value, str) or value not in RecordType.values:
        raise InvalidInput("record_type", f"Expected one of {', '.join(RecordType.values)}.")
    return value


def _clean_shared(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("shared", "Expected true or false.")
    return value


@transaction.atomic
def segment_create(
    *, actor: User, name: Any, record_type: Any, definition: Any = None, shared: Any = False
) -> Segment:
    """Save a segment owned by the actor. Its definition must pass the record type's field whitelist."""
    name = clean_text(name, field="name", max_length=200, required=True)
    record_type = _clean_record_type(record_type)
    definition = clean_definition(
        {} if definition is None else definition, dialect=SEGMENTS, record_type=record_type
    )
    segment = Segment.objects.create(
        name=name,
        record_type=record_type,
        definition=definition,
        shared=_clean_shared(shared),
        owner=actor,
    )
    publish_on_commit(
        "segment.created",
        record_id=segment.pk,
        actor_id=actor.pk,
        record_type=record_type,
        shared=segment.shared,
    )
    return segment


def _editable(segment_id: int, actor: User) -> Segment:
    """The segment, locked, if the actor sees it (else 404) and owns it or is an admin (else 403)."""
    segment = segment_visible(actor=actor).select_for_update(of=("self",)).filter(pk=segment_id).first()
    if segment is None:
        raise SegmentNotFound(id=segment_id)
    if segment.owner_id != actor.pk and actor.role != Role.ADMIN:
        raise SegmentNotEditable(id=segment_id)
    return segment


@transaction.atomic
def segment_update(*, segment_id: int, actor: User, changes: dict[str, Any]) -> Segment:
    """Rename, share or unshare, or redefine a segment (owner or admin only). A new record type is checked
    together with the definition, since fields differ between record types."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown or read-only field.")
    segment = _editable(segment_id, actor)
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned["name"] = clean_text(changes["name"], field="name", max_length=200, required=True)
    if "shared" in changes:
        cleaned["shared"] = _clean_shared(changes["shared"])
    if "record_type" in changes or "definition" in changes:
        record_type = _clean_record_type(changes.get("record_type", segment.record_type))
        definition = changes.get("definition", segment.definition)
        cleaned["record_type"] = record_type
        cleaned["definition"] = clean_definition(
            {} if definition is None else definition, dialect=SEGMENTS, record_type=record_type
        )
    changed = sorted(key for key, value in cleaned.items() if getattr(segment, key) != value)
    if not changed:
        return segment
    for key in changed:
        setattr(segment, key, cleaned[key])
    segment.save(update_fields=[*changed, "updated_at"])
    publish_on_commit("segment.updated", record_id=segment.pk, actor_id=actor.pk, fields=changed)
    return segment


@transaction.atomic
def segment_delete(*, segment_id: int, actor: User) -> None:
    """Delete a segment for good (owner or admin only): it is a saved filter, nothing refers to it."""
    segment = _editable(segment_id, actor)
    segment.delete()
    publish_on_commit("segment.deleted", record_id=segment_id, actor_id=actor.pk)
