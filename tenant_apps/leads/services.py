"""Every write on leads: each writes its activity in the same transaction and announces itself on commit."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.organizations.context import current_organization
from shared_apps.users.models import Role, User
from tenant_apps.activities.models import ActivityType, Note
from tenant_apps.activities.services import activity_record
from tenant_apps.customfields.values import event_values
from tenant_apps.leads.exceptions import (
    DuplicateLead,
    LeadConverted,
    LeadNotDeleted,
    LeadNotFound,
    TransitionNotAllowed,
)
from tenant_apps.leads.models import Lead, Source, Stage
from tenant_apps.records import normalize
from tenant_apps.records.services import (
    changed_keys,
    check_fields,
    clean_owner,
    clean_tags,
    custom_for_create,
    custom_for_update,
    from_to,
    record_changes_save,
    record_create_check,
    record_duplicate_check,
    record_email_check,
    record_locked,
    record_note_add,
    record_purge,
    record_restore,
    record_soft_delete,
)

MAX_VALUE = Decimal("9999999999.99")
EDITABLE_FIELDS = (
    "name",
    "email",
    "phone",
    "company",
    "source",
    "value",
    "currency",
    "owner_id",
    "tags",
    "score",
    "custom",
)


def _clean_value(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidInput("value", "A number is required.") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_VALUE:
        raise InvalidInput("value", f"Between 0 and {MAX_VALUE}.")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("value", "At most 2 decimal places.")
    return amount.quantize(Decimal("0.01"))  # 40800 and 40800.00 are the same value: compare and store alike


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalize the editable fields present in `fields`."""
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            cleaned["name"] = clean_text(value, field="name", max_length=200, required=True)
        elif key in ("company",):
            cleaned[key] = clean_text(value, field=key, max_length=200)
        elif key == "email":
            cleaned["email"] = normalize.email(clean_text(value, field="email", max_length=254))
        elif key == "phone":
            cleaned["phone"] = clean_text(value, field="phone", max_length=40)
            cleaned["phone_normalized"] = normalize.phone(cleaned["phone"])
        elif key == "source":
            if value not in Source.values:
                raise InvalidInput("source", f"Expected one of {', '.join(Source.values)}.")
            cleaned["source"] = value
        elif key == "value":
            cleaned["value"] = _clean_value(value)
        elif key == "currency":
            cleaned["currency"] = normalize.currency(clean_text(value, field="currency"))
        elif key == "owner_id":
            cleaned["owner_id"] = clean_owner(value)
        elif key == "tags":
            cleaned["tags"] = clean_tags(value)
        elif key == "score":
            if isinstance(value, bool) or not isinstance(value, int) or not -1_000_000 <= value <= 1_000_000:
                raise InvalidInput("score", "An integer between -1000000 and 1000000.")
            cleaned["score"] = value
    return cleaned


# Whether routing will give an unowned new lead its owner. The automation app, which routes, registers its
# answer (record apps publish events and never import automation).
_routing_checks: list[Callable[[], bool]] = []


def routing_check_register(check: Callable[[], bool]) -> None:
    """Called once by the app that routes new leads (automation)."""
    if check not in _routing_checks:
        _routing_checks.append(check)


# Whether work that a new lead's creation queues for after the commit may change the lead (automation's
# rules answering lead.created, routing, scoring). The automation app registers its answer, as for routing.
_follow_up_checks: list[Callable[[], bool]] = []


def follow_up_check_register(check: Callable[[], bool]) -> None:
    """Called once by the app whose queued work may change a new lead (automation)."""
    if check not in _follow_up_checks:
        _follow_up_checks.append(check)


def created_lead_may_change() -> bool:
    """Whether work queued by a lead's creation may have changed it since its commit. When not, the lead
    lead_create returned is the row as stored: nothing else writes to a lead its creation has just made."""
    return any(check() for check in _follow_up_checks)


