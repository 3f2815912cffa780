"""Every write on opportunities: each writes its activity in the same transaction and announces itself on
commit. The stage changes only through opportunity_transition; closed stages are final."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.organizations.context import current_organization
from shared_apps.users.models import User
from tenant_apps.accounts.services import clean_account
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.activities.services import activity_log, activity_record
from tenant_apps.contacts.models import Contact
from tenant_apps.opportunities.exceptions import (
    OpportunityClosed,
    OpportunityNotDeleted,
    OpportunityNotFound,
    StageUnchanged,
)
from tenant_apps.opportunities.models import CLOSED_STAGES, STAGE_PROBABILITY, Opportunity, OpportunityStage
from tenant_apps.records import normalize
from tenant_apps.records.services import (
    check_fields,
    clean_id,
    clean_owner,
    clean_tags,
    created_metadata,
    from_to,
    record_alive,
    record_changes_save,
    record_create_check,
    record_locked,
    record_note_add,
    record_restore,
    record_soft_delete,
)

MAX_AMOUNT = Decimal("9999999999.99")
OPPORTUNITY_FIELDS = (
    "name",
    "account_id",
    "primary_contact_id",
    "amount",
    "currency",
    "probability",
    "expected_close_date",
    "owner_id",
    "tags",
)
OPEN_STAGES = tuple(stage for stage in OpportunityStage.values if stage not in CLOSED_STAGES)


def clean_amount(value: Any, *, field: str = "amount") -> Decimal:
    if isinstance(value, bool):
        raise InvalidInput(field, "A number is required.")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidInput(field, "A number is required.") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise InvalidInput(field, f"Between 0 and {MAX_AMOUNT}.")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(field, "At most 2 decimal places.")
    return amount


def clean_close_date(value: Any, *, field: str = "expected_close_date") -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) <= 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput(field, "A date such as 2026-03-31 is required.")


def _clean_probability(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidInput("probability", "An integer from 0 to 100.")
    return value


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            cleaned["name"] = clean_text(value, field="name", max_length=200, required=True)
        elif key == "account_id":
            cleaned["account_id"] = clean_account(value, required=True)
        elif key == "primary_contact_id":
            cleaned["primary_contact_id"] = (
                None if value is None else clean_id(value, field="primary_contact")
            )
        elif key == "amount":
            cleaned["amount"] = clean_amount(value)
        elif key == "currency":
            cleaned["currency"] = normalize.currency(clean_text(value, field="currency"))
        elif key == "probability":
            cleaned["probability"] = _clean_probability(value)
        elif key == "expected_close_date":
            cleaned["expected_close_date"] = clean_close_date(value)
        elif key == "owner_id":
            cleaned["owner_id"] = clean_owner(value)
        elif key == "tags":
            cleaned["tags"] = clean_tags(value)
    return cleaned


def _check_primary_contact(contact_id: int | None, account_id: int) -> None:
    """The primary contact is a live contact of the opportunity's account, or of no account."""
    if contact_id is None:
        return
    found = Contact.objects.alive().filter(pk=contact_id).values_list("account_id", flat=True)
    if not found:
        raise InvalidInput("primary_contact", "No such contact.", code="unknown_contact")
    if found[0] not in (None, account_id):
        raise InvalidInput(
            "primary_contact",
            "The contact belongs to another account than the opportunity's.",
            code="contact_of_another_account",
        )


def opportunity_create(*, actor: User | None, from_lead_id: int | None = None, **fields: Any) -> Opportunity:
    """Create an opportunity on a live account, in an open stage (QUALIFICATION unless given; closing goes
    through opportunity_transition), with the stage's default probability unless given, and its CREATED
    activity (on the account's timeline too). `from_lead_id` is the lead a conversion made it from."""
    record_create_check()
    check_fields(fields, (*OPPORTUNITY_FIELDS, "stage"))
    stage = fields.pop("stage", OpportunityStage.QUALIFICATION)
    if stage not in OPEN_STAGES:
        if stage in CLOSED_STAGES:
            raise InvalidInput(
                "stage",
                "New opportunities start open; close them through POST /api/opportunities/<id>/stage/.",
                code="use_stage_endpoint",
            )
        raise InvalidInput("stage", f"Expected one of {', '.join(OPEN_STAGES)}.")
    cleaned = _clean({"name": fields.get("name"), "account_id": fields.get("account_id"), **fields})
    cleaned.setdefault("currency", current_organization().default_currency)
    cleaned.setdefault("probability", STAGE_PROBABILITY[stage])
    _check_primary_contact(cleaned.get("primary_contact_id"), cleaned["account_id"])
    actor_id = actor.pk if actor else None
    with transaction.atomic():
        opportunity = Opportunity.objects.create(**cleaned, stage=stage, source_lead_id=from_lead_id)
        suffix, metadata = created_metadata(
            from_lead_id,
            stage=stage,
            amount=str(opportunity.amount),
            currency=opportunity.currency,
            account_id=opportunity.account_id,
            owner_id=opportunity.owner_id,
        )
        activity_record(
            record=opportunity,
            type=ActivityType.CREATED,
            actor_id=actor_id,
            subject=f"Opportunity created: {opportunity.name}{suffix}",
            metadata=metadata,
        )
        publish_on_commit(
            "opportunity.created",
            record_id=opportunity.pk,
            actor_id=actor_id,
            account_id=opportunity.account_id,
            stage=stage,
        )
    return opportunity


