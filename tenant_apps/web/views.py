"""The members' pages. Thin like the API views: parse with a form, call a selector or a service, render.

Every page needs a signed-in member of the organization being served (sessions live in that organization's
schema, so another organization's session is unknown here). Writes need the rep role or higher, and on leads
the same ownership rule as the API (selectors.lead_for_write). A write answers a plain form post with a
redirect and a flash message, and a script's post (header `X-Requested-With: fetch`) with JSON: the message,
and the re-rendered row or card when one was asked for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import redirect_to_login
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shared_apps.core.errors import AppError, Forbidden, InvalidInput, NotFound
from shared_apps.http.permissions import has_role
from shared_apps.http.throttling import sign_in_wait
from shared_apps.users.models import Role, User
from tenant_apps.accounts import selectors as account_selectors
from tenant_apps.accounts import services as account_services
from tenant_apps.accounts.models import Account
from tenant_apps.activities import selectors as activity_selectors
from tenant_apps.activities import services as activity_services
from tenant_apps.activities.models import ActivityType, Note
from tenant_apps.contacts import selectors as contact_selectors
from tenant_apps.contacts import services as contact_services
from tenant_apps.contacts.models import Contact
from tenant_apps.imports import selectors as import_selectors
from tenant_apps.imports import services as import_services
from tenant_apps.leads import selectors as lead_selectors
from tenant_apps.leads import services as lead_services
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.leads.models import TRANSITIONS, Lead, Stage
from tenant_apps.opportunities import selectors as opportunity_selectors
from tenant_apps.opportunities import services as opportunity_services
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.records.selectors import merged_into
from tenant_apps.search.selectors import search
from tenant_apps.segments import selectors as segment_selectors
from tenant_apps.segments.models import RecordType
from tenant_apps.tasks import selectors as task_selectors
from tenant_apps.tasks import services as task_services
from tenant_apps.tasks.models import TaskStatus
from tenant_apps.web import charts, selectors
from tenant_apps.web.forms import (
    AssignForm,
    CallForm,
    ImportForm,
    LeadCreateForm,
    LeadFilterForm,
    LeadForm,
    MoveForm,
    NoteForm,
    RecordFilterForm,
    SignInForm,
    TaskFilterForm,
    TaskForm,
)

TIMELINE_PAGE = 20
View = Callable[..., HttpResponse]


# ---- plumbing ------------------------------------------------------------------------------------------


def member_required(view: View) -> View:
    """A signed-in member of this organization, else the sign-in page (which comes back here); a script's
    request gets a 401 instead, so a page whose session ended can send its reader to sign in again."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if is_fetch(request):
                return JsonResponse(
                    {"code": "not_authenticated", "message": "Your session has ended: sign in again."},
                    status=401,
                )
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def member(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def currency(request: HttpRequest) -> str:
    return str(getattr(request.tenant, "default_currency", "") or "USD")  # type: ignore[attr-defined]


def is_fetch(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _local(request: HttpRequest, target: str) -> bool:
    return bool(target) and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})


def back(request: HttpRequest, default: str) -> str:
    """Where a form post returns to: its `next` field, else `default`, whichever is a URL of this host."""
    for target in (request.POST.get("next") or "", default):
        if _local(request, target):
            return target
    return "/"


def valid(form_class: type[forms.Form], data: Any) -> Any:
    """A bound, valid form; the first invalid field is an InvalidInput naming it (shown like a service's
    validation errors)."""
    form = form_class(data)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        raise InvalidInput(field, f"{field.replace('_', ' ').capitalize()}: {errors[0]}")
    return form


def parse(form_class: type[forms.Form], data: Any) -> dict[str, Any]:
    return dict(valid(form_class, data).cleaned_data)


@dataclass
class Done:
    message: str
    location: str
    html: str = ""


def action(view: Callable[..., Done]) -> View:
    """A POST that changes something, for members of the rep role or higher. Domain errors come back as the
    flash message (or JSON with the error's status for scripts), never as a 500."""

    @member_required
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            if not has_role(request.user, Role.REP):
                raise Forbidden("Your role (viewer) can look but not change anything.", code="read_only")
            done = view(request, *args, **kwargs)
        except AppError as error:
            if is_fetch(request):
                return JsonResponse({"code": error.code, "message": error.message}, status=error.status_code)
            messages.error(request, error.message)
            return HttpResponseRedirect(back(request, request.headers.get("Referer") or "/"))
        if is_fetch(request):
            return JsonResponse({"message": done.message, "html": done.html})
        messages.success(request, done.message)
        return HttpResponseRedirect(done.location)

    return wrapper


