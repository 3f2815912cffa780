"""Tasks: the list and completing or reopening one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from shared_apps.core.errors import InvalidInput
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.tasks import services as task_services
from tenant_apps.tasks.models import TaskStatus
from tenant_apps.web import selectors
from tenant_apps.web.forms import TaskFilterForm
from tenant_apps.web.views.base import (
    Done,
    action,
    back,
    form_problem,
    member,
    member_required,
    visible_tasks,
)


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
    elif status == "due_today":  # the member's local day (their zone is active on their pages)
        filters["due_today"] = True
        filters["status"] = ["open"]
    elif status:
        filters["status"] = [status]
    tasks = visible_tasks(actor, filters)
    problem, next_url = form_problem(form), ""
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
