"""The audit log as a page: the organization's for its admins (tenant_apps.web) and the platform's for
operators (shared_apps.console) share the filters, the cursor pages and the table; each page checks who may
see it first."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from shared_apps.audit.api.serializers import AuditFilterSerializer
from shared_apps.audit.api.views import AuditCursor
from shared_apps.audit.selectors import audit_event_list

PAGE_SIZE = 50
FILTERS = ("actor", "action", "since", "until")


def audit_log_page(
    request: HttpRequest, *, template: str, export_url: str, context: dict[str, Any] | None = None
) -> HttpResponse:
    """The filtered log, newest first, PAGE_SIZE rows a page (the API's cursor: stable while events are
    added), a link to the same filters as CSV. Malformed filters answer 400 with the field named."""
    query = {key: request.GET[key] for key in FILTERS if request.GET.get(key)}
    filters = AuditFilterSerializer(data=query)
    page: list[Any] = []
    next_url = previous_url = None
    problem = ""
    if filters.is_valid():
        paginator = AuditCursor()
        paginator.page_size = PAGE_SIZE
        try:
            page = list(
                paginator.paginate_queryset(
                    audit_event_list(filters=filters.validated_data), Request(request)
                )
                or []
            )
            next_url, previous_url = paginator.get_next_link(), paginator.get_previous_link()
        except ValidationError:
            problem = "cursor: the page link is not valid; start again from the first page."
    else:
        field, errors = next(iter(filters.errors.items()))
        problem = f"{field}: {errors[0]}"
    status = 400 if problem else 200
    body = {
        **(context or {}),
        "events": page,
        "query": query,
        "problem": problem,
        "next_url": next_url,
        "previous_url": previous_url,
        "export_url": export_url + ("?" + urlencode(query) if query else ""),
    }
    return render(request, template, body, status=status)