def lead_create(
    *, actor: User | None, allow_duplicate: bool = False, allow_do_not_contact: bool = False, **fields: Any
) -> Lead:
    """Create a lead with its CREATED activity. Refuses a duplicate (same email, phone, or company + name)
    unless `allow_duplicate`. A rep's lead without an owner given is the rep's while routing is off (a rep
    sees only their own leads: else not even the one just made); with routing on, routing picks the owner.
    Admins' and managers' leads may stay unassigned. An address on the do-not-contact list is refused unless
    `allow_do_not_contact` (record_email_check)."""
    record_create_check()
    if "stage" in fields:
        raise InvalidInput("stage", "New leads start in NEW; use the transition endpoint afterwards.")
    check_fields(fields, EDITABLE_FIELDS)
    cleaned = _clean({"name": fields.get("name"), **fields})
    cleaned["custom"] = custom_for_create("lead", fields)
    email_check = "" if allow_do_not_contact else cleaned.get("email", "")
    if allow_duplicate:
        record_email_check(email=email_check, allow=False)
    if (
        "owner_id" not in fields
        and actor is not None
        and actor.role == Role.REP
        and not any(check() for check in _routing_checks)
    ):
        cleaned["owner_id"] = actor.pk
    cleaned.setdefault("currency", current_organization().default_currency)
    cleaned["identity_key"] = normalize.identity_key(cleaned["name"], cleaned.get("company", ""))
    keys = {
        "email": cleaned.get("email", ""),
        "phone_normalized": cleaned.get("phone_normalized", ""),
        "identity_key": cleaned["identity_key"],
    }
    with transaction.atomic():
        if not allow_duplicate:  # with the address's do-not-contact check, in the round trip of its locks
            record_duplicate_check(
                model=Lead, actor=actor, keys=keys, error=DuplicateLead, email_check=email_check
            )
        now = timezone.now()
        lead = Lead.objects.create(**cleaned, stage=Stage.NEW, stage_changed_at=now, created_at=now)
        activity_record(
            lead=lead,
            type=ActivityType.CREATED,
            actor_id=actor.pk if actor else None,
            subject=f"Lead created: {lead.name}",
            metadata={"source": lead.source, "owner_id": lead.owner_id},
        )
        publish_on_commit(
            "lead.created",
            record_id=lead.pk,
            actor_id=actor.pk if actor else None,
            owner_id=lead.owner_id,
            stage=lead.stage,
            **event_values("lead", lead),
        )
    return lead


def _locked(lead_id: int, lead: Lead | None = None) -> Lead:
    """The live lead, locked: `lead` when the caller has read and locked it already in this transaction (a
    request reads its lead once), else read and locked here."""
    if lead is None:
        return record_locked(Lead, lead_id, not_found=LeadNotFound)
    if lead.pk != lead_id or lead.deleted_at is not None or lead.merged_into_id is not None:
        raise LeadNotFound(id=lead_id)
    return lead


@transaction.atomic
def lead_update(
    *,
    lead_id: int,
    actor: User | None,
    changes: dict[str, Any],
    allow_duplicate: bool = False,
    allow_do_not_contact: bool = False,
) -> Lead:
    """Change editable fields. The stage is not one of them: it changes only through lead_transition.
    An owner change writes OWNER_CHANGE; other changes a SYSTEM activity listing old and new values.
    An email or phone changed to another live lead's is refused as on create, unless `allow_duplicate`.
    (If-Match is checked by the view, tenant_apps.records.api.views.VersionedRecordView, as for every
    record type.)"""
    if "stage" in changes:
        raise InvalidInput(
            "stage", "The stage changes only through POST /api/leads/<id>/transition/.", code="use_transition"
        )
    check_fields(changes, EDITABLE_FIELDS)
    cleaned = _clean(changes)
    lead = _locked(lead_id)
    custom_for_update("lead", changes, lead, cleaned)
    if cleaned.get("email", lead.email) != lead.email:
        record_email_check(email=cleaned["email"], allow=allow_do_not_contact)
    if not allow_duplicate:
        record_duplicate_check(
            model=Lead, actor=actor, keys=changed_keys(lead, cleaned), error=DuplicateLead, exclude_id=lead.pk
        )
    if any(key in cleaned and cleaned[key] != getattr(lead, key) for key in ("name", "company")):
        cleaned["identity_key"] = normalize.identity_key(
            cleaned.get("name", lead.name), cleaned.get("company", lead.company)
        )
    record_changes_save(record=lead, cleaned=cleaned, actor_id=actor.pk if actor else None)
    return lead


