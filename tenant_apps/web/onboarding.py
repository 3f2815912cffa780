"""A new organization's first-run checklist: each step ticks itself from what the organization has done
(three cheap EXISTS queries), and the sample data an admin may ask for (the demo's own seeding, audited)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from shared_apps.audit.services import audit_record
from shared_apps.organizations.context import current_organization
from shared_apps.users.models import Invitation, User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.demo.leads import seed_leads
from tenant_apps.imports.models import Import
from tenant_apps.leads.models import Lead

SAMPLE_LEADS = 40


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    hint: str
    done: bool


def checklist() -> list[Step]:
    """Import leads (an import was run or any lead exists), invite the team (a second member or an invitation)
    and work the pipeline (a lead moved stage)."""
    has_leads = Lead.objects.exists()
    invited = User.objects.filter(is_active=True).count() > 1 or Invitation.objects.exists()
    return [
        Step(
            "import",
            "Bring in your leads",
            "Import a CSV file, add a lead by hand, or load sample data to look around.",
            has_leads or Import.objects.exists(),
        ),
        Step(
            "invite",
            "Invite your team",
            "Members see and work the same pipeline, each in their role.",
            invited,
        ),
        Step(
            "pipeline",
            "Move a lead along the pipeline",
            "Drag a card to the next column on the board: the reports start from stage changes.",
            Activity.objects.filter(type=ActivityType.STAGE_CHANGE).exists(),
        ),
    ]


def sample_data_load(*, actor: User, request: HttpRequest | None = None) -> int:
    """Seed SAMPLE_LEADS demo leads with their timelines into the current organization when it has no lead
    yet (else nothing: sample data never mixes with real data); audited either way it writes."""
    created = seed_leads(organization=current_organization(), count=SAMPLE_LEADS)
    if created:
        audit_record(
            "organization.sample_data_loaded", request=request, actor=actor, changes={"leads": created}
        )
    return created
