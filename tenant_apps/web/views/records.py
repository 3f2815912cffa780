"""Accounts, contacts and opportunities: lists, detail pages, timelines and notes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from shared_apps.core.errors import AppError, Forbidden, NotFound
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role, User
from tenant_apps.accounts import selectors as account_selectors
from tenant_apps.accounts import services as account_services
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Note
from tenant_apps.contacts import selectors as contact_selectors
from tenant_apps.contacts import services as contact_services
from tenant_apps.contacts.models import Contact
from tenant_apps.opportunities import selectors as opportunity_selectors
from tenant_apps.opportunities import services as opportunity_services
from tenant_apps.opportunities.exceptions import OpportunityNotFound
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.records import visibility
from tenant_apps.records.selectors import merged_into
from tenant_apps.search.selectors import search
from tenant_apps.web import custom_values, selectors
from tenant_apps.web.forms import NoteForm, RecordFilterForm
from tenant_apps.web.record_forms import COMPOSER_TYPES
from tenant_apps.web.views.base import (
    Done,
    action,
    back,
    form_problem,
    member,
    member_required,
    not_found,
    parse,
    timeline_fragment,
    timeline_of,
    timeline_page,
    visible_tasks,
)

RECORD_TYPES = {"accounts": "account", "contacts": "contact", "opportunities": "opportunity"}


@dataclass(frozen=True)
class Kind:
    """What the list/detail pages of one record type need."""

    name: str  # the search type and the anchor field name
    label: str
    plural: str
    model: type[Any]
    listing: Callable[..., QuerySet[Any]]
    getter: Callable[[User, int, bool], Any]  # (actor, id, for a write): through the visibility policy
    note_add: Callable[..., Any]
    filters: tuple[str, ...]  # RecordFilterForm fields this type uses


def _opportunity(actor: User, opportunity_id: int, write: bool) -> Opportunity:
    """An opportunity the member may see (else 404, its existence not revealed) and, to change it, one the
    visibility policy lets them change (else 403): the API's rule."""
    opportunity = opportunity_selectors.opportunity_get(opportunity_id=opportunity_id)
    if not visibility.can_see(actor, opportunity):
        raise OpportunityNotFound(id=opportunity_id)
    if write and not visibility.can_change(actor, opportunity):
        raise Forbidden("Reps change only the opportunities they own.", code="not_your_opportunity")
    return opportunity


def opportunity_for_change(actor: User, opportunity_id: int, *, include_deleted: bool = False) -> Opportunity:
    """A deal (a deleted one too with `include_deleted`: the trash's restore) the visibility policy lets the
    member see (else 404) and change (else 403)."""
    deals = visibility.opportunities_for(actor).filter(pk=opportunity_id, merged_into__isnull=True)
    found = deals.first() if include_deleted else deals.filter(deleted_at__isnull=True).first()
    if found is None:
        raise OpportunityNotFound(id=opportunity_id)
    if not visibility.can_change(actor, found):
        raise Forbidden("Reps change only the opportunities they own.", code="not_your_opportunity")
    return found


KINDS: dict[str, Kind] = {
    "accounts": Kind(
        "account",
        "Account",
        "Accounts",
        Account,
        account_selectors.account_list,
        lambda actor, pk, write: account_selectors.account_get(account_id=pk),  # every member's
        lambda pk, actor, body: account_services.account_note_add(account_id=pk, actor=actor, body=body),
        ("owner", "status"),
    ),
    "contacts": Kind(
        "contact",
        "Contact",
        "Contacts",
        Contact,
        contact_selectors.contact_list,
        lambda actor, pk, write: contact_selectors.contact_get(contact_id=pk),  # every member's
        lambda pk, actor, body: contact_services.contact_note_add(contact_id=pk, actor=actor, body=body),
        ("owner",),
    ),
    "opportunities": Kind(
        "opportunity",
        "Opportunity",
        "Opportunities",
        Opportunity,
        opportunity_selectors.opportunity_list,
        _opportunity,
        lambda pk, actor, body: opportunity_services.opportunity_note_add(
            opportunity_id=pk, actor=actor, body=body
        ),
        ("owner", "stage"),
    ),
}


