"""Every write on organizations and their domains. Operators reach these through the platform API,
the admin and the `orgs` management command."""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from shared_apps.audit.services import audit_record
from shared_apps.core import localtime
from shared_apps.core.db import connection
from shared_apps.core.errors import Conflict, InvalidInput
from shared_apps.organizations import namespace, placement, spares
from shared_apps.organizations.cloning import clone_template
from shared_apps.organizations.exceptions import (
    DomainNotFound,
    DomainTaken,
    PrimaryDomainRequired,
    SlugTaken,
    StatusChangeNotAllowed,
    TemplateMissing,
)
from shared_apps.organizations.models import (
    RESERVED_SLUGS,
    SLUG_RE,
    Domain,
    Organization,
    OrganizationStatus,
    Plan,
    PlanDefinition,
    schema_name_for,
)
from shared_apps.users.models import Role, User
from shared_apps.users.services import validate_new_credentials

HOSTNAME_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
TEMPLATE_SLUG = "template"
# hashes first admins' passwords beside the clone (organization_provision); two: provisionings may overlap
_hashers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="provision-hash")


def platform_audit(
    action: str,
    *,
    organization: Organization,
    request: HttpRequest | None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Record an operator's action on an organization in the platform's log (the primary's public schema),
    whatever schema the caller passed through."""
    with schema_context(get_public_schema_name()):
        audit_record(
            action,
            request=request,
            target_type="organizations.organization",
            target_id=organization.pk,
            target_repr=organization.slug,
            changes=changes,
        )


def validate_slug(slug: object) -> str:
    if not isinstance(slug, str) or not slug:
        raise InvalidInput("slug", "A slug is required.", code="required")
    if slug != slug.strip().lower():
        raise InvalidInput("slug", "Slugs are lowercase and contain no spaces.", code="invalid_slug")
    if not 3 <= len(slug) <= 40:
        raise InvalidInput("slug", "Slugs are 3 to 40 characters long.", code="invalid_slug")
    if not SLUG_RE.match(slug) or "--" in slug:
        raise InvalidInput(
            "slug",
            "Use lowercase letters, digits and single hyphens; start and end with a letter or digit.",
            code="invalid_slug",
        )
    if slug in RESERVED_SLUGS:
        raise InvalidInput("slug", f"'{slug}' is reserved.", code="reserved_slug")
    return slug


def _validate_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name", "A name is required.", code="required")
    if len(name) > 200 or "\x00" in name:
        raise InvalidInput("name", "Names are at most 200 printable characters.")
    return name.strip()


def _validate_plan(plan: object) -> str:
    """A plan operators defined (PlanDefinition); the four built-in ones exist from the start."""
    slugs = list(PlanDefinition.objects.values_list("slug", flat=True))
    if plan not in slugs:
        raise InvalidInput("plan", f"Unknown plan; expected one of {', '.join(slugs)}.")
    return str(plan)


def organization_provision(
    *,
    name: str,
    slug: str,
    admin_email: str,
    admin_password: str,
    admin_name: str = "",
    plan: str = Plan.FREE,
    database: str | None = None,
    time_zone: str = "UTC",
    request: HttpRequest | None = None,
) -> Organization:
    """Create an organization, its primary domain, its schema and its first admin as one operation.

    The schema is a spare of the primary's pool renamed (spares.py), else a clone of the migrated template of
    the database the organization is placed on (`database`, else NEW_ORGANIZATION_DATABASE). CREATE and
    ALTER SCHEMA are transactional in PostgreSQL, so if any step fails nothing is left behind: no row, no
    domain, no schema, and a spare taken is a spare again.
    """
    slug = validate_slug(slug)
    name = _validate_name(name)
    plan = _validate_plan(plan)
    time_zone = localtime.validate_zone_name(time_zone)
    database = placement.validate_database(database or settings.NEW_ORGANIZATION_DATABASE)
    admin_email = validate_new_credentials(
        email=admin_email,
        password=admin_password,
        full_name=admin_name,
        fields=("admin_email", "admin_password"),
    )
    # The first admin's password hash (scrypt, ~0.14 s of CPU outside the GIL) is computed on another thread
    # while this one checks the slug and takes a spare schema or clones one (~0.2 s, mostly waiting on
    # PostgreSQL), and the transaction holds no lock while a hash is computed. With a spare the hash is the
    # longest step: it starts as soon as the password is known to be acceptable.
    password_hash = _hashers.submit(make_password, admin_password)
    if Organization.objects.filter(slug=slug).exclude(status=OrganizationStatus.DELETED).exists():
        raise SlugTaken(slug=slug)
    with placement.using(database):
        if not schema_exists(settings.TENANT_BASE_SCHEMA):
            raise TemplateMissing(database=database)

    domain = f"{slug}.{settings.BASE_DOMAIN}"
    try:
        organization = _provision_rows(
            name=name,
            slug=slug,
            plan=plan,
            database=database,
            time_zone=time_zone,
            domain=domain,
            admin=(admin_email, password_hash, admin_name),
        )
    except IntegrityError as exc:  # lost a race with a concurrent provisioning, or the domain is taken
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
        if "domain" in constraint:
            raise DomainTaken(domain=domain) from exc
        raise SlugTaken(slug=slug) from exc
    except ValidationError as exc:  # the schema exists without an organization row
        raise Conflict("A schema with this name already exists.", code="schema_exists", slug=slug) from exc
    if database == placement.DEFAULT:
        spares.spares_top_up_soon()  # replace the spare it took, or fill the pool it found empty
    platform_audit(
        "organization.provisioned",
        organization=organization,
        request=request,
        changes={
            "name": name,
            "plan": plan,
            "database": database,
            "domain": domain,
            "admin_email": admin_email,
        },
    )
    return organization


def _provision_rows(
    *,
    name: str,
    slug: str,
    plan: str,
    database: str,
    time_zone: str,
    domain: str,
    admin: tuple[str, Future[str], str],
) -> Organization:
    schema_name = schema_name_for(slug)
    admin_email, password_hash, admin_name = admin
    elsewhere_committed = False
    try:
        with transaction.atomic():
            connection.set_schema_to_public()
            organization = Organization(
                name=name,
                slug=slug,
                schema_name=schema_name,
                plan=plan,
                database=database,
                time_zone=time_zone,
                admin_emails=User.objects.normalize_email(admin_email).lower(),
            )
            organization.save()
            Domain.objects.create(domain=domain, tenant=organization, is_primary=True)
            # On the primary this is a savepoint of the same transaction; on another database it is that
            # database's own transaction, committed just before the primary's.
            with placement.using(database), transaction.atomic():
                # The replayed dump carries the template's django_migrations rows (the template holds no
                # customer data), so the clone is already fully migrated, constraint names included. A spare
                # is such a clone made earlier, of the template's current state.
                if database != placement.DEFAULT or not spares.spare_take(schema_name):
                    clone_template(schema_name)
                with schema_context(schema_name):
                    admin_user = User(
                        email=User.objects.normalize_email(admin_email).lower(),
                        role=Role.ADMIN,
                        full_name=admin_name,
                        password=password_hash.result(),
                    )
                    admin_user.save()
            elsewhere_committed = database != placement.DEFAULT
    except BaseException:
        if elsewhere_committed:  # the primary's commit failed after the other database's: undo that one
            schema_drop(schema_name, database=database)
        raise
    return organization


def schema_drop(schema_name: str, *, database: str) -> None:
    with placement.using(database), connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')


# Unique constraints whose name differs between the template and a schema, matched by table and columns.
_RENAMED_CONSTRAINTS = """
SELECT cn.nspname, crel.relname, c.conname, t.conname
FROM pg_constraint t
JOIN pg_class trel ON trel.oid = t.conrelid
JOIN pg_namespace tn ON tn.oid = trel.relnamespace AND tn.nspname = %(template)s
JOIN pg_namespace cn ON cn.nspname = ANY (%(schemas)s)
JOIN pg_class crel ON crel.relnamespace = cn.oid AND crel.relname = trel.relname
JOIN pg_constraint c ON c.conrelid = crel.oid AND c.contype = t.contype
WHERE t.contype = 'u' AND c.conname <> t.conname
  AND (SELECT array_agg(attname ORDER BY attname) FROM pg_attribute
       WHERE attrelid = crel.oid AND attnum = ANY (c.conkey))
    = (SELECT array_agg(attname ORDER BY attname) FROM pg_attribute
       WHERE attrelid = trel.oid AND attnum = ANY (t.conkey))
"""


def constraint_names_align(*schema_names: str) -> int:
    """Give cloned schemas' unique constraints the template's names (django-tenants' clone function, used
    before `cloning.py`, let PostgreSQL name them), so a later migration that drops or alters one by name
    works in every organization. A no-op for schemas cloned since. One query finds them for all the schemas
    (one query per schema took 0.2 s each at 800 organizations). Idempotent; returns how many were renamed."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RENAMED_CONSTRAINTS, {"template": settings.TENANT_BASE_SCHEMA, "schemas": list(schema_names)}
        )
        renames = cursor.fetchall()
        for schema_name, table, current, wanted in renames:
            cursor.execute(
                f'ALTER TABLE "{schema_name}"."{table}" RENAME CONSTRAINT "{current}" TO "{wanted}"'
            )
    return len(renames)


def template_ensure(*, database: str = placement.DEFAULT) -> Organization:
    """Create the template organization (one row, on the primary) and its migrated schema on `database`
    if missing. Idempotent. Another database's public schema must be migrated first (database_prepare)."""
    template = Organization.objects.filter(schema_name=settings.TENANT_BASE_SCHEMA).first()
    if template is None:
        template = Organization(
            name="Template",
            slug=TEMPLATE_SLUG,
            schema_name=settings.TENANT_BASE_SCHEMA,
            status=OrganizationStatus.TEMPLATE,
        )
        template.save()
    with placement.using(database):
        if not schema_exists(template.schema_name):
            template.create_schema(check_if_exists=True, verbosity=0)
    return template


def database_prepare(database: str, *, verbosity: int = 0) -> None:
    """Make a database ready to hold organizations: the shared migrations on its public schema (extensions,
    functions the tenant tables use) and its own migrated template. Idempotent."""
    from django.core.management import call_command

    placement.validate_database(database)
    if database != placement.DEFAULT:
        with placement.using(database):
            call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
    template_ensure(database=database)


def organization_update(
    *,
    organization: Organization,
    name: str | None = None,
    plan: str | None = None,
    status: str | None = None,
    request: HttpRequest | None = None,
) -> Organization:
    if status is not None:
        organization = organization_set_status(organization=organization, status=status, request=request)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = [organization.name, _validate_name(name)]
    if plan is not None:
        changes["plan"] = [organization.plan, _validate_plan(plan)]
    changes = {field: values for field, values in changes.items() if values[0] != values[1]}
    if changes:
        for field, (_before, after) in changes.items():
            setattr(organization, field, after)
        organization.save(update_fields=list(changes))
        platform_audit("organization.updated", organization=organization, request=request, changes=changes)
    return organization


@transaction.atomic
def organization_set_status(
    *, organization: Organization, status: str, request: HttpRequest | None = None
) -> Organization:
    """Suspend or reactivate. Suspended organizations keep every row; their hosts answer 403."""
    if status not in (OrganizationStatus.ACTIVE, OrganizationStatus.SUSPENDED):
        raise InvalidInput("status", "Status must be 'active' or 'suspended'; use DELETE to delete.")
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    if organization.status not in (OrganizationStatus.ACTIVE, OrganizationStatus.SUSPENDED):
        raise StatusChangeNotAllowed(current=organization.status, requested=status)
    if organization.status != status:
        previous, organization.status = organization.status, status
        organization.save(update_fields=["status"])
        action = (
            "organization.suspended" if status == OrganizationStatus.SUSPENDED else "organization.resumed"
        )
        platform_audit(
            action, organization=organization, request=request, changes={"status": [previous, status]}
        )
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization, request: HttpRequest | None = None) -> Organization:
    """Mark deleted and free its subdomain and slug. The data stays, in a renamed schema, until purged.

    The schema is renamed on the organization's own database, last: on the primary inside this transaction;
    on another database just before this transaction commits."""
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    if organization.status in (OrganizationStatus.DELETED, OrganizationStatus.TEMPLATE):
        raise StatusChangeNotAllowed(current=organization.status, requested=OrganizationStatus.DELETED)
    Domain.objects.filter(tenant=organization).delete()
    current, parked = organization.schema_name, f"{organization.schema_name}__deleted_{organization.pk}"
    organization.schema_name = parked
    organization.status = OrganizationStatus.DELETED
    organization.deleted_at = timezone.now()
    organization.save(update_fields=["schema_name", "status", "deleted_at"])
    with placement.using(organization.database), connection.cursor() as cursor:
        cursor.execute(f'ALTER SCHEMA "{current}" RENAME TO "{parked}"')
    platform_audit("organization.deleted", organization=organization, request=request)
    return organization


