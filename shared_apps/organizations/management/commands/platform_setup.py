from django.core.management import call_command
from django.core.management.base import BaseCommand

from shared_apps.organizations.services import template_ensure


class Command(BaseCommand):
    help = "Migrate the public schema, create the template, migrate every organization (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        verbosity = int(options.get("verbosity", 1))  # type: ignore[call-overload]
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
        template_ensure()
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=verbosity)
        self.stdout.write(self.style.SUCCESS("Platform schema, template and organizations are migrated."))
