"""Imports: recent runs with their progress, and uploading a CSV file."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from shared_apps.core.errors import AppError, Forbidden, InvalidInput
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.imports import selectors as import_selectors
from tenant_apps.imports import services as import_services
from tenant_apps.imports.fields import SPECS
from tenant_apps.imports.tasks import TASK_COLUMNS
from tenant_apps.web.forms import ImportForm
from tenant_apps.web.views.base import is_fetch, member, member_required

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
    context = {"runs": runs, "form": ImportForm(), "fields": import_fields(), "nav": "imports"}
    return render(request, "web/import_list.html", context)


def import_fields() -> dict[str, dict[str, Any]]:
    """Per record type the fields a column may fill, the required ones and the header aliases the importer
    recognises: what the page's mapping preview matches a file's header against, as the importer will."""
    specs: list[Any] = [*SPECS.values(), TASK_COLUMNS]
    return {
        str(spec.record_type): {
            "fields": list(spec.fields),
            "required": list(spec.required),
            "aliases": dict(spec.aliases),
        }
        for spec in specs
    }


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
            mapping=form.cleaned_data.get("mapping"),
            request=request,
        )
    except AppError as error:
        if is_fetch(request):  # a script gets the refusal's status, as from every other action
            return JsonResponse({"code": error.code, "message": error.message}, status=error.status_code)
        messages.error(request, error.message)
        return redirect("web:imports")
    messages.success(request, f"Import of {run.file_name or 'the file'} queued.")
    return redirect("web:imports")
