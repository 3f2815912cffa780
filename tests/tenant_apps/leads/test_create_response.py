"""POST /api/leads/ answers the lead as it wrote it, without reading it back, unless work its creation queued
(automation: a rule answering lead.created, routing, scoring) may have changed it since, or its owner is
another member: the response is the one a read of the new lead gives, either way."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shared_apps.users.models import Role
from tests.conftest import client_for

CUSTOM_FIELDS = [
    {"key": "region", "type": "text"},
    {"key": "size", "type": "number"},
    {"key": "budget", "type": "money"},
    {"key": "renewal", "type": "date"},
    {"key": "met_at", "type": "datetime"},
    {"key": "vip", "type": "boolean"},
    {"key": "topics", "type": "multi_select", "options": ["A", "B", "C"]},
    {"key": "site", "type": "url"},
]
CUSTOM_VALUES = {
    "region": "  EMEA ",
    "size": 12.50,
    "budget": {"amount": "1000"},
    "renewal": "2027-01-31",
    "met_at": "2026-12-01T09:30:00+01:00",
    "vip": True,
    "topics": ["c", "A"],
    "site": "https://example.com/x",
}


def _statements_after_commit(queries: CaptureQueriesContext) -> list[str]:
    """What the request ran once lead_create's transaction ended (a savepoint in the test's transaction)."""
    statements = [query["sql"] for query in queries.captured_queries]
    ends = [i for i, sql in enumerate(statements) if sql == "COMMIT" or sql.startswith("RELEASE SAVEPOINT")]
    return statements[ends[-1] + 1 :]


def _reads_back(statements: list[str]) -> bool:
    return any(sql.startswith("SELECT") and '"leads_lead"' in sql for sql in statements)


@pytest.mark.parametrize(
    ("role", "body"),
    [
        (Role.ADMIN, {"name": "Bare"}),  # no owner, value and tags at their defaults
        (Role.REP, {"name": "A rep's", "value": "0"}),  # the rep's own lead (routing off)
        (
            Role.MANAGER,
            {
                "name": "  Jane   Doe ",
                "email": "Jane@Example.COM",
                "phone": "+1 (555) 010-9999",
                "company": "Initech",
                "source": "referral",
                "value": "12500.5",
                "currency": "eur",
                "tags": ["VIP", " big  deal", "vip"],
                "score": -7,
                "custom": CUSTOM_VALUES,
            },
        ),
        (Role.ADMIN, {"name": "Unicode ✓ ünïcødé", "company": "Ça va", "tags": ["é"], "value": 40800}),
    ],
)
def test_the_create_answers_what_a_read_of_the_new_lead_answers(api, org, member, role, body):
    admin = api(Role.ADMIN)
    for field in CUSTOM_FIELDS:
        definition = {"record_type": "lead", "label": field["key"].title(), **field}
        defined = admin.post("/api/custom-fields/", definition, format="json")
        assert defined.status_code == 201, defined.content
    creator = member(role=role)
    client = client_for(org, creator)
    with CaptureQueriesContext(connection) as queries:
        created = client.post("/api/leads/", body, format="json")
    assert created.status_code == 201, created.content
    assert not _reads_back(_statements_after_commit(queries))
    read = client.get(f"/api/leads/{created.json()['id']}/")
    assert read.status_code == 200
    assert created.json() == read.json()
    assert created.content == read.content  # byte for byte: key order, number and date formats
    assert created["ETag"] == read["ETag"]


def test_a_lead_the_creator_owns_is_answered_with_them_as_owner(api, org, member):
    admin = member(role=Role.ADMIN)
    client = client_for(org, admin)
    with CaptureQueriesContext(connection) as queries:
        created = client.post("/api/leads/", {"name": "Mine", "owner": admin.pk}, format="json")
    assert created.status_code == 201, created.content
    assert not _reads_back(_statements_after_commit(queries))
    assert created.json()["owner"] == {"id": admin.pk, "email": admin.email, "full_name": admin.full_name}
    assert created.content == client.get(f"/api/leads/{created.json()['id']}/").content


def test_a_lead_owned_by_another_member_is_read_back(api, org, member):
    rep = member(role=Role.REP)
    client = api(Role.MANAGER)
    with CaptureQueriesContext(connection) as queries:
        created = client.post("/api/leads/", {"name": "Theirs", "owner": rep.pk}, format="json")
    assert created.status_code == 201, created.content
    assert _reads_back(_statements_after_commit(queries))
    assert created.json()["owner"]["id"] == rep.pk
    assert created.content == client.get(f"/api/leads/{created.json()['id']}/").content


AUTOMATION = {
    "a rule answering lead.created": (
        "/api/rules/",
        {
            "name": "Tag new leads",
            "trigger": {"type": "lead_created"},
            "conditions": [],
            "actions": [{"type": "add_tag", "tag": "fresh"}],
        },
    ),
    "routing": ("/api/routing/", {"strategy": "round_robin", "members": "admin"}),
    "scoring": (
        "/api/scoring-rules/",
        {"name": "Calls", "kind": "activity_count", "activity_type": "CALL", "points": 2, "within_days": 30},
    ),
}


@pytest.mark.parametrize("automation", list(AUTOMATION))
def test_the_lead_is_read_back_when_automation_may_change_it(org, member, automation):
    admin = member(role=Role.ADMIN)
    client = client_for(org, admin)
    path, body = AUTOMATION[automation]
    if body.get("members") == "admin":
        body = {**body, "members": [admin.pk]}
    response = client.post(path, body, format="json")
    assert response.status_code in (200, 201), response.content
    with CaptureQueriesContext(connection) as queries:
        created = client.post("/api/leads/", {"name": "Watched"}, format="json")
    assert created.status_code == 201, created.content
    assert _reads_back(_statements_after_commit(queries))
    # the queued work has not run (no worker here): the lead is as created
    assert created.content == client.get(f"/api/leads/{created.json()['id']}/").content


def test_without_automation_the_create_reads_nothing_after_its_commit(api):
    client = api(Role.ADMIN)
    client.post("/api/leads/", {"name": "Warm"}, format="json")  # routing cache, token last_used_at
    with CaptureQueriesContext(connection) as queries:
        created = client.post("/api/leads/", {"name": "Quiet"}, format="json")
    assert created.status_code == 201, created.content
    assert _statements_after_commit(queries) == []