@transaction.atomic
def lead_score_set(*, lead_id: int, score: int) -> Lead:
    """Store the score the scoring rules computed. A computed score is not a timeline event: no activity is
    written (a rescore of every lead must not leave an entry in every append-only timeline); the
    lead.updated event still announces the change, for the rules watching the score."""
    lead = _locked(lead_id)
    previous = lead.score
    if previous == score:
        return lead
    lead.score = score
    lead.save(update_fields=["score", "updated_at"])
    publish_on_commit(
        "lead.updated",
        record_id=lead.pk,
        actor_id=None,
        owner_id=lead.owner_id,
        fields=["score"],
        changes={"score": [previous, score]},
    )
    return lead


@transaction.atomic
def lead_transition(
    *, lead_id: int, to_stage: str, actor: User | None, reason: str = "", locked: Lead | None = None
) -> Lead:
    """Move a lead along the pipeline. Only the transitions in TRANSITIONS exist; the row is locked so
    concurrent transitions of one lead serialize and the STAGE_CHANGE history is always a valid chain.
    `locked`: the lead as the caller read it with select_for_update in the enclosing transaction."""
    if to_stage not in Stage.values:
        raise InvalidInput("stage", f"Unknown stage; expected one of {', '.join(Stage.values)}.")
    reason = clean_text(reason, field="reason", max_length=1000)
    lead = _locked(lead_id, locked)
    if lead.converted_at is not None:
        raise LeadConverted(lead_id=lead.pk, stage=lead.stage, opportunity_id=lead.converted_opportunity_id)
    if not lead.can_transition_to(to_stage):
        raise TransitionNotAllowed(current=lead.stage, requested=to_stage, allowed=lead.allowed_stages())
    previous, lead.stage, lead.stage_changed_at = lead.stage, to_stage, timezone.now()
    lead.save(update_fields=["stage", "stage_changed_at", "updated_at"])
    actor_id = actor.pk if actor else None
    activity_record(
        lead=lead,
        type=ActivityType.STAGE_CHANGE,
        actor_id=actor_id,
        subject=f"Moved to {to_stage}",
        metadata={"from": previous, "to": to_stage, "reason": reason},
        occurred_at=lead.stage_changed_at,
    )
    publish_on_commit(
        "lead.stage_changed",
        record_id=lead.pk,
        actor_id=actor_id,
        owner_id=lead.owner_id,
        **from_to(previous, to_stage),
    )
    return lead


@transaction.atomic
def lead_delete(*, lead_id: int, actor: User | None) -> Lead:
    """Soft delete: hidden from lists, search and analytics; restorable."""
    lead = _locked(lead_id)
    record_soft_delete(record=lead, actor_id=actor.pk if actor else None)
    return lead


@transaction.atomic
def lead_restore(*, lead_id: int, actor: User | None) -> Lead:
    return record_restore(
        model=Lead,
        record_id=lead_id,
        actor_id=actor.pk if actor else None,
        not_found=LeadNotFound,
        not_deleted=LeadNotDeleted,
    )


@transaction.atomic
def lead_purge(*, lead_id: int, actor: User, request: HttpRequest | None = None) -> None:
    """Remove a deleted lead for good, with its notes and its timeline. Admins only."""
    record_purge(
        model=Lead,
        record_id=lead_id,
        actor=actor,
        not_found=LeadNotFound,
        not_deleted=LeadNotDeleted,
        request=request,
    )


def note_create(*, lead_id: int, actor: User | None, body: Any) -> Note:
    return record_note_add(model=Lead, record_id=lead_id, actor=actor, body=body, not_found=LeadNotFound)
