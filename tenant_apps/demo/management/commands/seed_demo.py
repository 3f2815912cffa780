import os

from django.conf import settings
from django.core.management.base import BaseCommand

from tenant_apps.demo.seed import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo operator and the demo organizations acme and globex with their members and leads "
        "(keeps existing data)."
    )

    def handle(self, *args: object, **options: object) -> None:
        result = seed_demo()
        port = os.environ.get("PORT", "8000")
        base = settings.BASE_DOMAIN
        lines = [
            "",
            "LeadPulse is up. Every demo password is " + DEMO_PASSWORD,
            f"  Platform (operators): http://{base}:{port}/api/docs/   admin: http://{base}:{port}/admin/",
            f"    operator: {result.operator_email}",
        ]
        for slug, members in result.organizations.items():
            lines.append(f"  {slug}: http://{slug}.{base}:{port}/api/docs/   {result.leads[slug]} leads")
            lines.extend(f"    {role:<8} {email}" for email, role in members)
        self.stdout.write("\n".join(lines) + "\n")
