from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shared_apps.core.errors import AppError
from shared_apps.organizations.backup import organization_restore


class Command(BaseCommand):
    help = "Restore an organization from an org_backup file, under its own slug or --slug (refused if live)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--slug", help="restore under this slug instead of the one backed up")
        parser.add_argument(
            "--database", help="the database alias to restore into (default: NEW_ORGANIZATION_DATABASE)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization = organization_restore(
                path=options["file"], slug=options["slug"], database=options["database"]
            )
        except AppError as exc:
            raise CommandError(f"{exc.code} ({exc.status_code}): {exc.message}") from exc
        self.stdout.write(
            f"restored {organization.slug} into schema {organization.schema_name} on {organization.database}"
        )
        self.stdout.write(
            "run `manage.py migrate_organizations` if the backup predates the latest migrations"
        )
