"""The lead list's bulk actions (reassign, move stage, tag, add to sequence, delete), the columns a member
shows, and the trash with its restore. Each selected lead goes through the same checks and service as
its own page (visible, the rep's own, the move allowed by the state machine); one lead's refusal is
reported on its row and does not stop the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from shared_apps.core.errors import AppError, Forbidden, InvalidInput
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role, User
from tenant_apps.leads import selectors as lead_selectors
from tenant_apps.leads import services as lead_services
from tenant_apps.leads.models import Stage
from tenant_apps.sequences import services as sequence_services
from tenant_apps.web import selectors
from tenant_apps.web.forms import MAX_ID
from tenant_apps.web.services import list_columns_set
from tenant_apps.web.views.base import Done, action, back, is_fetch, member, member_required, parse

MAX_SELECTED = 200
TRASH_SHOWN = 50
ACTIONS = ("assign", "move", "tag", "sequence", "delete")


def new_owner(value: Any) -> int | None:
    """A bulk reassignment's owner: a member id, or nobody ("none" or blank)."""
    text = str(value or "")
    if text in ("", "none"):
        return None
    if not text.isdigit() or len(text) > 18:
        raise forms.ValidationError('Choose a member or "none".')
    return int(text)


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=[(name, name) for name in ACTIONS])
    owner = forms.CharField(max_length=20, required=False)
    stage = forms.ChoiceField(choices=[("", ""), *Stage.choices], required=False)
    tag = forms.CharField(max_length=50, required=False)
    sequence = forms.IntegerField(min_value=1, max_value=MAX_ID, required=False)

    def clean_owner(self) -> int | None:
        return new_owner(self.cleaned_data["owner"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needs = {"move": "stage", "tag": "tag", "sequence": "sequence"}.get(str(data.get("action")))
        if needs and not data.get(needs):
            self.add_error(needs, "Required for this action.")
        return data


def selected_ids(request: HttpRequest, noun: str = "lead") -> list[int]:
    """The ticked records' ids: 1 to 200 of them, each a valid id (a 400 naming `ids` otherwise)."""
    raw = request.POST.getlist("ids")
    if not raw:
        raise InvalidInput("ids", f"Select at least one {noun}.")
    if len(raw) > MAX_SELECTED:
        raise InvalidInput("ids", f"Select at most {MAX_SELECTED} {noun}s at a time.")
    ids = []
    for value in raw:
        if not value.isdigit() or not 0 < int(value) <= MAX_ID:
            raise InvalidInput("ids", f"A selected {noun} id is not valid.")
        ids.append(int(value))
    return list(dict.fromkeys(ids))


@dataclass
class Outcome:
    done: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # {id, name, code, message}


def _one(actor: User, lead_id: int, data: dict[str, Any]) -> None:
    lead = lead_selectors.lead_for_write(actor=actor, lead_id=lead_id)
    if lead.is_deleted:
        raise InvalidInput("ids", "This lead is in the trash.", code="lead_deleted")
    verb = data["action"]
    if verb == "assign":
        lead_services.lead_update(lead_id=lead_id, actor=actor, changes={"owner_id": data["owner"]})
    elif verb == "move":
        lead_services.lead_transition(lead_id=lead_id, to_stage=data["stage"], actor=actor)
    elif verb == "tag":
        if data["tag"].lower() not in [tag.lower() for tag in lead.tags]:
            lead_services.lead_update(
                lead_id=lead_id, actor=actor, changes={"tags": [*lead.tags, data["tag"]]}
            )
    elif verb == "sequence":
        sequence_services.sequence_enroll(sequence_id=data["sequence"], lead_id=lead_id, actor=actor)
    elif verb == "delete":
        lead_services.lead_delete(lead_id=lead_id, actor=actor)


def bulk_apply(*, ids: list[int], names: dict[int, str], apply: Callable[[int], None]) -> Outcome:
    """Apply one action to each record, each in its own transaction (the services'), collecting refusals
    (a record the member may not see is named by its id only)."""
    outcome = Outcome()
    for record_id in ids:
        try:
            apply(record_id)
        except AppError as error:
            outcome.errors.append(
                {
                    "id": record_id,
                    "name": names.get(record_id, f"#{record_id}"),
                    "code": error.code,
                    "message": error.message,
                    "status": error.status_code,
                }
            )
        else:
            outcome.done.append(record_id)
    return outcome


PAST = {
    "assign": "reassigned",
    "move": "moved",
    "tag": "tagged",
    "sequence": "added to the sequence",
    "delete": "moved to the trash",
}


def bulk_refused(request: HttpRequest, error: AppError, default: str) -> HttpResponse:
    """A bulk request refused as a whole: the error's own body and status to a script (an invalid field is
    named under "errors"), a message to a form post."""
    if is_fetch(request):
        return JsonResponse(error.as_body(), status=error.status_code)
    messages.error(request, error.message)
    return HttpResponseRedirect(back(request, default))


def bulk_answer(
    request: HttpRequest, *, outcome: Outcome, noun: str, past: str, default: str
) -> HttpResponse:
    """The summary: scripts get `{message, done, errors}` (200 when some rows were done: the errors are per
    row; else the first refusal's status), a form post the summary as messages."""
    summary = f"{len(outcome.done)} {noun}{'s' if len(outcome.done) != 1 else ''} {past}."
    if outcome.errors:
        summary += f" {len(outcome.errors)} refused."
    if is_fetch(request):
        # refused for every record: the first refusal's status (a hidden or unknown one: 404, as on its page)
        status = 200 if outcome.done else outcome.errors[0]["status"]
        return JsonResponse(
            {"message": summary, "done": outcome.done, "errors": outcome.errors}, status=status
        )
    (messages.success if outcome.done else messages.error)(request, summary)
    for refusal in outcome.errors[:10]:
        messages.error(request, f"{refusal['name']}: {refusal['message']}")
    return HttpResponseRedirect(back(request, default))


@member_required
@require_POST
def lead_bulk(request: HttpRequest) -> HttpResponse:
    """POST ids=…&action=… (+ owner, stage, tag or sequence): see `bulk_answer`."""
    default = reverse("web:leads")
    try:
        if not has_role(request.user, Role.REP):
            raise Forbidden("Your role (viewer) can look but not change anything.", code="read_only")
        ids = selected_ids(request)
        data = parse(BulkForm, request.POST)
    except AppError as error:
        return bulk_refused(request, error, default)
    actor = member(request)
    names = dict(lead_selectors.leads_visible_to(actor).filter(pk__in=ids).values_list("pk", "name"))
    outcome = bulk_apply(ids=ids, names=names, apply=lambda pk: _one(actor, pk, data))
    return bulk_answer(request, outcome=outcome, noun="lead", past=PAST[data["action"]], default=default)


def columns_save(request: HttpRequest, list_name: str, default: str) -> HttpResponse:
    """Save the columns the member shows in a list (theirs only, on every device; viewers too: it changes
    no record)."""
    try:
        columns = [value for value in request.POST.getlist("columns") if value]
        if len(columns) > len(selectors.offered_columns(list_name)):
            raise InvalidInput("columns", "Too many columns.")
        list_columns_set(member=member(request), list_name=list_name, columns=columns)
    except AppError as error:
        if is_fetch(request):
            return JsonResponse(error.as_body(), status=error.status_code)
        messages.error(request, error.message)
        return HttpResponseRedirect(back(request, default))
    if is_fetch(request):
        return JsonResponse({"message": "Columns saved."})
    messages.success(request, "Columns saved.")
    return HttpResponseRedirect(back(request, default))


@member_required
@require_POST
def lead_columns(request: HttpRequest) -> HttpResponse:
    return columns_save(request, "leads", reverse("web:leads"))


def trashed(records: QuerySet[Any]) -> list[Any]:
    """The deleted ones among `records` (already narrowed to what the member may see), most recently deleted
    first; a merged record is a tombstone of its survivor, not something to restore."""
    deleted = records.filter(deleted_at__isnull=False, merged_into__isnull=True)
    return list(deleted.order_by("-deleted_at", "-id")[:TRASH_SHOWN])


@member_required
@require_GET
def lead_trash(request: HttpRequest) -> HttpResponse:
    actor = member(request)
    context = {
        "leads": trashed(lead_selectors.leads_visible_to(actor).select_related("owner")),
        "shown": TRASH_SHOWN,
        "can_write": has_role(actor, Role.REP),
        "members": list(selectors.members()),
        "nav": "leads",
    }
    return render(request, "web/lead_trash.html", context)


@action
def lead_restore(request: HttpRequest, lead_id: int) -> Done:
    lead_selectors.lead_for_write(actor=member(request), lead_id=lead_id)
    lead = lead_services.lead_restore(lead_id=lead_id, actor=member(request))
    return Done(f"{lead.name} restored.", back(request, reverse("web:lead-trash")))
