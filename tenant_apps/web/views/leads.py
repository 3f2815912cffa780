"""Leads: the list (filters, search, segments, presets), one lead's page and the writes on it."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, F, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.activities import selectors as activity_selectors
from tenant_apps.activities import services as activity_services
from tenant_apps.activities.models import ActivityType, Note
from tenant_apps.leads import selectors as lead_selectors
from tenant_apps.leads import services as lead_services
from tenant_apps.leads.conversion import CONVERTIBLE_STAGES
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.opportunities.stage_labels import lead_stage_labels
from tenant_apps.records import visibility
from tenant_apps.records.selectors import merged_into
from tenant_apps.search.selectors import search
from tenant_apps.segments import selectors as segment_selectors
from tenant_apps.segments.models import RecordType
from tenant_apps.sequences import selectors as sequence_selectors
from tenant_apps.tasks import services as task_services
from tenant_apps.web import custom_values, selectors
from tenant_apps.web.forms import (
    LEAD_SORTS,
    AssignForm,
    CallForm,
    LeadCreateForm,
    LeadFilterForm,
    LeadForm,
    MoveForm,
    NoteForm,
    TaskForm,
)
from tenant_apps.web.record_forms import COMPOSER_TYPES, INLINE, LeadCustomForm
from tenant_apps.web.views.base import (
    Done,
    action,
    back,
    form_problem,
    is_fetch,
    member,
    member_required,
    not_found,
    parse,
    timeline_fragment,
    timeline_of,
    timeline_page,
    valid,
    visible_tasks,
)
from tenant_apps.web.views.tables import kept, numbered_page, sort_choices, sort_head


def _lead_filters(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "stage": [data["stage"]] if data.get("stage") else None,
        "owner": data.get("owner"),
        "source": [data["source"]] if data.get("source") else None,
        "tag": data.get("tag") or None,
    }


@member_required
@require_GET
def lead_list(request: HttpRequest) -> HttpResponse:
    """Filters, a search box (full-text and fuzzy, through the search selector), saved segments and presets;
    newest first, a page at a time."""
    actor = member(request)
    form = LeadFilterForm(request.GET)
    data: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    leads: QuerySet[Lead] = lead_selectors.lead_list(actor=actor, filters=_lead_filters(data))
    segment = preset = None
    problem = ""
    try:
        if data.get("segment"):
            segment = segment_selectors.segment_get(actor=actor, segment_id=data["segment"])
            if segment.record_type != RecordType.LEAD:
                raise InvalidInput("segment", "This segment is not about leads.")
            matching = segment_selectors.segment_results(segment=segment, actor=actor)
            leads = leads.filter(pk__in=matching.values("pk"))
        elif data.get("preset"):
            preset = segment_selectors.preset_get(key=data["preset"])
            if preset.record_type != RecordType.LEAD:
                raise InvalidInput("preset", "This preset is not about leads.")
            leads = leads.filter(
                pk__in=segment_selectors.preset_results(preset=preset, actor=actor).values("pk")
            )
        rows, next_url = _lead_rows(request, leads, data)
    except AppError as error:
        rows, next_url, problem = [], "", error.message
    columns = selectors.list_columns(actor=actor, list_name="leads")
    labels = column_labels()
    context = {
        "form": form,
        "new_custom": LeadCreateForm(auto_id="new-%s"),
        "rows": rows,
        "columns": [(key, labels[key]) for key in columns],
        "all_columns": [(key, labels[key], key in columns) for key in selectors.offered_columns("leads")],
        "sort": data.get("sort") or "",
        # search results are ranked: their header names the columns without sorting (nor echoing the text)
        "head": _head(request, ["name", *columns], data.get("sort") or "", sortable=not data.get("q")),
        "sort_choices": sort_choices(["name", *columns], COLUMN_LABELS, LEAD_SORTS),
        "keep": kept(request, form.fields),
        "sequences": list(
            sequence_selectors.sequence_list().select_related(None).only("id", "name").order_by("name")[:100]
        ),
        "filtered": any(data.get(key) for key in ("q", "stage", "owner", "source", "tag")),
        "next_url": next_url,
        "problem": problem or form_problem(form),
        "segment": segment,
        "preset": preset,
        "segments": list(
            segment_selectors.segment_list(actor=actor, filters={"record_type": RecordType.LEAD})
        ),
        "presets": [p for p in segment_selectors.PRESETS.values() if p.record_type == RecordType.LEAD],
        "members": list(selectors.members()),
        "can_write": has_role(actor, Role.REP),
        "stages": Stage.choices,
        "nav": "leads",
    }
    return render(request, "web/lead_list.html", context)


def _lead_rows(request: HttpRequest, leads: QuerySet[Lead], data: dict[str, Any]) -> tuple[list[Lead], str]:
    """A page of leads and the next page's URL: search results by rank when there is a search text (the
    search selector's pages), else newest first by cursor."""
    query = request.GET.copy()
    if data.get("q"):
        page = data.get("page") or 1
        filters = {
            key: value for key, value in _lead_filters(data).items() if key in ("stage", "owner", "tag")
        }
        found = search(
            actor=member(request),
            q=data["q"],
            types=["lead"],
            filters=filters,
            page=page,
            page_size=selectors.PAGE_SIZE,
        )
        ids = [hit["id"] for hit in found["results"]]
        by_id = leads.in_bulk(ids)
        rows = [by_id[record_id] for record_id in ids if record_id in by_id]
        query["page"] = str(page + 1)
        return rows, f"?{query.urlencode()}" if found["has_more"] else ""
    if data.get("sort"):
        return _sorted_rows(request, leads, data["sort"], data.get("page") or 1)
    result = selectors.keyset_page(leads, cursor=data.get("cursor"))
    if result.next_cursor is None:
        return result.rows, ""
    query["cursor"] = result.next_cursor
    return result.rows, f"?{query.urlencode()}"


