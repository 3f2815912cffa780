from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shared_apps.organizations.context import live_organization, organization_context
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.records.services import phones_renormalize


class Command(BaseCommand):
    help = (
        "Recompute the normalized phone numbers (E.164, the duplicate key) of an organization's leads and "
        "contacts: once after upgrading to the phonenumbers rule, and after changing its phone_region."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the organization's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = live_organization(options["slug"])
        if organization is None:
            raise CommandError(f"no live organization {options['slug']!r}")
        with organization_context(organization):
            changed = phones_renormalize(models=(Lead, Contact))
        self.stdout.write(f"{changed} phone numbers renormalized")
