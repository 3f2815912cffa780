from __future__ import annotations

from django.db.models import QuerySet

from shared_apps.organizations.exceptions import OrganizationNotFound, UsageNotCollected
from shared_apps.organizations.models import Organization, OrganizationStatus, OrganizationUsage


def organization_list(*, status: str | None = None) -> QuerySet[Organization]:
    """Organizations operators see: never the template. Deleted ones only when asked for by status."""
    organizations = Organization.objects.exclude(status=OrganizationStatus.TEMPLATE).prefetch_related(
        "domains"
    )
    if status:
        return organizations.filter(status=status)
    return organizations.exclude(status=OrganizationStatus.DELETED)


def organization_get(*, slug: str, deleted: bool = False) -> Organization:
    """The live organization with this slug or, with `deleted`, the most recently deleted one.

    A deleted organization gives its slug back, so one slug can name a live organization and several
    deleted ones waiting for purge."""
    organizations = Organization.objects.filter(slug=slug).prefetch_related("domains")
    if deleted:
        organizations = organizations.filter(status=OrganizationStatus.DELETED).order_by("-deleted_at")
    else:
        organizations = organizations.exclude(
            status__in=[OrganizationStatus.DELETED, OrganizationStatus.TEMPLATE]
        )
    organization = organizations.first()
    if organization is None:
        raise OrganizationNotFound(slug=slug)
    return organization


def active_schema_names() -> list[str]:
    return list(
        Organization.objects.filter(status=OrganizationStatus.ACTIVE)
        .order_by("id")
        .values_list("schema_name", flat=True)
    )


def organization_usage(*, slug: str) -> OrganizationUsage:
    """The live organization's usage row as last collected (the public schema only: two queries)."""
    organization = organization_get(slug=slug)
    usage = OrganizationUsage.objects.filter(organization_id=organization.pk).first()
    if usage is None:
        raise UsageNotCollected(slug=slug)
    return usage