COLUMN_LABELS = {
    "name": "Name",
    "company": "Company",
    "stage": "Stage",
    "value": "Value",
    "owner": "Owner",
    "source": "Source",
    "tags": "Tags",
    "email": "Email",
    "phone": "Phone",
    "created_at": "Created",
    "stage_changed_at": "In stage since",
    "last_contacted_at": "Last contacted",
}


def column_labels() -> dict[str, str]:
    """Every column's heading: the lead's own, and its custom fields' labels."""
    return {**COLUMN_LABELS, **dict(custom_values.column_choices("lead"))}


STAGE_ORDER = Case(
    *(When(stage=stage, then=Value(index)) for index, stage in enumerate(Stage.values)),
    output_field=IntegerField(),
)


def _sorted_rows(request: HttpRequest, leads: QuerySet[Lead], sort: str, page: int) -> tuple[list[Lead], str]:
    """A page of leads in the chosen column's order (id breaks ties), by page number."""
    descending, key = sort.startswith("-"), sort.lstrip("-")
    expression = STAGE_ORDER if key == "stage" else F("owner__full_name" if key == "owner" else key)
    ordering = [
        expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True),
        "-id" if descending else "id",
    ]
    return numbered_page(request, leads, ordering, page)


def _head(
    request: HttpRequest, keys: list[str], sort: str, *, sortable: bool = True
) -> list[tuple[str, str, str, str]]:
    return sort_head(request, keys, column_labels(), LEAD_SORTS, sort, sortable=sortable)


def _sees_lead(request: HttpRequest, lead_id: int) -> bool:
    return lead_selectors.leads_visible_to(member(request)).filter(pk=lead_id).exists()


