"""Finding everything held about one person, by their email address: the leads and contacts with that
address (deleted and merged ones too: they are still held) and the emails naming it anywhere."""

from __future__ import annotations

from email.utils import getaddresses

from django.db.models import Q, QuerySet

from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead

ADDRESS_HEADERS = ("from", "to", "cc")


def leads_of(email: str) -> QuerySet[Lead]:
    return Lead.objects.filter(email=email).order_by("id")


def contacts_of(email: str) -> QuerySet[Contact]:
    return Contact.objects.filter(email=email).order_by("id")


def names_address(activity: Activity, email: str) -> bool:
    """Whether the email activity's From, To or Cc header names `email` (as an address, not a substring)."""
    metadata = activity.metadata if isinstance(activity.metadata, dict) else {}
    values = [str(metadata.get(header) or "") for header in ADDRESS_HEADERS]
    return any(address.strip().lower() == email for _name, address in getaddresses(values))


def emails_naming(email: str) -> list[Activity]:
    """EMAIL activities on any record whose headers name the address (narrowed in SQL, checked exactly)."""
    contains = Q()
    for header in ADDRESS_HEADERS:
        contains |= Q(**{f"metadata__{header}__icontains": email})
    candidates = Activity.objects.filter(contains, type=ActivityType.EMAIL).order_by("id")
    return [activity for activity in candidates if names_address(activity, email)]


def activities_about(leads: list[Lead], contacts: list[Contact], email: str) -> list[Activity]:
    """The activities on the person's records, and the emails naming them elsewhere, each once."""
    on_records = Activity.objects.filter(Q(lead__in=leads) | Q(contact__in=contacts)).order_by("id")
    found = {activity.pk: activity for activity in on_records}
    for activity in emails_naming(email):
        found.setdefault(activity.pk, activity)
    return [found[key] for key in sorted(found)]
