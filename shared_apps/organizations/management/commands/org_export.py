from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shared_apps.core.errors import AppError
from shared_apps.organizations.backup import organization_export
from shared_apps.organizations.selectors import organization_get


class Command(BaseCommand):
    help = "Export all of an organization's data: one JSON-lines file per table plus manifest.json, zipped."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("zipfile")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization = organization_get(slug=options["slug"])
            manifest = organization_export(organization=organization, path=options["zipfile"])
        except AppError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        rows = sum(table["rows"] for table in manifest["tables"].values())
        self.stdout.write(
            f"exported {options['slug']}: {len(manifest['tables'])} tables, {rows} rows "
            f"-> {options['zipfile']}"
        )
