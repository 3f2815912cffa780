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
from tenant_apps.customfields.values import event_values
from tenant_apps.opportunities.exceptions import (
    OpportunityClosed,
    OpportunityNotDeleted,
    OpportunityNotFound,
    StageUnchanged,
)
from tenant_apps.opportunities.models import (
    CLOSED_STAGES,
    LostReason,
    Opportunity,
    OpportunityStage,
    Pipeline,
    PipelineStage,
)
from tenant_apps.opportunities.pipelines import (
    PipelineNotFound,
    default_pipeline,
    lost_reason_resolve,
    stage_resolve,
)
from tenant_apps.records import normalize
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
    "custom",
)
# The default pipeline's open stage keys as the enum had them (CSV imports still speak them).
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


def _pipeline_of(value: Any) -> Pipeline:
    if value is None:
        return default_pipeline()
    found = None
    if isinstance(value, int) and not isinstance(value, bool):
        found = Pipeline.objects.filter(pk=value).first()
    if found is None:
        raise InvalidInput("pipeline", "No such pipeline.", code=PipelineNotFound.code)
    return found


def stage_data(stage: PipelineStage, prefix: str = "") -> dict[str, Any]:
    """What events and timeline entries say of a stage: its pipeline and its id, key and name."""
    return {
        f"{prefix}pipeline_id": stage.pipeline_id,
        f"{prefix}pipeline_name": stage.pipeline.name,
        f"{prefix}stage_id": stage.pk,
        f"{prefix}stage_name": stage.name,
    }


def opportunity_create(*, actor: User | None, from_lead_id: int | None = None, **fields: Any) -> Opportunity:
    """Create an opportunity on a live account in an open stage of a pipeline (the default pipeline and its
    first stage unless given; `stage` is a stage id or key of that pipeline; closing goes through
    opportunity_transition), with the stage's probability unless given, and its CREATED activity (on the
    account's timeline too). `from_lead_id` is the lead a conversion made it from."""
    record_create_check()
    check_fields(fields, (*OPPORTUNITY_FIELDS, "stage", "pipeline"))
    pipeline = _pipeline_of(fields.pop("pipeline", None))
    requested = fields.pop("stage", None)
    if requested is None:
        stage = pipeline.stages.filter(is_won=False, is_lost=False).order_by("position", "id").first()
        if stage is None:
            raise InvalidInput("pipeline", "The pipeline has no open stage.", code="no_open_stage")
    else:
        stage = stage_resolve(requested, pipeline=pipeline)
    if stage.is_closed:
        raise InvalidInput(
            "stage",
            "New opportunities start open; close them through POST /api/opportunities/<id>/stage/.",
            code="use_stage_endpoint",
        )
    cleaned = _clean({"name": fields.get("name"), "account_id": fields.get("account_id"), **fields})
    cleaned["custom"] = custom_for_create("opportunity", fields, converted=from_lead_id is not None)
    cleaned.setdefault("currency", current_organization().default_currency)
    cleaned.setdefault("probability", stage.probability)
    _check_primary_contact(cleaned.get("primary_contact_id"), cleaned["account_id"])
    actor_id = actor.pk if actor else None
    with transaction.atomic():
        opportunity = Opportunity.objects.create(
            **cleaned,
            pipeline=pipeline,
            pipeline_stage=stage,
            stage=stage.key,
            source_lead_id=from_lead_id,
        )
        suffix, metadata = created_metadata(
            from_lead_id,
            stage=stage.key,
            **stage_data(stage),
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
            stage=stage.key,
            **stage_data(stage),
            **event_values("opportunity", opportunity),
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
    custom_for_update("opportunity", changes, opportunity, cleaned)
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
    *,
    opportunity_id: int,
    stage: Any,
    actor: User | None,
    reason: Any = "",
    lost_reason: Any = None,
) -> Opportunity:
    """Move an open opportunity to another stage of its own pipeline (`stage`: id or key), taking that
    stage's probability. Won and lost stages are final; closing sets closed_at; a lost stage needs one of
    the organization's lost reasons (`lost_reason`, 400 naming it otherwise) and `reason` is free text.
    The row is locked so concurrent moves serialize and the STAGE_CHANGE history is a valid chain."""
    reason = clean_text(reason, field="reason", max_length=1000)
    opportunity = _locked(opportunity_id)
    target = stage_resolve(stage, pipeline=opportunity.pipeline)
    current = PipelineStage.objects.select_related("pipeline").get(pk=opportunity.pipeline_stage_id)
    if opportunity.is_closed:
        raise OpportunityClosed(stage=current.key, requested=target.key)
    if current.pk == target.pk:
        raise StageUnchanged(stage=target.key)
    chosen: LostReason | None = None
    if target.is_lost:
        if lost_reason in (None, ""):
            raise InvalidInput(
                "lost_reason", "Say why the deal was lost (a lost reason id).", code="required"
            )
        chosen = lost_reason_resolve(lost_reason)
    _move(opportunity, current=current, target=target, actor=actor, reason=reason, lost_reason=chosen)
    return opportunity


def _move(
    opportunity: Opportunity,
    *,
    current: PipelineStage,
    target: PipelineStage,
    actor: User | None,
    reason: str,
    lost_reason: LostReason | None = None,
    subject: str = "",
) -> None:
    now = timezone.now()
    opportunity.pipeline_stage, opportunity.stage = target, target.key
    opportunity.probability = target.probability
    if target.is_closed and opportunity.closed_at is None:
        opportunity.closed_at = now
        opportunity.close_reason = reason or (lost_reason.name if lost_reason else "")
        opportunity.lost_reason = lost_reason
    opportunity.save(
        update_fields=[
            "pipeline_stage",
            "stage",
            "probability",
            "closed_at",
            "close_reason",
            "lost_reason",
            "updated_at",
        ]
    )
    actor_id = actor.pk if actor else None
    activity_record(
        record=opportunity,
        type=ActivityType.STAGE_CHANGE,
        actor_id=actor_id,
        subject=subject or f"Moved to {target.name}",
        metadata={
            "from": current.key,
            "to": target.key,
            "from_stage_id": current.pk,
            "to_stage_id": target.pk,
            "from_name": current.name,
            "to_name": target.name,
            "pipeline_id": target.pipeline_id,
            "reason": reason,
            "lost_reason_id": lost_reason.pk if lost_reason else None,
            "lost_reason": lost_reason.name if lost_reason else "",
            "probability": opportunity.probability,
        },
        occurred_at=now,
    )
    publish_on_commit(
        "opportunity.stage_changed",
        record_id=opportunity.pk,
        actor_id=actor_id,
        owner_id=opportunity.owner_id,
        **from_to(current.key, target.key),
        **stage_data(target),
        from_stage_id=current.pk,
        from_stage_name=current.name,
        lost_reason=lost_reason.name if lost_reason else None,
        closed=target.is_closed,
        won=target.is_won,
    )


def opportunity_move_for_stage_delete(
    *, opportunity_id: int, stage: PipelineStage, removed: PipelineStage, actor: User | None
) -> None:
    """Called by pipelines.stage_delete only: a deal of a stage being deleted goes to `stage` (same kind:
    open, won or lost, so closed_at and the lost reason stay as they are), with a timeline entry."""
    opportunity = _locked(opportunity_id)
    _move(
        opportunity,
        current=removed,
        target=stage,
        actor=actor,
        reason=f"Stage {removed.name!r} was deleted",
        subject=f"Moved to {stage.name} (stage {removed.name} deleted)",
    )


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
