from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from shared_apps.organizations.models import Organization
from shared_apps.organizations.services import constraint_names_align
from shared_apps.organizations.spares import spares_top_up_soon


class Command(BaseCommand):
    help = "Migrate the public schema, create the template, migrate every organization (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        verbosity = int(options.get("verbosity", 1))  # type: ignore[call-overload]
        # public, the template, then only the organizations behind it (one query finds them), in parallel
        call_command("migrate_organizations", verbosity=verbosity)
        # organizations cloned before the constraint-name fix get the template's names too (one query)
        constraint_names_align(
            *Organization.objects.exclude(schema_name=settings.TENANT_BASE_SCHEMA).values_list(
                "schema_name", flat=True
            )
        )
        # the worker drops the spare schemas the migrations made stale and clones fresh ones
        spares_top_up_soon()
        self.stdout.write(self.style.SUCCESS("Platform schema, template and organizations are migrated."))
