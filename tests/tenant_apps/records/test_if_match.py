"""Optimistic concurrency, the same for every record type that answers with an ETag (leads, accounts,
contacts, opportunities, tasks): a write sent with a stale If-Match is refused with 412 and changes nothing;
a read sent with the current ETag in If-None-Match answers 304."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.tasks.services import task_create

KINDS = ["lead", "account", "contact", "opportunity", "task"]
PATHS = {
    "lead": "/api/leads/{}/",
    "account": "/api/accounts/{}/",
    "contact": "/api/contacts/{}/",
    "opportunity": "/api/opportunities/{}/",
    "task": "/api/tasks/{}/",
}
NAME_FIELD = {"task": "title"}


@pytest.fixture
def make_record(
    org: Organization,
    admin: User,
    make_lead: Callable[..., Any],
    make_account: Callable[..., Any],
    make_contact: Callable[..., Any],
    make_opportunity: Callable[..., Any],
) -> Callable[[str], Any]:
    """make_record(kind) builds one record of that kind through its service, in acme."""

    def make(kind: str) -> Any:
        if kind == "task":
            with schema_context(org.schema_name):
                return task_create(actor=admin, title="Call back", lead_id=make_lead().pk)
        return {
            "lead": make_lead,
            "account": make_account,
            "contact": make_contact,
            "opportunity": make_opportunity,
        }[kind]()

    return make


def _name_of(org: Organization, record: Any) -> str:
    with schema_context(org.schema_name):
        record.refresh_from_db()
    return str(getattr(record, NAME_FIELD.get(record._meta.model_name, "name")))


@pytest.mark.parametrize("kind", KINDS)
def test_a_patch_with_a_stale_if_match_is_refused_and_changes_nothing(
    kind: str, org: Organization, api: Callable[..., Any], make_record: Callable[[str], Any]
) -> None:
    record = make_record(kind)
    path, field = PATHS[kind].format(record.pk), NAME_FIELD.get(kind, "name")
    alice, bob = api(Role.MANAGER), api(Role.MANAGER)
    etag = alice.get(path)["ETag"]

    first = alice.patch(path, {field: "Alice's"}, format="json", HTTP_IF_MATCH=etag)
    assert first.status_code == 200 and first["ETag"] != etag
    second = bob.patch(path, {field: "Bob's"}, format="json", HTTP_IF_MATCH=etag)
    assert (second.status_code, second.json()["code"]) == (412, "precondition_failed")
    assert second.json()["details"]["current_etag"] == first["ETag"]
    assert _name_of(org, record) == "Alice's"

    third = bob.patch(path, {field: "Bob's"}, format="json", HTTP_IF_MATCH=first["ETag"])
    assert third.status_code == 200 and _name_of(org, record) == "Bob's"
    # without If-Match, last write wins as before
    assert bob.patch(path, {field: "Plain"}, format="json").status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_a_delete_with_a_stale_if_match_is_refused(
    kind: str, org: Organization, api: Callable[..., Any], make_record: Callable[[str], Any]
) -> None:
    record = make_record(kind)
    path = PATHS[kind].format(record.pk)
    client = api(Role.ADMIN)
    stale = client.get(path)["ETag"]
    client.patch(path, {NAME_FIELD.get(kind, "name"): "Changed"}, format="json")
    if kind == "task":  # tasks are not deleted; their state changes through transitions
        refused = client.post(f"{path}complete/", HTTP_IF_MATCH=stale)
    else:
        refused = client.delete(path, HTTP_IF_MATCH=stale)
    assert refused.status_code == 412
    assert client.get(path).status_code == 200
    if kind == "task":
        assert client.get(path).json()["status"] == "open"


@pytest.mark.parametrize("kind", KINDS)
def test_a_read_with_the_current_etag_in_if_none_match_answers_304(
    kind: str, api: Callable[..., Any], make_record: Callable[[str], Any]
) -> None:
    path = PATHS[kind].format(make_record(kind).pk)
    client = api(Role.VIEWER)
    etag = client.get(path)["ETag"]

    not_modified = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == etag
    assert client.get(path, HTTP_IF_NONE_MATCH=f'"stale", W/{etag}').status_code == 304
    assert client.get(path, HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_if_match_on_a_record_the_member_may_not_see_is_a_404_not_a_412(
    org: Organization, admin: User, api: Callable[..., Any], make_lead: Callable[..., Any]
) -> None:
    assert not org.reps_see_all_leads  # acme keeps reps to their own leads and unassigned ones
    hidden = make_lead(owner_id=admin.pk)
    rep = api(Role.REP)
    refused = rep.patch(f"/api/leads/{hidden.pk}/", {"name": "x"}, format="json", HTTP_IF_MATCH='"0"')
    assert refused.status_code == 404 and "current_etag" not in refused.json()["details"]
