from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shared_apps.core.errors import AppError
from shared_apps.organizations.moving import organization_move
from shared_apps.organizations.selectors import organization_get


class Command(BaseCommand):
    help = (
        "Move an organization to another database (a DATABASES alias): copy its schema, verify row counts, "
        "switch its placement with a short write freeze, drop the source schema."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--to", required=True, help="the target database alias")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = organization_move(organization=organization_get(slug=options["slug"]), to=options["to"])
        except AppError as exc:
            raise CommandError(f"{exc.code} ({exc.status_code}): {exc.message}") from exc
        for line in report.lines():
            self.stdout.write(line)
