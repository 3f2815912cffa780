"""The operators' organization list: one filter language (a django-filter FilterSet) and one set of sort
keys, used by `GET /api/platform/organizations/` and the console's list alike.

Everything it reads is in the public schema: the organization row, its domains, and the usage row the
hourly job collects (last activity, members, records, storage, requests, failing jobs). Search is
`icontains` on name, slug, admin emails and domains, served by trigram indexes on UPPER(column).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from shared_apps.core.errors import InvalidInput
from shared_apps.organizations.models import Domain, Organization, OrganizationStatus

# sort key (as clients name it) -> what it orders by; usage figures of an organization not yet collected
# count as 0, its last activity as never (sorted last either way)
ORDERINGS: dict[str, str] = {
    "name": "name",
    "slug": "slug",
    "status": "status",
    "plan": "plan",
    "database": "database",
    "created_at": "created_at",
    "last_active_at": "usage__last_active_at",
    "members": "members",
    "records": "records",
    "storage_bytes": "storage_bytes",
    "api_requests_30d": "api_requests_30d",
    "api_5xx_30d": "api_5xx_30d",
    "failed_jobs": "failed_jobs",
}
DEFAULT_ORDERING = "slug"
SEARCH_MAX = 200


def with_usage(organizations: QuerySet[Organization]) -> QuerySet[Organization]:
    """The usage figures the list shows and sorts by, joined from the collected row (one LEFT JOIN)."""
    zero = Value(0)
    return organizations.select_related("usage").annotate(
        members=Coalesce(F("usage__members"), zero),
        records=Coalesce(
            F("usage__leads") + F("usage__contacts") + F("usage__accounts") + F("usage__deals"), zero
        ),
        storage_bytes=Coalesce(F("usage__schema_bytes") + F("usage__file_bytes"), zero),
        api_requests_30d=Coalesce(F("usage__api_requests_30d"), zero),
        api_5xx_30d=Coalesce(F("usage__api_5xx_30d"), zero),
        failed_jobs=Coalesce(F("usage__failed_jobs"), zero),
    )


def order(organizations: QuerySet[Organization], ordering: str | None) -> QuerySet[Organization]:
    """Sort by one key of ORDERINGS (`-key` descending), the id breaking ties; an unknown key is a 400
    naming `ordering`. Missing values (never active) sort last whichever way."""
    requested = ordering or DEFAULT_ORDERING
    key = requested.lstrip("-")
    if key not in ORDERINGS or requested.count("-") > 1:
        raise InvalidInput("ordering", f"Sort by one of {', '.join(ORDERINGS)} (prefix - for descending).")
    descending = requested.startswith("-")
    expression = F(ORDERINGS[key])
    first = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    return organizations.order_by(first, "-id" if descending else "id")


def _status_choices() -> list[tuple[str, str]]:
    return [
        (status.value, str(status.label))
        for status in (OrganizationStatus.ACTIVE, OrganizationStatus.SUSPENDED, OrganizationStatus.DELETED)
    ]


class OrganizationFilter(django_filters.FilterSet):
    """`q` searches; the rest narrow. Without `status`, deleted organizations are left out."""

    q = django_filters.CharFilter(
        method="search", max_length=SEARCH_MAX, label="Search", help_text="Name, slug, domain or admin email."
    )
    status = django_filters.ChoiceFilter(choices=_status_choices(), empty_label="Active and suspended")
    plan = django_filters.CharFilter(max_length=16, help_text="A plan's slug.")
    database = django_filters.CharFilter(max_length=63, help_text="A DATABASES alias.")
    created = django_filters.DateFromToRangeFilter(
        field_name="created_at", label="Created", help_text="created_after / created_before (dates)."
    )
    last_active = django_filters.DateFromToRangeFilter(
        field_name="usage__last_active_at",
        label="Last active",
        help_text="last_active_after / last_active_before (dates; from the collected usage).",
    )

    class Meta:
        model = Organization
        fields: list[str] = []

    def search(self, queryset: QuerySet[Organization], name: str, value: str) -> QuerySet[Organization]:
        value = value.strip()
        if not value:
            return queryset
        domains = Domain.objects.filter(domain__icontains=value).values("tenant_id")
        return queryset.filter(
            Q(name__icontains=value)
            | Q(slug__icontains=value)
            | Q(admin_emails__icontains=value)
            | Q(pk__in=domains)
        )

    def filter_queryset(self, queryset: QuerySet[Organization]) -> QuerySet[Organization]:
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.exclude(status=OrganizationStatus.DELETED)
        return super().filter_queryset(queryset)


def organization_directory(
    params: Any, *, ordering: str | None = None
) -> tuple[OrganizationFilter, QuerySet[Organization]]:
    """The filtered, sorted list of organizations (never the template) for query parameters `params`;
    invalid parameters are a 400 naming the first bad field."""
    base = Organization.objects.exclude(status=OrganizationStatus.TEMPLATE).prefetch_related("domains")
    filterset = OrganizationFilter(params, queryset=with_usage(base))
    if not filterset.is_valid():
        field, errors = next(iter(filterset.errors.items()))
        raise InvalidInput(field, f"{field}: {errors[0]}")
    return filterset, order(filterset.qs, ordering)
