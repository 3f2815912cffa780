"""Lead conversion: a qualified lead becomes a contact at an account (new or existing) and, optionally, an
opportunity, once, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from shared_apps.core.errors import Conflict, InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.users.models import User
from tenant_apps.accounts.models import Account
from tenant_apps.accounts.services import account_create
from tenant_apps.activities.models import ActivityType
from tenant_apps.activities.services import activity_record
from tenant_apps.contacts.models import Contact
from tenant_apps.contacts.services import contact_create
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.opportunities.models import Opportunity, OpportunityStage
from tenant_apps.opportunities.services import (
    clean_amount,
    clean_close_date,
    opportunity_create,
    opportunity_transition,
)
from tenant_apps.records.services import clean_id

CONVERTIBLE_STAGES = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.WON)
# Where the opportunity starts, by the lead's stage; a won lead's opportunity is then closed as won.
OPPORTUNITY_STAGE: dict[str, str] = {
    Stage.QUALIFIED: OpportunityStage.QUALIFICATION,
    Stage.PROPOSAL: OpportunityStage.PROPOSAL,
    Stage.NEGOTIATION: OpportunityStage.NEGOTIATION,
    Stage.WON: OpportunityStage.NEGOTIATION,
}


class LeadNotConvertible(Conflict):
    code = "lead_not_convertible"

    def __init__(self, *, stage: str) -> None:
        super().__init__(
            f"A lead in {stage} cannot be converted; only one in {', '.join(CONVERTIBLE_STAGES)} can.",
            stage=stage,
            convertible=list(CONVERTIBLE_STAGES),
        )


class AlreadyConverted(Conflict):
    code = "already_converted"

    def __init__(self, *, lead: Lead) -> None:
        super().__init__(
            "The lead was already converted.",
            lead_id=lead.pk,
            account_id=lead.converted_account_id,
            contact_id=lead.converted_contact_id,
            opportunity_id=lead.converted_opportunity_id,
            converted_at=lead.converted_at.isoformat() if lead.converted_at else None,
        )


@dataclass(frozen=True)
class Conversion:
    lead: Lead
    account: Account
    contact: Contact
    opportunity: Opportunity | None
    account_created: bool


def lead_convert(
    *,
    lead_id: int,
    actor: User | None,
    account_id: Any = None,
    account_name: Any = "",
    create_opportunity: bool = False,
    opportunity_name: Any = "",
    amount: Any = None,
    expected_close_date: date | str | None = None,
) -> Conversion:
    """Convert a lead in QUALIFIED, PROPOSAL, NEGOTIATION or WON, once: reuse the live account `account_id`
    or create one (named `account_name`, else the lead's company), create the contact from the lead (name,
    email, phone, owner, tags) and, with `create_opportunity`, an opportunity (amount defaulting to the lead's
    value; closed as won for a won lead). The lead is locked and all of it is one transaction: a failure
    anywhere leaves nothing behind. Every new record's CREATED activity names the lead, the lead gets a
    CONVERTED activity, and the account's timeline rolls up the lead's from then on."""
    if account_id is not None:
        account_id = clean_id(account_id, field="account")
    account_name = clean_text(account_name, field="account_name", max_length=200)
    opportunity_name = clean_text(opportunity_name, field="opportunity_name", max_length=200)
    if account_id is not None and account_name:
        raise InvalidInput("account_name", "Give an existing account or a name for a new one, not both.")
    if not create_opportunity and (opportunity_name or amount is not None or expected_close_date is not None):
        raise InvalidInput(
            "create_opportunity", "Send create_opportunity: true to create an opportunity with these."
        )
    amount = None if amount is None else clean_amount(amount)
    close_date = clean_close_date(expected_close_date)
    actor_id = actor.pk if actor else None

    with transaction.atomic():
        lead = Lead.objects.select_for_update().alive().filter(pk=lead_id).first()
        if lead is None:
            raise LeadNotFound(id=lead_id)
        if lead.converted_at is not None:
            raise AlreadyConverted(lead=lead)
        if lead.stage not in CONVERTIBLE_STAGES:
            raise LeadNotConvertible(stage=lead.stage)
        owner_id = (
            lead.owner_id
            if lead.owner_id and User.objects.filter(pk=lead.owner_id, is_active=True).exists()
            else None
        )

        if account_id is not None:
            account = Account.objects.alive().filter(pk=account_id).first()
            if account is None:
                raise InvalidInput("account", "No such account.", code="unknown_account")
        else:
            name = account_name or lead.company
            if not name:
                raise InvalidInput(
                    "account_name", "Name the new account: the lead has no company.", code="required"
                )
            account = account_create(actor=actor, from_lead_id=lead.pk, name=name, owner_id=owner_id)
        contact = contact_create(
            actor=actor,
            from_lead_id=lead.pk,
            # converting is deliberate: the person the lead was becomes a contact even if one has their email
            allow_duplicate=True,
            # nor is the person brought back: the lead already holds them (their address stays listed)
            allow_do_not_contact=True,
            name=lead.name,
            email=lead.email,
            phone=lead.phone,
            account_id=account.pk,
            owner_id=owner_id,
            tags=lead.tags,
        )
        opportunity = None
        if create_opportunity:
            opportunity = opportunity_create(
                actor=actor,
                from_lead_id=lead.pk,
                name=opportunity_name or account.name,
                account_id=account.pk,
                primary_contact_id=contact.pk,
                amount=lead.value if amount is None else amount,
                currency=lead.currency,
                expected_close_date=close_date,
                owner_id=owner_id,
                stage=OPPORTUNITY_STAGE[lead.stage],
            )
            if lead.stage == Stage.WON:
                opportunity = opportunity_transition(
                    opportunity_id=opportunity.pk,
                    stage=OpportunityStage.CLOSED_WON,
                    actor=actor,
                    reason=f"Converted from won lead #{lead.pk}",
                )

        lead.converted_at = timezone.now()
        lead.converted_account, lead.converted_contact = account, contact
        lead.converted_opportunity = opportunity
        lead.save(
            update_fields=[
                "converted_at",
                "converted_account",
                "converted_contact",
                "converted_opportunity",
                "updated_at",
            ]
        )
        ids = {
            "account_id": account.pk,
            "contact_id": contact.pk,
            "opportunity_id": opportunity.pk if opportunity else None,
            "account_created": account_id is None,
        }
        activity_record(
            record=lead,
            type=ActivityType.CONVERTED,
            actor_id=actor_id,
            subject=f"Converted: contact {contact.name} at {account.name}",
            metadata=ids,
            occurred_at=lead.converted_at,
        )
        publish_on_commit(
            "lead.converted", record_id=lead.pk, actor_id=actor_id, owner_id=lead.owner_id, **ids
        )
    return Conversion(
        lead=lead,
        account=account,
        contact=contact,
        opportunity=opportunity,
        account_created=account_id is None,
    )