@transaction.atomic
def organization_purge(
    *, organization: Organization, confirm: str, request: HttpRequest | None = None
) -> None:
    """Drop a deleted organization's schema and row for good, and what it kept outside its schema (cache
    entries in Redis, export files). The slug must be typed again."""
    if confirm != organization.slug:
        raise InvalidInput(
            "confirm", "Type the organization's slug to confirm the purge.", code="confirmation_mismatch"
        )
    if organization.status != OrganizationStatus.DELETED:
        raise Conflict("Only a deleted organization can be purged; delete it first.", code="not_deleted")
    organization_id = organization.pk
    with placement.using(organization.database):  # the schema is dropped where it lives
        connection.set_schema_to_public()
        organization.delete(force_drop=True)
    organization.pk = organization_id  # delete() cleared it; the log names the organization that was
    platform_audit("organization.purged", organization=organization, request=request)
    namespace.leftovers_remove(organization_id)


def _validate_hostname(domain: object) -> str:
    if not isinstance(domain, str) or not domain:
        raise InvalidInput("domain", "A domain is required.", code="required")
    domain = domain.strip().lower().rstrip(".")
    if not HOSTNAME_RE.match(domain):
        raise InvalidInput(
            "domain", "Enter a valid host name such as crm.example.com.", code="invalid_domain"
        )
    base = settings.BASE_DOMAIN
    if domain == base or domain.endswith("." + base):
        raise InvalidInput(
            "domain",
            f"Hosts under {base} are organization subdomains, not custom domains.",
            code="reserved_domain",
        )
    return domain


def domain_add(*, organization: Organization, domain: str, request: HttpRequest | None = None) -> Domain:
    domain = _validate_hostname(domain)
    if organization.status not in (OrganizationStatus.ACTIVE, OrganizationStatus.SUSPENDED):
        raise StatusChangeNotAllowed("Deleted organizations cannot get domains.", current=organization.status)
    if Domain.objects.filter(domain=domain).exists():
        raise DomainTaken(domain=domain)
    try:
        with transaction.atomic():
            row = Domain.objects.create(domain=domain, tenant=organization, is_primary=False)
    except IntegrityError as exc:
        raise DomainTaken(domain=domain) from exc
    platform_audit("domain.added", organization=organization, request=request, changes={"domain": domain})
    return row


@transaction.atomic
def domain_remove(*, organization: Organization, domain: str, request: HttpRequest | None = None) -> None:
    row = Domain.objects.filter(tenant=organization, domain=(domain or "").lower()).first()
    if row is None:
        raise DomainNotFound(domain=domain)
    if row.is_primary:
        raise PrimaryDomainRequired(domain=domain)
    row.delete()
    platform_audit(
        "domain.removed", organization=organization, request=request, changes={"domain": row.domain}
    )