@member_required
@require_GET
def record_list(request: HttpRequest, kind: str) -> HttpResponse:
    spec, actor = KINDS[kind], member(request)
    form = RecordFilterForm(request.GET)
    data: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    filters: dict[str, Any] = {"owner": data.get("owner") or None}
    if "status" in spec.filters and data.get("status"):
        filters["status"] = [data["status"]]
    if "stage" in spec.filters and data.get("stage"):
        filters["stage"] = [data["stage"]]
    records = spec.listing(actor=actor, filters=filters)
    rows: list[Any] = []
    next_url, problem = "", form_problem(form)
    try:
        if data.get("q"):
            found = search(actor=actor, q=data["q"], types=[spec.name], filters={}, page=1, page_size=50)
            by_id = records.in_bulk([hit["id"] for hit in found["results"]])
            rows = [by_id[hit["id"]] for hit in found["results"] if hit["id"] in by_id]
        else:
            page = selectors.keyset_page(records, cursor=data.get("cursor"))
            rows = page.rows
            if page.next_cursor:
                query = request.GET.copy()
                query["cursor"] = page.next_cursor
                next_url = f"?{query.urlencode()}"
    except AppError as error:
        problem = error.message
    context = {
        "kind": kind,
        "spec": spec,
        "form": form,
        "rows": rows,
        "next_url": next_url,
        "problem": problem,
        "can_write": has_role(actor, Role.REP),
        "nav": kind,
    }
    return render(request, f"web/{spec.name}_list.html", context)


@member_required
@require_GET
def record_detail(request: HttpRequest, kind: str, record_id: int) -> HttpResponse:
    spec, actor = KINDS[kind], member(request)
    try:
        record = spec.getter(actor, record_id, False)
    except NotFound:
        survivor_id = merged_into(model=spec.model, record_id=record_id) if kind != "opportunities" else None
        if survivor_id is not None:
            return redirect("web:record", kind=kind, record_id=survivor_id)
        return not_found(request, spec.label.lower())
    url = reverse("web:record-timeline", args=[kind, record.pk])
    context: dict[str, Any] = {
        "kind": kind,
        "spec": spec,
        "record": record,
        "timeline": timeline_page(timeline_of(actor, record), None),
        "timeline_url": url,
        "notes": Note.objects.filter(**{spec.name: record})
        .select_related("author")
        .order_by("-created_at", "-id")[:20],
        "tasks": visible_tasks(actor, {spec.name: record.pk}).order_by(
            "status", F("due_at").asc(nulls_last=True), "id"
        )[:50],
        "can_write": has_role(actor, Role.REP),
        "can_change": has_role(actor, Role.REP) and visibility.can_change(actor, record),
        "composer_types": COMPOSER_TYPES,
        "send_url": reverse("web:contact-email-send", args=[record.pk]) if kind == "contacts" else "",
        "send_to": getattr(record, "email", ""),
        "nav": kind,
        "custom": custom_values.shown(RECORD_TYPES[kind], record),
    }
    if context["can_change"]:  # every field, with its input for the in-place editor
        context["custom_inputs"] = custom_values.editable(RECORD_TYPES[kind], record)
    if kind == "accounts":
        context["contacts"] = contact_selectors.contact_list(actor=actor, filters={"account": record.pk})[:50]
        context["opportunities"] = opportunity_selectors.opportunity_list(
            actor=actor, filters={"account": record.pk}
        )[:50]
        context["status_history"] = account_selectors.account_status_history(account=record).order_by("-at")[
            :20
        ]
    return render(request, f"web/{spec.name}_detail.html", context)


@member_required
@require_GET
def record_timeline(request: HttpRequest, kind: str, record_id: int) -> HttpResponse:
    spec, actor = KINDS[kind], member(request)
    try:
        record = spec.getter(actor, record_id, False)
    except NotFound:
        return not_found(request, spec.label.lower())
    url = reverse("web:record-timeline", args=[kind, record.pk])
    return timeline_fragment(request, timeline_of(actor, record), url)


@action
def record_note(request: HttpRequest, kind: str, record_id: int) -> Done:
    spec = KINDS[kind]
    data = parse(NoteForm, request.POST)
    spec.getter(member(request), record_id, True)
    spec.note_add(record_id, member(request), data["body"])
    return Done("Note added.", back(request, reverse("web:record", args=[kind, record_id])))
