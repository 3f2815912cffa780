"""The organization's audit log, for its admins (the API's filters and pages; CSV through the API)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from shared_apps.audit.pages import audit_log_page
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.web.views.base import member_required


@member_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.ADMIN):
        return render(request, "web/forbidden.html", {"what": "The audit log is for admins."}, status=403)
    return audit_log_page(
        request,
        template="web/audit_log.html",
        export_url=reverse("audit-log-export"),
        context={"nav": "audit-log"},
    )