def not_found(request: HttpRequest, what: str) -> HttpResponse:
    return render(request, "web/not_found.html", {"what": what}, status=404)


# ---- sign-in -------------------------------------------------------------------------------------------


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if _local(request, target) else "/"


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Email and password of a member of this organization (users exist per organization's schema)."""
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(_safe_next(request))
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST":
        wait = sign_in_wait(request, request.POST.get("email"))  # the API's counters: attempts add up
        if wait is not None:
            form.add_error(None, f"Too many attempts. Try again in {int(wait)} seconds.")
            status = 429
        elif form.is_valid():
            user = authenticate(
                request, username=form.cleaned_data["email"], password=form.cleaned_data["password"]
            )
            if user is not None and user.is_active:
                login(request, user)
                return redirect(_safe_next(request))
            form.add_error(None, "Email or password is wrong, or the account is inactive.")
            status = 400
        else:
            status = 400
    context = {"form": form, "next": _safe_next(request), "organization": request.tenant}  # type: ignore[attr-defined]
    return render(request, "web/sign_in.html", context, status=status)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("web:sign-in")


@member_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(member(request), request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)  # stay signed in here; other sessions end
        messages.success(request, "Your password was changed.")
        return redirect("web:dashboard")
    return render(request, "web/password.html", {"form": form}, status=400 if form.errors else 200)


# ---- dashboard -----------------------------------------------------------------------------------------


@member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    actor, default = member(request), currency(request)
    summary = selectors.stage_summary(actor=actor, default_currency=default)
    pipeline = charts.bar_chart(
        "Pipeline value by stage",
        [
            (
                column.label,
                column.totals.get(default, 0),
                _bar_text(column, default),
                column.stage,
            )
            for column in summary.values()
        ],
    )
    conversion = selectors.conversion(actor=actor)
    funnel = charts.bar_chart(
        f"Conversion by step, last {conversion.days} days",
        [
            (
                f"{Stage(step.from_stage).label} → {Stage(step.to_stage).label}",
                step.rate or 0,
                f"{round((step.rate or 0) * 100)}% of {step.exits}",
                "step",
            )
            for step in conversion.steps
        ],
        label_width=190,
        value_room=110,
    )
    weeks = selectors.weekly_trend(actor=actor)
    trend = charts.line_chart(
        "Leads created and won per week",
        [week.start.strftime("%b %d") for week in weeks],
        [
            ("Created", "created", [week.created for week in weeks]),
            ("Won", "won", [week.won for week in weeks]),
        ],
    )
    open_columns = [column for stage, column in summary.items() if stage not in (Stage.WON, Stage.LOST)]
    context = {
        "pipeline": pipeline,
        "funnel": funnel,
        "trend": trend,
        "conversion": conversion,
        "open_count": sum(column.count for column in open_columns),
        "open_total": selectors.totals_text(_add_totals(open_columns), default),
        "overdue": selectors.overdue_tasks(actor=actor),
        "nav": "dashboard",
    }
    return render(request, "web/dashboard.html", context)


def _bar_text(column: selectors.Column, default: str) -> str:
    """The bar measures the organization's currency; amounts in others are only mentioned (never added)."""
    others = sum(1 for code, amount in column.totals.items() if code != default and amount)
    text = f"{selectors.money(column.totals.get(default, 0), default)} · {column.count}"
    return f"{text} (+{others} other currenc{'y' if others == 1 else 'ies'})" if others else text


def _add_totals(columns: list[selectors.Column]) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for column in columns:
        for code, amount in column.totals.items():
            totals[code] = totals.get(code, 0) + amount
    return totals


# ---- pipeline ------------------------------------------------------------------------------------------


@member_required
@require_GET
def pipeline(request: HttpRequest) -> HttpResponse:
    columns = selectors.board(actor=member(request), default_currency=currency(request))
    context = {
        "columns": columns,
        "transitions": {stage: list(targets) for stage, targets in TRANSITIONS.items()},
        "stage_labels": dict(Stage.choices),
        "can_write": has_role(request.user, Role.REP),
        "nav": "pipeline",
        "wide": True,
    }
    return render(request, "web/pipeline.html", context)


@member_required
@require_GET
def pipeline_card(request: HttpRequest, lead_id: int) -> HttpResponse:
    """One card, as the board shows it (live updates fetch it); 404 once the member cannot see it."""
    try:
        lead = lead_selectors.lead_get(lead_id=lead_id, actor=member(request))
    except LeadNotFound:
        return HttpResponse(status=404)
    context = {
        "lead": lead,
        "can_write": has_role(request.user, Role.REP),
        "stage_labels": dict(Stage.choices),
    }
    return render(request, "web/_card.html", context)


@member_required
@require_GET
def pipeline_summary(request: HttpRequest) -> JsonResponse:
    summary = selectors.stage_summary(actor=member(request), default_currency=currency(request))
    return JsonResponse(
        {stage: {"count": column.count, "total": column.total_text} for stage, column in summary.items()}
    )


# ---- leads ---------------------------------------------------------------------------------------------


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
    context = {
        "form": form,
        "rows": rows,
        "next_url": next_url,
        "problem": problem or _form_problem(form),
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


def _form_problem(form: forms.Form) -> str:
    if form.is_valid():
        return ""
    field, errors = next(iter(form.errors.items()))
    return f"{field.capitalize()}: {errors[0]}"


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
    result = selectors.keyset_page(leads, cursor=data.get("cursor"))
    if result.next_cursor is None:
        return result.rows, ""
    query["cursor"] = result.next_cursor
    return result.rows, f"?{query.urlencode()}"


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
        timeline = selectors.keyset_page(
            _timeline(actor, lead), cursor=request.GET.get("cursor"), size=TIMELINE_PAGE
        )
    except InvalidInput:
        timeline = selectors.keyset_page(_timeline(actor, lead), cursor=None)
    context = {
        "lead": lead,
        "timeline": timeline,
        "timeline_url": reverse("web:lead-timeline", args=[lead.pk]),
        "history": lead_selectors.stage_history(lead=lead),
        "notes": Note.objects.filter(lead=lead).select_related("author").order_by("-created_at", "-id")[:20],
        "threads": activity_selectors.email_threads(lead=lead),
        "tasks": _tasks(actor, {"lead": lead.pk}).order_by("status", F("due_at").asc(nulls_last=True), "id")[
            :50
        ],
        "members": list(selectors.members()),
        "can_write": has_role(actor, Role.REP),
        "forward": selectors.forward_stage(lead.stage),
        "stage_labels": dict(Stage.choices),
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
            }
        ),
        "task_form": TaskForm(),
        "nav": "leads",
    }
    return render(request, "web/lead_detail.html", context)


