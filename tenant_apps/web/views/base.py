"""The plumbing every page shares: the member and role checks, form parsing, how a write answers, and the
timelines and task lists that pages embed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from shared_apps.core.errors import AppError, Forbidden, InvalidInput
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role, User
from shared_apps.users.signin import is_local
from tenant_apps.activities import selectors as activity_selectors
from tenant_apps.tasks import selectors as task_selectors
from tenant_apps.web import selectors

TIMELINE_PAGE = 20
View = Callable[..., HttpResponse]


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


def back(request: HttpRequest, default: str) -> str:
    """Where a form post returns to: its `next` field, else `default`, whichever is a URL of this host."""
    for target in (request.POST.get("next") or "", default):
        if is_local(request, target):
            return target
    return "/"


def valid(form_class: type[forms.Form], data: Any) -> Any:
    """A bound, valid form; the first invalid field is an InvalidInput naming it (shown like a service's
    validation errors)."""
    form = form_class(data)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        named = form.fields.get(field)
        # a custom field's input (custom.<key>) is named by its label
        label = named.label if named is not None and field.startswith("custom.") and named.label else None
        raise InvalidInput(field, f"{label or field.replace('_', ' ').capitalize()}: {errors[0]}")
    return form


def parse(form_class: type[forms.Form], data: Any) -> dict[str, Any]:
    return dict(valid(form_class, data).cleaned_data)


@dataclass
class Done:
    message: str
    location: str
    html: str = ""
    fields: dict[str, str] | None = None  # for an in-place edit: each field's text as the page shows it


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
            extra = {"fields": done.fields} if done.fields is not None else {}
            return JsonResponse({"message": done.message, "html": done.html, **extra})
        messages.success(request, done.message)
        return HttpResponseRedirect(done.location)

    return wrapper


def not_found(request: HttpRequest, what: str) -> HttpResponse:
    return render(request, "web/not_found.html", {"what": what}, status=404)


def form_problem(form: forms.Form) -> str:
    if form.is_valid():
        return ""
    field, errors = next(iter(form.errors.items()))
    return f"{field.capitalize()}: {errors[0]}"


def timeline_page(activities: QuerySet[Any], cursor: str | None) -> selectors.Page:
    # by when things happened (a call logged afterwards sits where it took place), not when they were written
    return selectors.keyset_page(activities, cursor=cursor, size=TIMELINE_PAGE, at="occurred_at")


def timeline_fragment(request: HttpRequest, activities: QuerySet[Any], url: str) -> HttpResponse:
    """The next page of a timeline as list items (the page's "More" appends them)."""
    try:
        timeline = timeline_page(activities, request.GET.get("cursor"))
    except InvalidInput as error:
        return HttpResponse(error.message, status=400, content_type="text/plain")
    return render(request, "web/_timeline_items.html", {"timeline": timeline, "timeline_url": url})


def visible_tasks(actor: User, filters: dict[str, Any]) -> QuerySet[Any]:
    """Tasks on records the member may see (the visibility policy, through the tasks' selector)."""
    return task_selectors.task_list(actor=actor, filters=filters)


def timeline_of(actor: User, record: Any) -> QuerySet[Any]:
    """A record's timeline; an account's or contact's roll-up without the activities of hidden leads and
    deals (the visibility policy, through the activities' selector)."""
    return activity_selectors.activity_list(record=record, actor=actor)
