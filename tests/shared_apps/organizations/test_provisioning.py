import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from shared_apps.core.errors import Conflict, InvalidInput
from shared_apps.organizations.exceptions import DomainTaken, SlugTaken
from shared_apps.organizations.models import Domain, Organization, OrganizationStatus
from shared_apps.organizations.services import organization_provision, validate_slug
from shared_apps.users.models import Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("public")


def provision(slug: str = "initech", **overrides):
    fields = {"name": "Initech", "slug": slug, "admin_email": "Boss@Initech.test", "admin_password": PASSWORD}
    return organization_provision(**{**fields, **overrides})


def leftovers(slug: str) -> dict:
    return {
        "organization": Organization.objects.filter(slug=slug).exists(),
        "domain": Domain.objects.filter(domain=f"{slug}.{settings.BASE_DOMAIN}").exists(),
        "schema": schema_exists(f"org_{slug.replace('-', '_')}"),
    }


def test_provisioning_creates_organization_domain_schema_and_admin():
    organization = provision("initech")

    assert organization.status == OrganizationStatus.ACTIVE
    assert organization.schema_name == "org_initech"
    assert list(organization.domains.values_list("domain", "is_primary")) == [
        (f"initech.{settings.BASE_DOMAIN}", True)
    ]
    with schema_context("org_initech"):
        admin = User.objects.get()
        assert (admin.email, admin.role, admin.check_password(PASSWORD)) == (
            "boss@initech.test",
            Role.ADMIN,
            True,
        )
        # The clone carries the template's migration history: the schema is fully migrated.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'users'")
            assert cursor.fetchone()[0] >= 1


def test_hyphenated_slug_gets_a_safe_schema_name():
    organization = provision("big-co-2")
    assert organization.schema_name == "org_big_co_2"
    assert schema_exists("org_big_co_2")


@pytest.mark.parametrize(
    ("slug", "code"),
    [
        ("ab", "invalid_slug"),
        ("a" * 41, "invalid_slug"),
        ("Acme", "invalid_slug"),
        ("acme_corp", "invalid_slug"),
        ("-acme", "invalid_slug"),
        ("acme-", "invalid_slug"),
        ("ac--me", "invalid_slug"),
        ("acmé", "invalid_slug"),
        ("ac me", "invalid_slug"),
        ("www", "reserved_slug"),
        ("admin", "reserved_slug"),
        ("public", "reserved_slug"),
        ("platform", "reserved_slug"),
        ("template", "reserved_slug"),
        ("", "required"),
    ],
)
def test_bad_slugs_are_refused_with_the_field_named(slug, code):
    with pytest.raises(InvalidInput) as caught:
        validate_slug(slug)
    assert (caught.value.field, caught.value.code) == ("slug", code)


def test_duplicate_slug_is_a_conflict_and_changes_nothing():
    with pytest.raises(SlugTaken):
        provision("acme")
    assert Organization.objects.filter(slug="acme").count() == 1


def test_weak_admin_password_names_the_field_and_creates_nothing():
    with pytest.raises(InvalidInput) as caught:
        provision("weakling", admin_password="123")
    assert caught.value.field == "admin_password"
    assert leftovers("weakling") == {"organization": False, "domain": False, "schema": False}


def test_failure_while_cloning_leaves_no_row_or_domain_behind():
    # A schema with the target name already exists (e.g. left by hand): the clone step fails.
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA org_clash")
    with pytest.raises(Conflict) as caught:
        provision("clash")
    assert caught.value.code == "schema_exists"
    assert not Organization.objects.filter(slug="clash").exists()
    assert not Domain.objects.filter(domain__startswith="clash.").exists()


def test_failure_after_the_schema_was_cloned_drops_the_schema_too():
    # The primary domain is already taken (legacy row): the step after the clone fails.
    acme = Organization.objects.get(slug="acme")
    Domain.objects.create(domain=f"late.{settings.BASE_DOMAIN}", tenant=acme, is_primary=False)
    with pytest.raises(DomainTaken):
        provision("late")
    assert leftovers("late") == {"organization": False, "domain": True, "schema": False}
    assert Domain.objects.get(domain=f"late.{settings.BASE_DOMAIN}").tenant == acme


def test_a_clone_keeps_the_templates_constraint_names():
    provision("namesake")
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT n.nspname, rel.relname, c.conname FROM pg_constraint c
               JOIN pg_class rel ON rel.oid = c.conrelid JOIN pg_namespace n ON n.oid = rel.relnamespace
               WHERE n.nspname IN ('org_template', 'org_namesake')"""
        )
        names: dict[str, set] = {"org_template": set(), "org_namesake": set()}
        for schema, table, name in cursor.fetchall():
            names[schema].add((table, name))
    assert names["org_namesake"] == names["org_template"]
