"""Imports do not bring back a person whose address is on the do-not-contact list."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tenant_apps.contacts.models import Contact
from tenant_apps.privacy.services import suppress
from tests.tenant_apps.imports.conftest import assert_counts_add_up, csv_rows, leads


@pytest.mark.parametrize("policy", ["skip", "update", "create"])
def test_a_listed_address_is_skipped_and_errors_csv_says_why(imported, org, client, policy):
    with schema_context(org.schema_name):
        suppress("gone@example.com", "erased")
        suppress("left@example.com", "unsubscribed")
    done = imported(
        "name,email\nKept,kept@example.com\nGone,GONE@example.com\nLeft, left@example.com \n",
        duplicate_policy=policy,
    )
    assert (done.imported, done.skipped, done.failed) == (1, 2, 0)
    assert [lead["email"] for lead in leads(org)] == ["kept@example.com"]
    rows = csv_rows(client.get(f"/api/imports/{done.pk}/errors.csv"))
    assert [(row["line"], row["outcome"], row["code"], row["field"], row["message"]) for row in rows] == [
        ("3", "skipped", "do_not_contact", "email", "the address is on the do-not-contact list (erased)"),
        (
            "4",
            "skipped",
            "do_not_contact",
            "email",
            "the address is on the do-not-contact list (unsubscribed)",
        ),
    ]
    assert_counts_add_up(done)


def test_contacts_are_skipped_alike(imported, org):
    with schema_context(org.schema_name):
        suppress("gone@example.com", "bounced")
    done = imported("name,email\nGone,gone@example.com\nKept,kept@example.com\n", record_type="contact")
    assert (done.imported, done.skipped) == (1, 1)
    with schema_context(org.schema_name):
        assert list(Contact.objects.values_list("email", flat=True)) == ["kept@example.com"]


def test_an_erased_person_is_not_imported_back(imported, org, api, make_lead):
    make_lead(name="Jane Gone", email="jane@example.com")
    erased = api().post("/api/privacy/erase/", {"email": "jane@example.com"}, format="json")
    assert erased.status_code == 200, erased.content
    done = imported("name,email\nJane Gone,jane@example.com\n")
    assert (done.imported, done.skipped) == (0, 1)
    assert [lead["name"] for lead in leads(org)] == ["Erased person"]
