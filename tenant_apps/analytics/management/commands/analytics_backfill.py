from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shared_apps.core.errors import InvalidInput
from shared_apps.organizations.context import live_organization, organization_context
from tenant_apps.analytics import services


class Command(BaseCommand):
    help = (
        "Rebuild an organization's pipeline snapshots for past days from its activity log "
        "(and, with --rebuild-facts, re-ingest every stage change first)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the organization's slug")
        parser.add_argument("date_from", type=date.fromisoformat, help="first day, YYYY-MM-DD")
        parser.add_argument("date_to", type=date.fromisoformat, help="last day, YYYY-MM-DD (inclusive)")
        parser.add_argument("--rebuild-facts", action="store_true", help="re-ingest every stage change")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = live_organization(options["slug"])
        if organization is None:
            raise CommandError(f"no live organization {options['slug']!r}")
        with organization_context(organization):
            if options["rebuild_facts"]:
                result = services.analytics_rebuild()
                self.stdout.write(f"re-ingested {result['ingested']} stage changes")
            try:
                rows = services.snapshot_backfill(date_from=options["date_from"], date_to=options["date_to"])
            except InvalidInput as error:
                raise CommandError(f"{error.field}: {error.message}") from None
            services.cache_invalidate()
        self.stdout.write(f"{rows} snapshot rows written for {options['date_from']} .. {options['date_to']}")
