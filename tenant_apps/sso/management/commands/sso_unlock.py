from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shared_apps.audit.services import audit_record
from shared_apps.organizations.context import live_organization, organization_context
from tenant_apps.sso.selectors import sso_config_get
from tenant_apps.sso.services import sso_requirement_lift


class Command(BaseCommand):
    help = (
        "Let an organization's members sign in with passwords again when its identity provider fails while "
        "SSO is required (--disable also switches SSO off). Recorded in the organization's audit log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the organization's slug")
        parser.add_argument("--disable", action="store_true", help="switch single sign-on off as well")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = live_organization(options["slug"])
        if organization is None:
            raise CommandError(f"no live organization {options['slug']!r}")
        with organization_context(organization):
            changed = sso_requirement_lift(disable=options["disable"])
            if changed:
                audit_record("sso.settings_changed", target=sso_config_get(), changes=changed, via="command")
        self.stdout.write(
            f"{organization.slug}: " + (", ".join(f"{key} off" for key in changed) or "no change")
        )
