"""Onboarding: sample data on request (admins only; the checklist itself is on the dashboard)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from shared_apps.core.errors import AppError, Conflict, Forbidden
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.web.onboarding import sample_data_load
from tenant_apps.web.views.base import is_fetch, member, member_required


@member_required
@require_POST
def sample_data(request: HttpRequest) -> HttpResponse:
    try:
        if not has_role(request.user, Role.ADMIN):
            raise Forbidden("Only admins can load sample data.", code="admin_only")
        created = sample_data_load(actor=member(request), request=request)
        if not created:
            raise Conflict(
                "This organization has leads already: sample data is only for an empty one.", code="not_empty"
            )
    except AppError as error:
        if is_fetch(request):
            return JsonResponse(error.as_body(), status=error.status_code)
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("web:dashboard"))
    text = f"{created} sample leads loaded, with their history. Open the board to see them."
    if is_fetch(request):
        return JsonResponse({"message": text, "created": created})
    messages.success(request, text)
    return HttpResponseRedirect(reverse("web:pipeline"))
