"""A lead's creation checks the do-not-contact list in the round trip of its duplicate locks (all taken in
one statement): the refusals, and which comes first, stay as they were."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.leads.models import Lead
from tenant_apps.privacy.services import suppress
from tests.conftest import client_for


@pytest.fixture
def listed(org):
    with schema_context(org.schema_name):
        suppress("gone@example.test", "unsubscribed")
    return "Gone@Example.test"


def test_a_listed_address_is_refused_before_it_is_found_a_duplicate(api, org, make_lead):
    make_lead(name="Earlier", email="gone@example.test")
    with schema_context(org.schema_name):
        suppress("gone@example.test", "unsubscribed")
    listed = "Gone@Example.test"
    client = api(Role.ADMIN)
    for extra in ({}, {"allow_duplicate": True}):
        refused = client.post("/api/leads/", {"name": "Again", "email": listed, **extra}, format="json")
        assert refused.status_code == 400, refused.content
        assert (refused.json()["code"], refused.json()["details"]) == (
            "do_not_contact",
            {"reason": "unsubscribed"},
        )
    duplicate = client.post(
        "/api/leads/", {"name": "Again", "email": listed, "allow_do_not_contact": True}, format="json"
    )
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "duplicate_lead")
    both = {"name": "Again", "email": listed, "allow_do_not_contact": True, "allow_duplicate": True}
    assert client.post("/api/leads/", both, format="json").status_code == 201
    with schema_context(org.schema_name):
        assert Lead.objects.filter(email="gone@example.test").count() == 2


def test_a_refused_create_writes_nothing(api, org, listed):
    refused = api(Role.ADMIN).post("/api/leads/", {"name": "Nope", "email": listed}, format="json")
    assert refused.status_code == 400
    with schema_context(org.schema_name):
        assert not Lead.objects.filter(name="Nope").exists()


def test_the_list_is_read_in_the_round_trip_of_the_duplicate_locks(api, listed):
    client = api(Role.ADMIN)
    client.post("/api/leads/", {"name": "Warm"}, format="json")  # routing cache, token last_used_at
    body = {"name": "Jane", "email": "jane@example.test", "phone": "+1 555 010 9999", "company": "Initech"}
    with CaptureQueriesContext(connection) as queries:
        created = client.post("/api/leads/", body, format="json")
    assert created.status_code == 201, created.content
    statements = [query["sql"] for query in queries.captured_queries if not query["sql"].startswith("SET ")]
    assert statements[0].startswith("SAVEPOINT")  # nothing before the transaction (its BEGIN, when served)
    locking = [sql for sql in statements if "pg_advisory_xact_lock" in sql]
    listing = [sql for sql in statements if "privacy_donotcontact" in sql]
    assert len(locking) == 1 and listing == locking, statements
    # the three keys' locks, in one order
    keys = [
        f"{connection.schema_name}:{key}" for key in ("+15550109999", "initech|jane", "jane@example.test")
    ]
    assert locking[0].index(keys[0]) < locking[0].index(keys[1]) < locking[0].index(keys[2]), locking[0]


def test_an_address_allowed_on_the_list_is_not_read(api):
    client = api(Role.ADMIN)
    client.post("/api/leads/", {"name": "Warm"}, format="json")
    with CaptureQueriesContext(connection) as queries:
        created = client.post(
            "/api/leads/",
            {"name": "Pat", "email": "pat@example.test", "allow_do_not_contact": True},
            format="json",
        )
    assert created.status_code == 201, created.content
    assert not any("privacy_donotcontact" in query["sql"] for query in queries.captured_queries)


def test_the_first_key_with_a_live_match_names_the_duplicate(api, make_lead):
    by_identity = make_lead(name="Jane Doe", company="Initech")
    by_phone = make_lead(name="Phone", phone="+1 555 010 7777")
    by_email = make_lead(name="Email", email="jane@example.test")
    make_lead(name="Email later", email="jane@example.test")  # the first by id is named
    client = api(Role.ADMIN)
    body = {"name": "Jane Doe", "company": "Initech", "phone": "+1-555-010-7777"}
    cases = [
        ({**body, "email": "jane@example.test"}, "email", by_email.pk),
        (body, "phone", by_phone.pk),
        ({"name": "Jane Doe", "company": "Initech, Inc."}, "company and name", by_identity.pk),
    ]
    for sent, matched_on, existing_id in cases:
        refused = client.post("/api/leads/", sent, format="json")
        assert refused.status_code == 409, refused.content
        assert refused.json()["details"] == {"existing_id": existing_id, "matched_on": matched_on}


def test_a_rep_is_not_told_the_id_of_a_duplicate_they_cannot_see(org, make_lead, member):
    rep, other = member(role=Role.REP), member(role=Role.REP)
    make_lead(name="Theirs", email="theirs@example.test", owner_id=other.pk)
    mine = make_lead(name="Mine", email="mine@example.test", owner_id=rep.pk)
    client = client_for(org, rep)
    for email, details in (
        ("theirs@example.test", {"matched_on": "email"}),
        ("mine@example.test", {"existing_id": mine.pk, "matched_on": "email"}),
    ):
        refused = client.post("/api/leads/", {"name": "Again", "email": email}, format="json")
        assert refused.status_code == 409, refused.content
        assert refused.json()["details"] == details


def test_the_duplicate_keys_are_looked_up_in_one_query(api):
    client = api(Role.ADMIN)
    client.post("/api/leads/", {"name": "Warm"}, format="json")
    body = {"name": "Jane", "email": "jane@example.test", "phone": "+1 555 010 9999", "company": "Initech"}
    with CaptureQueriesContext(connection) as queries:
        created = client.post("/api/leads/", body, format="json")
    assert created.status_code == 201, created.content
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("SELECT", "(SELECT"))]
    lookups = [sql for sql in reads if '"leads_lead"' in sql]
    assert len(lookups) == 1, reads