def _timeline_fragment(request: HttpRequest, activities: QuerySet[Any], url: str) -> HttpResponse:
    try:
        timeline = selectors.keyset_page(activities, cursor=request.GET.get("cursor"), size=TIMELINE_PAGE)
    except InvalidInput as error:
        return HttpResponse(error.message, status=400, content_type="text/plain")
    return render(request, "web/_timeline_items.html", {"timeline": timeline, "timeline_url": url})


@member_required
@require_GET
def lead_timeline(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The next page of a lead's timeline as list items (the page's "More" appends them)."""
    actor = member(request)
    try:
        lead = lead_selectors.lead_get(lead_id=lead_id, actor=actor)
    except LeadNotFound:
        return not_found(request, "lead")
    return _timeline_fragment(request, _timeline(actor, lead), reverse("web:lead-timeline", args=[lead.pk]))


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
    return {
        "lead": lead,
        "members": list(selectors.members()),
        "can_write": has_role(request.user, Role.REP),
        "next": request.POST.get("next") or reverse("web:leads"),
    }


@action
def lead_create(request: HttpRequest) -> Done:
    form = valid(LeadCreateForm, request.POST)
    lead = lead_services.lead_create(
        actor=member(request), allow_duplicate=form.cleaned_data["allow_duplicate"], **form.changes()
    )
    return Done(f"Lead {lead.name} created.", reverse("web:lead", args=[lead.pk]))


@action
def lead_edit(request: HttpRequest, lead_id: int) -> Done:
    form = valid(LeadForm, request.POST)
    _writable_lead(request, lead_id)
    lead = lead_services.lead_update(lead_id=lead_id, actor=member(request), changes=form.changes())
    return _lead_done(request, lead.pk, "Saved.")


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


def _tasks(actor: User, filters: dict[str, Any]) -> QuerySet[Any]:
    return selectors.on_visible_records(task_selectors.task_list(actor=actor, filters=filters), actor=actor)


def _timeline(actor: User, record: Any) -> QuerySet[Any]:
    """A record's timeline; an account's or contact's roll-up without the activities of hidden leads and
    deals."""
    return selectors.on_visible_records(activity_selectors.activity_list(record=record), actor=actor)


# ---- accounts, contacts, opportunities -----------------------------------------------------------------


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
        lambda actor, pk, write: selectors.opportunity_for(actor=actor, opportunity_id=pk, write=write),
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
    next_url, problem = "", _form_problem(form)
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
        "timeline": selectors.keyset_page(_timeline(actor, record), cursor=None, size=TIMELINE_PAGE),
        "timeline_url": url,
        "notes": Note.objects.filter(**{spec.name: record})
        .select_related("author")
        .order_by("-created_at", "-id")[:20],
        "tasks": _tasks(actor, {spec.name: record.pk}).order_by(
            "status", F("due_at").asc(nulls_last=True), "id"
        )[:50],
        "can_write": has_role(actor, Role.REP),
        "nav": kind,
    }
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
    return _timeline_fragment(request, _timeline(actor, record), url)


@action
def record_note(request: HttpRequest, kind: str, record_id: int) -> Done:
    spec = KINDS[kind]
    data = parse(NoteForm, request.POST)
    spec.getter(member(request), record_id, True)
    spec.note_add(record_id, member(request), data["body"])
    return Done("Note added.", back(request, reverse("web:record", args=[kind, record_id])))


# ---- tasks ---------------------------------------------------------------------------------------------


@member_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    """My tasks (or everyone's), open ones by due date first."""
    actor = member(request)
    form = TaskFilterForm(request.GET)
    data: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    filters: dict[str, Any] = {"assignee": "me" if data.get("mine", "1") != "0" else None}
    status = data.get("status") or ""
    if status == "overdue":
        filters["overdue"] = True
    elif status:
        filters["status"] = [status]
    tasks = _tasks(actor, filters)
    problem, next_url = _form_problem(form), ""
    try:
        page = selectors.keyset_page(tasks, cursor=data.get("cursor"), at="due_sort", descending=False)
    except InvalidInput as error:
        page, problem = selectors.Page([], None), error.message
    if page.next_cursor:
        query = request.GET.copy()
        query["cursor"] = page.next_cursor
        next_url = f"?{query.urlencode()}"
    context = {
        "form": form,
        "tasks": page.rows,
        "next_url": next_url,
        "problem": problem,
        "can_write": has_role(actor, Role.REP),
        "nav": "tasks",
    }
    return render(request, "web/task_list.html", context)


@action
def task_status(request: HttpRequest, task_id: int, to_status: str) -> Done:
    selectors.task_for_write(actor=member(request), task_id=task_id)
    task = task_services.task_transition(task_id=task_id, to_status=to_status, actor=member(request))
    verb = {TaskStatus.DONE: "completed", TaskStatus.OPEN: "reopened", TaskStatus.CANCELLED: "cancelled"}
    return Done(f"Task {verb[TaskStatus(task.status)]}.", back(request, reverse("web:tasks")))


# ---- imports -------------------------------------------------------------------------------------------

IMPORTS_SHOWN = 20


@member_required
@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    """Recent imports with their progress (live from the stream's import.progress events, else polled) and
    their error files; an upload form. Managers and admins, as for the imports API."""
    if not has_role(request.user, Role.MANAGER):
        return render(
            request, "web/forbidden.html", {"what": "Imports are for managers and admins."}, status=403
        )
    runs = list(import_selectors.import_list().order_by("-created_at", "-id")[:IMPORTS_SHOWN])
    return render(request, "web/import_list.html", {"runs": runs, "form": ImportForm(), "nav": "imports"})


@member_required
@require_POST
def import_upload(request: HttpRequest) -> HttpResponse:
    """Upload a CSV file: the imports service stores it and queues the job (its errors come back as the
    flash message)."""
    try:
        if not has_role(request.user, Role.MANAGER):
            raise Forbidden("Imports are for managers and admins.", code="manager_only")
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise InvalidInput(field, f"{form.fields[field].label or field}: {errors[0]}")
        upload = form.cleaned_data["file"]
        run = import_services.import_create(
            actor=member(request),
            file=upload,
            file_name=upload.name or "",
            record_type=form.cleaned_data["record_type"],
            duplicate_policy=form.cleaned_data["duplicate_policy"],
            dry_run=form.cleaned_data["dry_run"],
        )
    except AppError as error:
        if is_fetch(request):  # a script gets the refusal's status, as from every other action
            return JsonResponse({"code": error.code, "message": error.message}, status=error.status_code)
        messages.error(request, error.message)
        return redirect("web:imports")
    messages.success(request, f"Import of {run.file_name or 'the file'} queued.")
    return redirect("web:imports")
