from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shared_apps.core.errors import AppError
from shared_apps.organizations.backup import organization_backup
from shared_apps.organizations.selectors import organization_get


class Command(BaseCommand):
    help = "Back up one organization: pg_dump of its schema plus its public rows, in one .tar.gz file."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization = organization_get(slug=options["slug"])
            manifest = organization_backup(organization=organization, path=options["file"])
        except AppError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            f"backed up {options['slug']} ({manifest['schema_name']}): {len(manifest['tables'])} tables, "
            f"{rows} rows -> {options['file']}"
        )