def _locked(opportunity_id: int) -> Opportunity:
    return record_locked(Opportunity, opportunity_id, not_found=OpportunityNotFound)


@transaction.atomic
def opportunity_update(*, opportunity_id: int, actor: User | None, changes: dict[str, Any]) -> Opportunity:
    """Change editable fields. The stage is not one of them (opportunity_transition moves it), and a closed
    opportunity's probability stays at 100 or 0. The primary contact must stay one of the account's."""
    if "stage" in changes:
        raise InvalidInput(
            "stage",
            "The stage changes only through POST /api/opportunities/<id>/stage/.",
            code="use_stage_endpoint",
        )
    check_fields(changes, OPPORTUNITY_FIELDS)
    cleaned = _clean(changes)
    opportunity = _locked(opportunity_id)
    if (
        opportunity.is_closed
        and cleaned.get("probability", opportunity.probability) != opportunity.probability
    ):
        raise OpportunityClosed(stage=opportunity.stage)
    if {"account_id", "primary_contact_id"} & cleaned.keys():
        _check_primary_contact(
            cleaned.get("primary_contact_id", opportunity.primary_contact_id),
            cleaned.get("account_id", opportunity.account_id),
        )
    record_changes_save(record=opportunity, cleaned=cleaned, actor_id=actor.pk if actor else None)
    return opportunity


@transaction.atomic
def opportunity_transition(
    *, opportunity_id: int, stage: Any, actor: User | None, reason: Any = ""
) -> Opportunity:
    """Move an open opportunity to any other stage, taking that stage's default probability. Closed stages
    are final; closing sets closed_at and close_reason (required for CLOSED_LOST) and probability 100 or 0.
    The row is locked so concurrent moves serialize and the STAGE_CHANGE history is a valid chain."""
    if stage not in OpportunityStage.values:
        raise InvalidInput("stage", f"Unknown stage; expected one of {', '.join(OpportunityStage.values)}.")
    reason = clean_text(reason, field="reason", max_length=1000)
    opportunity = _locked(opportunity_id)
    if opportunity.is_closed:
        raise OpportunityClosed(stage=opportunity.stage, requested=stage)
    if opportunity.stage == stage:
        raise StageUnchanged(stage=stage)
    if stage == OpportunityStage.CLOSED_LOST and not reason:
        raise InvalidInput("reason", "Say why the deal was lost.", code="required")
    previous, now = opportunity.stage, timezone.now()
    opportunity.stage, opportunity.probability = stage, STAGE_PROBABILITY[stage]
    if stage in CLOSED_STAGES:
        opportunity.closed_at, opportunity.close_reason = now, reason
    opportunity.save(update_fields=["stage", "probability", "closed_at", "close_reason", "updated_at"])
    actor_id = actor.pk if actor else None
    activity_record(
        record=opportunity,
        type=ActivityType.STAGE_CHANGE,
        actor_id=actor_id,
        subject=f"Moved to {stage}",
        metadata={"from": previous, "to": stage, "reason": reason, "probability": opportunity.probability},
        occurred_at=now,
    )
    publish_on_commit(
        "opportunity.stage_changed",
        record_id=opportunity.pk,
        actor_id=actor_id,
        owner_id=opportunity.owner_id,
        **from_to(previous, stage),
        closed=stage in CLOSED_STAGES,
    )
    return opportunity


@transaction.atomic
def opportunity_delete(*, opportunity_id: int, actor: User | None) -> Opportunity:
    """Soft delete: hidden from lists and lookups, restorable."""
    opportunity = _locked(opportunity_id)
    record_soft_delete(record=opportunity, actor_id=actor.pk if actor else None)
    return opportunity


@transaction.atomic
def opportunity_restore(*, opportunity_id: int, actor: User | None) -> Opportunity:
    return record_restore(
        model=Opportunity,
        record_id=opportunity_id,
        actor_id=actor.pk if actor else None,
        not_found=OpportunityNotFound,
        not_deleted=OpportunityNotDeleted,
    )


def _alive(opportunity_id: int) -> Opportunity:
    return record_alive(Opportunity, opportunity_id, not_found=OpportunityNotFound)


def opportunity_note_add(*, opportunity_id: int, actor: User | None, body: Any) -> Note:
    return record_note_add(
        model=Opportunity, record_id=opportunity_id, actor=actor, body=body, not_found=OpportunityNotFound
    )


def opportunity_activity_log(*, opportunity_id: int, actor: User | None, **activity: Any) -> Activity:
    return activity_log(record=_alive(opportunity_id), actor=actor, **activity)