def _lead_or_survivor(request: HttpRequest, lead_id: int) -> Lead | HttpResponse:
    try:
        return lead_selectors.lead_get(lead_id=lead_id, actor=member(request))
    except LeadNotFound:
        survivor_id = merged_into(model=Lead, record_id=lead_id)
        if survivor_id is not None and _sees_lead(request, survivor_id):
            return redirect("web:lead", lead_id=survivor_id)
        return not_found(request, "lead")


@member_required
@require_GET
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = _lead_or_survivor(request, lead_id)
    if isinstance(lead, HttpResponse):
        return lead
    actor = member(request)
    try:
        timeline = timeline_page(timeline_of(actor, lead), request.GET.get("cursor"))
    except InvalidInput:
        timeline = selectors.keyset_page(timeline_of(actor, lead), cursor=None, at="occurred_at")
    context = {
        "lead": lead,
        "timeline": timeline,
        "timeline_url": reverse("web:lead-timeline", args=[lead.pk]),
        # a converted lead left the pipeline: its last stage's time stops at the conversion
        "history": lead_selectors.stage_history(lead=lead, now=lead.converted_at),
        "notes": Note.objects.filter(lead=lead).select_related("author").order_by("-created_at", "-id")[:20],
        "threads": activity_selectors.email_threads(lead=lead)[0],  # the latest threads
        "tasks": visible_tasks(actor, {"lead": lead.pk}).order_by(
            "status", F("due_at").asc(nulls_last=True), "id"
        )[:50],
        "members": list(selectors.members()),
        "can_write": has_role(actor, Role.REP),
        "forward": selectors.forward_stage(lead.stage),
        "destinations": (
            selectors.conversion_destinations(actor=actor, lead=lead) if lead.converted_at else []
        ),
        "stage_labels": lead_stage_labels(),
        "edit": LeadForm(
            initial={
                "name": lead.name,
                "company": lead.company,
                "email": lead.email,
                "phone": lead.phone,
                "source": lead.source,
                "value": lead.value,
                "currency": lead.currency,
                "tags": ", ".join(lead.tags),
                **custom_values.initial("lead", lead),
            }
        ),
        "custom": custom_values.shown("lead", lead),
        # every custom field with its input, for the in-place editor of those who may change the lead
        "custom_inputs": custom_values.editable("lead", lead) if visibility.can_change(actor, lead) else None,
        "task_form": TaskForm(),
        "composer_types": COMPOSER_TYPES,
        "convertible": lead.stage in CONVERTIBLE_STAGES,
        "nav": "leads",
    }
    return render(request, "web/lead_detail.html", context)


