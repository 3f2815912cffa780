"""Time zones on requests: an admin setting the organization's, and putting the zone in force on a
request (the member's own, else the organization's; shared_apps.organizations.context.zone_for).

The organization's zone is activated when a request or job enters it (context.enter_organization); a signed-in
member's replaces it for their request: `MemberTimeZoneMiddleware` for session (web) requests, and
`OrganizationView.initial` (shared_apps.http.api) for API requests, whose credentials DRF reads in the view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework.request import Request

from shared_apps.audit.services import audit_record
from shared_apps.core import localtime
from shared_apps.core.errors import InvalidInput
from shared_apps.organizations.context import zone_for
from shared_apps.organizations.models import Organization

# What an organization's admin may change through /api/settings/organization/ (the rest is the operators').
ORGANIZATION_SETTINGS = ("time_zone",)


@transaction.atomic
def organization_settings_update(
    *, organization: Organization, changes: dict[str, Any], request: HttpRequest | Request | None = None
) -> Organization:
    """Apply an admin's changes to their organization's settings (only ORGANIZATION_SETTINGS; anything else is
    a 400 naming it) and audit the before and after of each changed field ("settings.changed"). Saving the
    row drops the cached host lookup, so the next request sees the new values."""
    unknown = sorted(set(changes) - set(ORGANIZATION_SETTINGS))
    if unknown:
        raise InvalidInput(unknown[0], "Unknown or read-only setting.", code="unknown_field")
    cleaned = (
        {"time_zone": localtime.validate_zone_name(changes["time_zone"])} if "time_zone" in changes else {}
    )
    row = Organization.objects.get(pk=organization.pk)
    diff = {
        name: [getattr(row, name), value] for name, value in cleaned.items() if getattr(row, name) != value
    }
    if diff:
        for name, (_old, new) in diff.items():
            setattr(row, name, new)
        row.save(update_fields=list(diff))
        audit_record("settings.changed", request=request, target=row, changes=diff)
    # the request's own copy too (the connection's tenant), so the rest of this request sees the change
    for name, (_old, new) in diff.items():
        setattr(organization, name, new)
    return organization


def activate_member_zone(user: Any) -> None:
    """Put `user`'s zone in force for the rest of the request (theirs, else the organization's)."""
    timezone.activate(zone_for(user))


class MemberTimeZoneMiddleware:
    """After AuthenticationMiddleware: a signed-in member's pages render in their zone, and the dates and
    times they type are read in it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if getattr(request, "tenant", None) is not None and request.user.is_authenticated:
            activate_member_zone(request.user)
        return self.get_response(request)
