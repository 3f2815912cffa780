"""Provisioning an organization: clone of the migrated template vs running every migration.

Both paths do the whole operation (row, schema, primary domain, first admin with the production
password hasher) in one transaction; the organizations are purged afterwards.
"""

from __future__ import annotations

import os

from bench.common import report, setup_django, timer

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))


def main() -> None:
    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction
    from django_tenants.utils import schema_context

    from shared_apps.core.db import connection
    from shared_apps.organizations.models import Domain, Organization, OrganizationStatus
    from shared_apps.organizations.services import (
        organization_delete,
        organization_provision,
        organization_purge,
    )
    from shared_apps.users.models import Role, User

    password = "bench-password-2026"

    def migrate_path(slug: str) -> None:
        with transaction.atomic():
            organization = Organization.objects.create(name=slug, slug=slug, schema_name=f"org_{slug}")
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "org_{slug}"')
            call_command(
                "migrate_schemas", tenant=True, schema_name=f"org_{slug}", interactive=False, verbosity=0
            )
            connection.set_schema_to_public()
            Domain.objects.create(
                domain=f"{slug}.{settings.BASE_DOMAIN}", tenant=organization, is_primary=True
            )
            with schema_context(f"org_{slug}"):
                User.objects.create_user(f"admin@{slug}.example", password, role=Role.ADMIN)

    def clone_path(slug: str) -> None:
        organization_provision(
            name=slug, slug=slug, admin_email=f"admin@{slug}.example", admin_password=password
        )

    def cleanup() -> None:
        connection.set_schema_to_public()
        mine = Organization.objects.filter(slug__regex=r"^(benchm|bench-c)[0-9]+$")
        for organization in mine:
            if organization.status != OrganizationStatus.DELETED:
                organization = organization_delete(organization=organization)
            organization_purge(organization=organization, confirm=organization.slug)

    cleanup()
    samples: dict[str, list[float]] = {
        "migrate every migration (baseline)": [],
        "clone template (LeadPulse)": [],
    }
    try:
        for round_ in range(ROUNDS):
            for name, path, slug in (
                ("migrate every migration (baseline)", migrate_path, f"benchm{round_}"),
                ("clone template (LeadPulse)", clone_path, f"bench-c{round_}"),
            ):
                connection.set_schema_to_public()
                with timer() as elapsed:
                    path(slug)
                samples[name].append(elapsed())
    finally:
        cleanup()

    report(
        f"Provisioning one organization ({ROUNDS} rounds, interleaved; target p50 < 500 ms)",
        samples,
        baseline="migrate every migration (baseline)",
    )
