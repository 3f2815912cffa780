from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shared_apps.core.errors import AppError
from shared_apps.organizations import selectors, services
from shared_apps.organizations.api.serializers import OrganizationSerializer


class Command(BaseCommand):
    help = (
        "Operate organizations: list, show, provision, suspend, reactivate, delete, purge, add/remove-domain."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list")
        listing.add_argument("--status")
        provision = sub.add_parser("provision")
        provision.add_argument("slug")
        provision.add_argument("--name", required=True)
        provision.add_argument("--admin-email", required=True)
        provision.add_argument("--admin-password", required=True)
        provision.add_argument("--plan", default="free")
        provision.add_argument("--time-zone", default="UTC", help="IANA zone name (default UTC)")
        for action in ("suspend", "reactivate", "delete", "show"):
            sub.add_parser(action).add_argument("slug")
        purge = sub.add_parser("purge")
        purge.add_argument("slug")
        purge.add_argument("--confirm", required=True, help="the slug, typed again")
        for action in ("add-domain", "remove-domain"):
            domain = sub.add_parser(action)
            domain.add_argument("slug")
            domain.add_argument("domain")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._run(options)
        except AppError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {exc.details or ''}".strip()) from exc

    def _print(self, organization: Any) -> None:
        self.stdout.write(json.dumps(OrganizationSerializer(organization).data, default=str))

    def _run(self, options: dict[str, Any]) -> None:
        action = options["action"]
        if action == "list":
            for organization in selectors.organization_list(status=options["status"]):
                self._print(organization)
            return
        if action == "provision":
            organization = services.organization_provision(
                name=options["name"],
                slug=options["slug"],
                admin_email=options["admin_email"],
                admin_password=options["admin_password"],
                plan=options["plan"],
                time_zone=options["time_zone"],
            )
            self._print(selectors.organization_get(slug=organization.slug))
            return
        organization = selectors.organization_get(slug=options["slug"], deleted=action == "purge")
        if action == "suspend":
            organization = services.organization_set_status(organization=organization, status="suspended")
        elif action == "reactivate":
            organization = services.organization_set_status(organization=organization, status="active")
        elif action == "delete":
            organization = services.organization_delete(organization=organization)
        elif action == "purge":
            services.organization_purge(organization=organization, confirm=options["confirm"])
            self.stdout.write(f"purged {options['slug']}")
            return
        elif action == "add-domain":
            services.domain_add(organization=organization, domain=options["domain"])
        elif action == "remove-domain":
            services.domain_remove(organization=organization, domain=options["domain"])
        self._print(selectors.organization_get(slug=organization.slug))
