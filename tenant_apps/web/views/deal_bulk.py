"""The deal table's bulk actions (reassign, move stage, tag, untag, delete) and the deals' trash with its
restore. Each selected deal goes through the checks and service of its own page (visible, the rep's own,
the move one its pipeline allows, a lost stage with a lost reason); one deal's refusal is reported on its
row and does not stop the others. Adding deals' contacts to a sequence is not offered: sequences enroll
leads only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from shared_apps.core.errors import AppError, Forbidden
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role, User
from tenant_apps.opportunities import selectors as opportunity_selectors
from tenant_apps.opportunities import services as opportunity_services
from tenant_apps.opportunities.models import PipelineStage
from tenant_apps.web.forms import MAX_ID
from tenant_apps.web.views.base import Done, action, back, member, member_required, parse
from tenant_apps.web.views.lead_bulk import (
    TRASH_SHOWN,
    bulk_answer,
    bulk_apply,
    bulk_refused,
    new_owner,
    selected_ids,
    trashed,
)
from tenant_apps.web.views.records import _opportunity, opportunity_for_change

ACTIONS = ("assign", "move", "tag", "untag", "delete")
PAST = {
    "assign": "reassigned",
    "move": "moved",
    "tag": "tagged",
    "untag": "untagged",
    "delete": "moved to the trash",
}


class DealBulkForm(forms.Form):
    action = forms.ChoiceField(choices=[(name, name) for name in ACTIONS])
    owner = forms.CharField(max_length=20, required=False)
    stage = forms.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    lost_reason = forms.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    tag = forms.CharField(max_length=50, required=False)

    def clean_owner(self) -> int | None:
        return new_owner(self.cleaned_data["owner"])

    def clean_tag(self) -> str:
        return " ".join(str(self.cleaned_data["tag"] or "").split())

    def clean(self) -> dict[str, Any]:
        """A move names a stage that exists, and a lost stage a lost reason (checked once for the form: the
        service checks each deal's pipeline)."""
        data = super().clean() or {}
        verb = str(data.get("action"))
        needs = {"move": "stage", "tag": "tag", "untag": "tag"}.get(verb)
        if needs and not data.get(needs):
            self.add_error(needs, "Required for this action.")
        elif verb == "move":
            stage = PipelineStage.objects.filter(pk=data["stage"]).first()
            if stage is None:
                self.add_error("stage", "No such stage.")
            elif stage.is_lost and not data.get("lost_reason"):
                self.add_error("lost_reason", "Say why the deals were lost.")
        return data


def _one(actor: User, opportunity_id: int, data: dict[str, Any]) -> None:
    deal = _opportunity(actor, opportunity_id, True)  # hidden: 404; a rep's colleague's: 403
    verb = data["action"]
    if verb == "assign":
        opportunity_services.opportunity_update(
            opportunity_id=opportunity_id, actor=actor, changes={"owner_id": data["owner"]}
        )
    elif verb == "move":
        opportunity_services.opportunity_transition(
            opportunity_id=opportunity_id, stage=data["stage"], actor=actor, lost_reason=data["lost_reason"]
        )
    elif verb in ("tag", "untag"):
        tag = data["tag"].lower()
        kept = [existing for existing in deal.tags if existing.lower() != tag]
        if verb == "tag" and len(kept) == len(deal.tags):
            changes = {"tags": [*deal.tags, data["tag"]]}
        elif verb == "untag" and len(kept) != len(deal.tags):
            changes = {"tags": kept}
        else:
            return  # already as asked
        opportunity_services.opportunity_update(opportunity_id=opportunity_id, actor=actor, changes=changes)
    elif verb == "delete":
        opportunity_services.opportunity_delete(opportunity_id=opportunity_id, actor=actor)


@member_required
@require_POST
def deal_bulk(request: HttpRequest) -> HttpResponse:
    """POST ids=…&action=… (+ owner, stage and lost_reason, or tag): scripts get `{message, done, errors:
    [{id, name, code, message, status}]}` (200 when some rows were done, else the first refusal's status),
    a form post the summary as messages."""
    default = reverse("web:deals")
    try:
        if not has_role(request.user, Role.REP):
            raise Forbidden("Your role (viewer) can look but not change anything.", code="read_only")
        ids = selected_ids(request, "deal")
        data = parse(DealBulkForm, request.POST)
    except AppError as error:
        return bulk_refused(request, error, default)
    actor = member(request)
    names = dict(
        opportunity_selectors.opportunities_visible_to(actor).filter(pk__in=ids).values_list("pk", "name")
    )
    outcome = bulk_apply(ids=ids, names=names, apply=lambda pk: _one(actor, pk, data))
    return bulk_answer(request, outcome=outcome, noun="deal", past=PAST[data["action"]], default=default)


@member_required
@require_GET
def deal_trash(request: HttpRequest) -> HttpResponse:
    actor = member(request)
    context = {
        "deals": trashed(
            opportunity_selectors.opportunities_visible_to(actor).select_related(
                "owner", "account", "pipeline_stage"
            )
        ),
        "shown": TRASH_SHOWN,
        "can_write": has_role(actor, Role.REP),
        "nav": "opportunities",
    }
    return render(request, "web/deal_trash.html", context)


@action
def deal_restore(request: HttpRequest, opportunity_id: int) -> Done:
    actor = member(request)
    opportunity_for_change(actor, opportunity_id, include_deleted=True)
    restored = opportunity_services.opportunity_restore(opportunity_id=opportunity_id, actor=actor)
    return Done(f"{restored.name} restored.", back(request, reverse("web:deal-trash")))
