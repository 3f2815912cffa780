import os
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from tenant_apps.demo.seed import DEMO_PASSWORD, LEAD_COUNTS, SeedResult, seed_accounts, seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo operator and the demo organizations acme and globex with their members and leads "
        "(keeps existing data)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--accounts-only",
            action="store_true",
            help="Only the operator, organizations and members (who can sign in where: seconds).",
        )
        parser.add_argument(
            "--progress",
            action="store_true",
            help="The accounts' banner first, then the leads with their progress (as `make up` runs it).",
        )

    def handle(self, *args: object, **options: Any) -> None:
        started = time.monotonic()
        if options["accounts_only"] or options["progress"]:
            # who can sign in where, first (seconds): `make up` serves meanwhile, the leads follow
            accounts = seed_accounts()
            self._banner(accounts, started, seeding=not options["accounts_only"])
            if options["accounts_only"]:
                return

            def progress(slug: str, done: int, total: int) -> None:
                elapsed = time.monotonic() - started
                self.stderr.write(f"[seed] {slug}: {done}/{total} demo leads ({elapsed:.1f} s)")

            result = seed_demo(progress=progress)
            counts = ", ".join(f"{slug} {count} leads" for slug, count in result.leads.items())
            self.stderr.write(f"[seed] the demo is seeded: {counts} ({time.monotonic() - started:.1f} s)")
            return
        self._banner(seed_demo(), started, seeding=False)

    def _banner(self, result: SeedResult, started: float, *, seeding: bool) -> None:
        port = os.environ.get("PORT", "8000")
        base = settings.BASE_DOMAIN
        lines = [
            "",
            "LeadPulse is up. Every demo password is " + DEMO_PASSWORD,
            f"  Platform (operators): http://{base}:{port}/api/docs/   admin: http://{base}:{port}/admin/",
            f"    operator: {result.operator_email}",
        ]
        for slug, members in result.organizations.items():
            leads = f"{result.leads[slug]} leads"
            if seeding and not result.leads[slug]:
                leads = f"its {LEAD_COUNTS[slug]} demo leads are being seeded (progress below)"
            lines.append(f"  {slug}: http://{slug}.{base}:{port}/api/docs/   {leads}")
            lines.extend(f"    {role:<8} {email}" for email, role in members)
        lines.append(f"  (in {time.monotonic() - started:.1f} s)")
        self.stdout.write("\n".join(lines) + "\n")
