from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shared_apps.organizations.migrating import migrate_organizations


class Command(BaseCommand):
    help = (
        "Migrate public and the template if needed, then only the organizations missing a migration the "
        "template has (found with one query), several at a time."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--workers", type=int, default=2, help="organizations migrated in parallel")
        parser.add_argument("--dry-run", action="store_true", help="report what would be migrated")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        verbosity = int(options["verbosity"])
        report = migrate_organizations(
            workers=options["workers"], dry_run=options["dry_run"], verbosity=max(0, verbosity - 1)
        )
        if verbosity >= 1 or report.failed:
            for line in report.lines():
                self.stdout.write(line)
        if report.failed:
            raise CommandError(f"{len(report.failed)} organization(s) failed to migrate.")
