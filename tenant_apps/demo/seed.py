"""Demo organizations for `make up`. Idempotent: existing organizations, users and leads are kept as is."""

from __future__ import annotations

from dataclasses import dataclass

from shared_apps.organizations import selectors as organization_selectors
from shared_apps.organizations import services as organization_services
from shared_apps.organizations.context import Organization, organization_context
from shared_apps.organizations.exceptions import OrganizationNotFound
from shared_apps.users.models import Role, User
from tenant_apps.demo.customers import seed_customers
from tenant_apps.demo.leads import Progress, seed_leads
from tenant_apps.leads.models import Lead

DEMO_PASSWORD = "demo-pass-2026"
OPERATOR_EMAIL = "operator@leadpulse.example"
ORGANIZATIONS = {"acme": "Acme Corporation", "globex": "Globex Industries"}
# Enough for lists, filters and reports to look lived-in, few enough to seed in seconds.
LEAD_COUNTS = {"acme": 300, "globex": 200}
# Their days, reports and 06:00 follow-ups follow these zones (a member's own zone overrides it for them).
TIME_ZONES = {"acme": "America/New_York", "globex": "Europe/Berlin"}
MEMBERS = [
    ("admin", Role.ADMIN, "Ada Admin"),
    ("manager", Role.MANAGER, "Max Manager"),
    ("rep1", Role.REP, "Rita Rep"),
    ("rep2", Role.REP, "Ravi Rep"),
    ("viewer", Role.VIEWER, "Vera Viewer"),
]
# Members working from another zone than their organization's.
MEMBER_TIME_ZONES = {"rep2": "Asia/Kolkata"}


@dataclass
class SeedResult:
    operator_email: str
    organizations: dict[str, list[tuple[str, str]]]
    # live leads per organization after seeding (seeded now or kept from an earlier run)
    leads: dict[str, int]


def member_email(slug: str, handle: str) -> str:
    return f"{handle}@{slug}.example"


def seed_operator() -> None:
    if not User.objects.filter(email=OPERATOR_EMAIL).exists():
        User.objects.create_superuser(OPERATOR_EMAIL, DEMO_PASSWORD, full_name="Olga Operator")


def seed_organization(slug: str, name: str) -> tuple[Organization, list[tuple[str, str]]]:
    try:
        organization = organization_selectors.organization_get(slug=slug)
    except OrganizationNotFound:
        organization = organization_services.organization_provision(
            name=name,
            slug=slug,
            admin_email=member_email(slug, "admin"),
            admin_password=DEMO_PASSWORD,
            admin_name="Ada Admin",
            time_zone=TIME_ZONES[slug],
        )
    with organization_context(organization):
        for handle, role, full_name in MEMBERS:
            email = member_email(slug, handle)
            if not User.objects.filter(email=email).exists():
                User.objects.create_user(
                    email,
                    DEMO_PASSWORD,
                    role=role,
                    full_name=full_name,
                    time_zone=MEMBER_TIME_ZONES.get(handle, ""),
                )
    return organization, [(member_email(slug, handle), role) for handle, role, _ in MEMBERS]


def seed_accounts() -> SeedResult:
    """The operator, the organizations and their members: what signing in needs, in seconds (`make up`
    serves once these are there, and seeds the leads in the background)."""
    seed_operator()
    result = SeedResult(operator_email=OPERATOR_EMAIL, organizations={}, leads={})
    for slug, name in ORGANIZATIONS.items():
        organization, members = seed_organization(slug, name)
        with organization_context(organization):
            result.leads[slug] = Lead.objects.alive().count()
        result.organizations[slug] = members
    return result


def seed_demo(*, progress: Progress | None = None) -> SeedResult:
    """Everything: seed_accounts, then each organization's leads (with their timelines) and customers.
    `progress(slug, done, total)` is called as leads are written."""
    seed_operator()
    result = SeedResult(operator_email=OPERATOR_EMAIL, organizations={}, leads={})
    for slug, name in ORGANIZATIONS.items():
        organization, members = seed_organization(slug, name)
        # after the members: they own and work the leads
        seed_leads(organization=organization, count=LEAD_COUNTS[slug], progress=progress)
        seed_customers(organization=organization)
        with organization_context(organization):
            result.leads[slug] = Lead.objects.alive().count()
        result.organizations[slug] = members
    return result
