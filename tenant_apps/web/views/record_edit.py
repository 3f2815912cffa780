"""Creating and editing accounts, contacts, opportunities and tasks from their pages, converting a lead, and
the composer every record page has (log a call, meeting, note or email; send an email to a lead or contact).
The same services and visibility policy as the API; a service's InvalidInput shows under the field it names.

An edit posts to the same URL whether it is the full form (no script) or one field edited in place: only the
posted fields change. A script's post (`X-Requested-With: fetch`) gets JSON: the field's new text, or the
error naming the field with a 4xx."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from shared_apps.core.errors import AppError, Forbidden, NotFound
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role, User
from tenant_apps.accounts import services as account_services
from tenant_apps.activities import services as activity_services
from tenant_apps.activities.models import ActivityType
from tenant_apps.contacts import selectors as contact_selectors
from tenant_apps.contacts import services as contact_services
from tenant_apps.leads import selectors as lead_selectors
from tenant_apps.leads.conversion import CONVERTIBLE_STAGES, lead_convert
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.mail.outbound import email_send
from tenant_apps.opportunities import services as opportunity_services
from tenant_apps.records import visibility
from tenant_apps.tasks import selectors as task_selectors
from tenant_apps.tasks import services as task_services
from tenant_apps.web import custom_values
from tenant_apps.web.record_forms import (
    AccountForm,
    ComposerForm,
    ContactForm,
    ConvertForm,
    OpportunityForm,
    RecordForm,
    TaskEditForm,
)
from tenant_apps.web.views.base import Done, action, back, is_fetch, member, member_required, not_found, parse
from tenant_apps.web.views.lead_email import EmailSendForm
from tenant_apps.web.views.records import KINDS

TASK_ANCHORS = ("lead", "contact", "account", "opportunity")
ANCHOR_PAGES = {"contact": "contacts", "account": "accounts", "opportunity": "opportunities"}


def _forbidden(request: HttpRequest, what: str) -> HttpResponse:
    if is_fetch(request):
        return JsonResponse({"code": "forbidden", "message": what}, status=403)
    return render(request, "web/forbidden.html", {"what": what}, status=403)


def _writer(request: HttpRequest) -> User | None:
    actor = member(request)
    return actor if has_role(actor, Role.REP) else None


READ_ONLY = "Your role (viewer) can look but not change anything."


# ---- accounts, contacts, opportunities -----------------------------------------------------------------


FORMS: dict[str, type[RecordForm]] = {
    "accounts": AccountForm,
    "contacts": ContactForm,
    "opportunities": OpportunityForm,
}


def _form_class(kind: str) -> type[RecordForm]:
    return FORMS[kind]


def _make_form(kind: str, data: Any = None, **kwargs: Any) -> RecordForm:
    if kind == "accounts":
        kwargs.pop("account_id", None)
        kwargs.pop("editing", None)
    if kind == "contacts":
        kwargs.pop("editing", None)
    return _form_class(kind)(data, **kwargs)


def _create(kind: str, actor: User, form: RecordForm) -> Any:
    changes = form.changes()
    if kind == "accounts":
        return account_services.account_create(actor=actor, **changes)
    if kind == "contacts":
        return contact_services.contact_create(
            actor=actor, allow_duplicate=form.cleaned_data.get("allow_duplicate", False), **changes
        )
    return opportunity_services.opportunity_create(actor=actor, **changes)


def _update(kind: str, actor: User, record_id: int, form: RecordForm) -> Any:
    changes = form.changes()
    if kind == "accounts":
        return account_services.account_update(account_id=record_id, actor=actor, changes=changes)
    if kind == "contacts":
        return contact_services.contact_update(
            contact_id=record_id,
            actor=actor,
            changes=changes,
            allow_duplicate=form.cleaned_data.get("allow_duplicate", False),
        )
    return opportunity_services.opportunity_update(opportunity_id=record_id, actor=actor, changes=changes)


def _initial(kind: str, record: Any) -> dict[str, Any]:
    names = {
        "accounts": ("name", "domain", "industry", "size"),
        "contacts": ("name", "email", "phone", "title"),
        "opportunities": ("name", "amount", "currency", "probability", "expected_close_date"),
    }[kind]
    initial = {name: getattr(record, name) for name in names}
    initial["owner"] = str(record.owner_id or "")
    initial["tags"] = ", ".join(record.tags)
    if kind in ("contacts", "opportunities"):
        initial["account"] = str(record.account_id or "")
    initial.update(custom_values.initial(FORMS[kind].record_type, record))
    return initial


def _form_errors(form: forms.Form) -> dict[str, list[str]]:
    return {field or "__all__": [str(message) for message in errors] for field, errors in form.errors.items()}


def _query_id(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() and len(value) <= 18 else None


@member_required
@require_http_methods(["GET", "POST"])
def record_create(request: HttpRequest, kind: str) -> HttpResponse:
    """The new account/contact/opportunity page (`?account=<id>` preselects the account)."""
    spec, actor = KINDS[kind], _writer(request)
    if actor is None:
        return _forbidden(request, READ_ONLY)
    account_id = _query_id(request, "account")
    form = _make_form(
        kind,
        request.POST if request.method == "POST" else None,
        account_id=account_id,
        initial={"account": str(account_id or "")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            record = _create(kind, actor, form)
        except AppError as error:
            form.show_error(error)
        else:
            messages.success(request, f"{spec.label} {record.name} created.")
            return redirect("web:record", kind=kind, record_id=record.pk)
    context = {"kind": kind, "spec": spec, "form": form, "record": None, "nav": kind}
    return render(request, "web/record_form.html", context, status=400 if form.errors else 200)


@member_required
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, kind: str, record_id: int) -> HttpResponse:
    """The edit page; a post of some fields changes those (the page's in-place edits post one)."""
    spec, actor = KINDS[kind], member(request)
    try:
        record = spec.getter(actor, record_id, False)
        if not has_role(actor, Role.REP):
            raise Forbidden(READ_ONLY)
        if not visibility.can_change(actor, record):
            raise Forbidden(f"You may not change this {spec.label.lower()}.")
    except NotFound:
        if is_fetch(request):
            return JsonResponse({"code": "not_found", "message": "Not found."}, status=404)
        return not_found(request, spec.label.lower())
    except Forbidden as error:
        return _forbidden(request, error.message)
    posted = request.method == "POST"
    form = _make_form(
        kind,
        request.POST if posted else None,
        partial=posted and is_fetch(request),
        account_id=getattr(record, "account_id", None),
        editing=True,
        initial=_initial(kind, record),
    )
    if posted and form.is_valid():
        try:
            record = _update(kind, actor, record_id, form)
        except AppError as error:
            form.show_error(error)
        else:
            if is_fetch(request):
                return JsonResponse({"message": "Saved.", "fields": _shown(kind, record)})
            messages.success(request, "Saved.")
            return redirect("web:record", kind=kind, record_id=record_id)
    if posted and is_fetch(request):
        message = next(iter(_form_errors(form).values()))[0]
        return JsonResponse({"code": "invalid", "message": message, "errors": _form_errors(form)}, status=400)
    context = {"kind": kind, "spec": spec, "form": form, "record": record, "nav": kind}
    return render(request, "web/record_form.html", context, status=400 if form.errors else 200)


def _shown(kind: str, record: Any) -> dict[str, str]:
    """Each field's text as the page shows it, for the in-place editor to put back."""
    shown = {
        name: str(getattr(record, name) or "")
        for name in ("name", "domain", "industry", "size", "email", "phone", "title")
        if hasattr(record, name)
    }
    shown["tags"] = ", ".join(record.tags)
    shown.update(custom_values.texts(FORMS[kind].record_type, record))
    return shown


# ---- tasks ---------------------------------------------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def task_create(request: HttpRequest) -> HttpResponse:
    """A new task on one record (`?lead=`, `?contact=`, `?account=` or `?opportunity=`)."""
    actor = _writer(request)
    if actor is None:
        return _forbidden(request, READ_ONLY)
    anchors = {name: _query_id(request, name) for name in TASK_ANCHORS}
    present = [(name, value) for name, value in anchors.items() if value is not None]
    if len(present) != 1:
        return render(
            request,
            "web/not_found.html",
            {"what": "record (open New task from a lead, contact, account or opportunity page)"},
            status=404,
        )
    anchor, anchor_id = present[0]
    record = _visible_anchor(actor, anchor, anchor_id)
    if record is None:
        return not_found(request, anchor)
    form = TaskEditForm(
        request.POST if request.method == "POST" else None, initial={"assignee": str(actor.pk)}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task_services.task_create(
                actor=actor,
                title=data["title"],
                description=data["description"],
                due_at=data["due_at"],
                assignee_id=int(data["assignee"]) if data["assignee"] else None,
                **{f"{anchor}_id": anchor_id},
            )
        except AppError as error:
            form.show_error(error)
        else:
            messages.success(request, "Task added.")
            return redirect(_anchor_url(anchor, anchor_id))
    context = {"form": form, "task": None, "anchor": record, "anchor_url": _anchor_url(anchor, anchor_id)}
    return render(request, "web/task_form.html", context, status=400 if form.errors else 200)


def _visible_anchor(actor: User, anchor: str, anchor_id: int) -> Any:
    if anchor == "lead":
        return lead_selectors.leads_visible_to(actor).filter(pk=anchor_id).first()
    spec = KINDS[ANCHOR_PAGES[anchor]]
    try:
        return spec.getter(actor, anchor_id, False)
    except NotFound:
        return None


def _anchor_url(anchor: str, anchor_id: int) -> str:
    if anchor == "lead":
        return reverse("web:lead", args=[anchor_id])
    return reverse("web:record", args=[ANCHOR_PAGES[anchor], anchor_id])


@member_required
@require_http_methods(["GET", "POST"])
def task_edit(request: HttpRequest, task_id: int) -> HttpResponse:
    actor = member(request)
    try:
        task = task_selectors.task_get(task_id=task_id, actor=actor)
    except NotFound:
        return not_found(request, "task")
    if not has_role(actor, Role.REP) or not visibility.can_change(actor, task):
        return _forbidden(request, "You may not change this task.")
    initial = {
        "title": task.title,
        "description": task.description,
        "due_at": timezone.localtime(task.due_at) if task.due_at else None,
        "assignee": str(task.assignee_id or ""),
    }
    form = TaskEditForm(request.POST if request.method == "POST" else None, initial=initial)
    anchor = next(name for name in TASK_ANCHORS if getattr(task, f"{name}_id"))
    anchor_url = _anchor_url(anchor, getattr(task, f"{anchor}_id"))
    if request.method == "POST" and form.is_valid():
        try:
            task_services.task_update(task_id=task_id, actor=actor, changes=form.changes())
        except AppError as error:
            form.show_error(error)
        else:
            messages.success(request, "Task saved.")
            return redirect(back(request, anchor_url))
    context = {"form": form, "task": task, "anchor": getattr(task, anchor), "anchor_url": anchor_url}
    return render(request, "web/task_form.html", context, status=400 if form.errors else 200)


# ---- converting a lead ---------------------------------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def lead_convert_page(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Convert a qualified (or later) lead: an existing account or a new one, its contact, and optionally an
    opportunity (tenant_apps.leads.conversion.lead_convert, as the API's POST /api/leads/<id>/convert/)."""
    actor = member(request)
    try:
        lead = lead_selectors.lead_get(lead_id=lead_id, actor=actor)
        if not has_role(actor, Role.REP):
            raise Forbidden(READ_ONLY)
        lead_selectors.lead_for_write(actor=actor, lead_id=lead_id)
    except LeadNotFound:
        return not_found(request, "lead")
    except Forbidden as error:
        return _forbidden(request, error.message)
    if lead.converted_at is not None:
        return redirect("web:lead", lead_id=lead_id)
    form = ConvertForm(
        request.POST if request.method == "POST" else None,
        initial={"account_name": lead.company, "opportunity_name": lead.name, "amount": lead.value},
    )
    if request.method == "POST" and form.is_valid():
        try:
            conversion = lead_convert(lead_id=lead_id, actor=actor, **form.to_service())
        except AppError as error:
            form.show_error(error)
        else:
            messages.success(request, f"{lead.name} converted: account {conversion.account.name}.")
            return redirect("web:record", kind="accounts", record_id=conversion.account.pk)
    context = {
        "lead": lead,
        "form": form,
        "convertible": lead.stage in CONVERTIBLE_STAGES,
        "nav": "leads",
    }
    return render(request, "web/lead_convert.html", context, status=400 if form.errors else 200)


# ---- the composer --------------------------------------------------------------------------------------


def _log(request: HttpRequest, record: Any, lead_id: int | None = None) -> str:
    data = parse(ComposerForm, request.POST)
    kind = data["type"]
    metadata: dict[str, Any] | None = None
    if kind == ActivityType.EMAIL:
        metadata = {"direction": "outbound"}
    activity_services.activity_log(
        actor=member(request),
        type=kind,
        lead_id=lead_id,
        record=record,
        subject=data["subject"] or dict(ActivityType.choices)[kind],
        body=data["body"],
        metadata=metadata,
        occurred_at=data["occurred_at"],
    )
    return f"{dict(ActivityType.choices)[kind]} logged."


@action
def lead_log(request: HttpRequest, lead_id: int) -> Done:
    lead = lead_selectors.lead_for_write(actor=member(request), lead_id=lead_id)
    message = _log(request, lead)
    return Done(message, back(request, reverse("web:lead", args=[lead_id])))


@action
def record_log(request: HttpRequest, kind: str, record_id: int) -> Done:
    spec = KINDS[kind]
    record = spec.getter(member(request), record_id, True)
    if not visibility.can_change(member(request), record):
        raise Forbidden(f"You may not change this {spec.label.lower()}.")
    message = _log(request, record)
    return Done(message, back(request, reverse("web:record", args=[kind, record_id])))


@action
def contact_email_send(request: HttpRequest, record_id: int) -> Done:
    """As the API's POST /api/contacts/<id>/emails/send/."""
    data = parse(EmailSendForm, request.POST)
    actor = member(request)
    contact = contact_selectors.contact_get(contact_id=record_id)
    if not visibility.can_change(actor, contact):
        raise Forbidden("You may not change this contact.")
    files = request.FILES.getlist("attachments")
    activity = email_send(actor=actor, record=contact, attachments=files, **data)
    return Done(
        f"Email sent to {activity.metadata['to']}.",
        back(request, reverse("web:record", args=["contacts", record_id])),
    )