@member_required
@require_GET
def lead_timeline(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The next page of a lead's timeline as list items (the page's "More" appends them)."""
    actor = member(request)
    try:
        lead = lead_selectors.lead_get(lead_id=lead_id, actor=actor)
    except LeadNotFound:
        return not_found(request, "lead")
    return timeline_fragment(request, timeline_of(actor, lead), reverse("web:lead-timeline", args=[lead.pk]))


def _writable_lead(request: HttpRequest, lead_id: int) -> Lead:
    return lead_selectors.lead_for_write(actor=member(request), lead_id=lead_id)


def _lead_done(request: HttpRequest, lead_id: int, message: str) -> Done:
    """After a change: back where the form was, with the list row re-rendered for scripts that asked."""
    html = ""
    if is_fetch(request) and request.POST.get("fragment") == "row":
        lead = lead_selectors.lead_get(lead_id=lead_id, actor=member(request))
        html = render_to_string("web/_lead_row.html", _row_context(request, lead), request=request)
    return Done(message, back(request, reverse("web:lead", args=[lead_id])), html)


def _row_context(request: HttpRequest, lead: Lead) -> dict[str, Any]:
    columns = selectors.list_columns(actor=member(request), list_name="leads")
    labels = column_labels()
    return {
        "lead": lead,
        "columns": [(key, labels[key]) for key in columns],
        "members": list(selectors.members()),
        "can_write": has_role(request.user, Role.REP),
        "next": request.POST.get("next") or reverse("web:leads"),
    }


@action
def lead_create(request: HttpRequest) -> Done:
    form = valid(LeadCreateForm, request.POST)
    try:
        lead = lead_services.lead_create(
            actor=member(request), allow_duplicate=form.cleaned_data["allow_duplicate"], **form.changes()
        )
    except InvalidInput as error:
        raise custom_values.labelled("lead", error) from None
    # back to the board when its "+ add" asked (its `next`), else the new lead's page
    return Done(f"Lead {lead.name} created.", back(request, reverse("web:lead", args=[lead.pk])))


@action
def lead_edit(request: HttpRequest, lead_id: int) -> Done:
    """The lead page's Edit form; a script's post naming one custom field (`inline=custom.<key>`: the page's
    in-place editor) changes that field alone and answers with its text."""
    if is_fetch(request) and str(request.POST.get(INLINE, "")).startswith(custom_values.PREFIX):
        return _lead_custom_edit(request, lead_id)
    form = valid(LeadForm, request.POST)
    _writable_lead(request, lead_id)
    try:
        lead = lead_services.lead_update(
            lead_id=lead_id,
            actor=member(request),
            allow_duplicate=form.cleaned_data["allow_duplicate"],
            changes=form.changes(),
        )
    except InvalidInput as error:
        raise custom_values.labelled("lead", error) from None
    return _lead_done(request, lead.pk, "Saved.")


def _lead_custom_edit(request: HttpRequest, lead_id: int) -> Done:
    form = valid(LeadCustomForm, request.POST)  # the posted field alone; a bad value named by its label
    _writable_lead(request, lead_id)
    try:
        lead = lead_services.lead_update(lead_id=lead_id, actor=member(request), changes=form.changes())
    except InvalidInput as error:
        raise custom_values.labelled("lead", error) from None
    done = _lead_done(request, lead.pk, "Saved.")
    done.fields = custom_values.texts("lead", lead)
    return done


@action
def lead_move(request: HttpRequest, lead_id: int) -> Done:
    data = parse(MoveForm, request.POST)
    _writable_lead(request, lead_id)
    lead = lead_services.lead_transition(
        lead_id=lead_id, to_stage=data["stage"], actor=member(request), reason=data["reason"]
    )
    return _lead_done(request, lead.pk, f"{lead.name} moved to {Stage(lead.stage).label}.")


@action
def lead_note(request: HttpRequest, lead_id: int) -> Done:
    data = parse(NoteForm, request.POST)
    _writable_lead(request, lead_id)
    lead_services.note_create(lead_id=lead_id, actor=member(request), body=data["body"])
    return _lead_done(request, lead_id, "Note added.")


@action
def lead_call(request: HttpRequest, lead_id: int) -> Done:
    data = parse(CallForm, request.POST)
    _writable_lead(request, lead_id)
    activity_services.activity_log(
        actor=member(request),
        type=ActivityType.CALL,
        lead_id=lead_id,
        subject=data["subject"] or "Call",
        body=data["body"],
    )
    return _lead_done(request, lead_id, "Call logged.")


@action
def lead_assign(request: HttpRequest, lead_id: int) -> Done:
    data = parse(AssignForm, request.POST)
    _writable_lead(request, lead_id)
    lead = lead_services.lead_update(
        lead_id=lead_id, actor=member(request), changes={"owner_id": data["owner"]}
    )
    return _lead_done(
        request, lead_id, f"{lead.name} assigned." if lead.owner_id else f"{lead.name} unassigned."
    )


@action
def lead_task(request: HttpRequest, lead_id: int) -> Done:
    data = parse(TaskForm, request.POST)
    _writable_lead(request, lead_id)
    task_services.task_create(
        actor=member(request), title=data["title"], due_at=data["due_at"], lead_id=lead_id
    )
    return _lead_done(request, lead_id, "Task added.")
