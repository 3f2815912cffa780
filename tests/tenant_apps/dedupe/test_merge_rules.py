"""What a merge refuses, and that a refused or failed merge leaves everything as it was."""

import pytest
from django.apps import apps
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity
from tenant_apps.dedupe import services
from tenant_apps.leads.models import Lead
from tests.conftest import client_for
from tests.tenant_apps.dedupe.conftest import RELATED, counts


@pytest.mark.parametrize("spec", services.SPECS.values(), ids=services.SPECS.keys())
def test_merge_moves_every_kind_of_relation(spec):
    """Every foreign key to a mergeable type is moved by the merge; a new one must be added to its spec.
    (merged_into is not: earlier tombstones keep pointing at the merged record, followed when read.)"""
    pointing = {
        (relation.related_model, relation.field.attname)
        for relation in spec.model._meta.get_fields(include_hidden=True)
        if relation.is_relation and relation.auto_created and not relation.concrete
    } - {(spec.model, "merged_into_id")}
    stays = set()
    for label in spec.stays:
        app_model, field = label.rsplit(".", 1)
        if apps.is_installed(f"tenant_apps.{app_model.split('.')[0]}"):
            stays.add((apps.get_model(app_model), field))
    assert pointing - stays == {(relation.model, relation.field) for relation in spec.relations}
    assert set(RELATED[spec.model]) == {relation.label for relation in spec.relations}


@pytest.mark.parametrize("spec", services.SPECS.values(), ids=services.SPECS.keys())
def test_every_column_a_merge_updates_leads_an_index(in_org, spec):
    """Moving rows finds them by index, never by reading a whole table."""
    with connection.cursor() as cursor:
        for relation in spec.relations:
            cursor.execute(
                "SELECT count(*) FROM pg_index i JOIN pg_attribute a"
                " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                " WHERE i.indrelid = %s::regclass AND a.attname = %s",
                [relation.model._meta.db_table, relation.field],
            )
            assert cursor.fetchone()[0] >= 1, (
                f"no index leads with {relation.model.__name__}.{relation.field}"
            )


@pytest.fixture
def pair(in_org, make_lead):
    return make_lead(name="survivor"), make_lead(name="merged")


def merge(client, survivor, merged, fields=None, kind="leads"):
    body = {"survivor": survivor, "merged": merged}
    if fields is not None:
        body["fields"] = fields
    return client.post(f"/api/{kind}/merge/", body, format="json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"survivor": "one", "merged": [2]}, "survivor"),
        ({"survivor": True, "merged": [2]}, "survivor"),
        ({"survivor": 0, "merged": [2]}, "survivor"),
        ({"survivor": 2**64, "merged": [2]}, "survivor"),
        ({"merged": [2]}, "survivor"),
        ({"survivor": 1}, "merged"),
        ({"survivor": 1, "merged": []}, "merged"),
        ({"survivor": 1, "merged": 2}, "merged"),
        ({"survivor": 1, "merged": "2"}, "merged"),
        ({"survivor": 1, "merged": list(range(2, 13))}, "merged"),
        ({"survivor": 1, "merged": [2, 2]}, "merged"),
        ({"survivor": 1, "merged": [1, 2]}, "merged"),
        ({"survivor": 1, "merged": [2, 2**70]}, "merged[1]"),
        ({"survivor": 1, "merged": [2], "fields": ["name"]}, "fields"),
        ({"survivor": 1, "merged": [2], "fields": {"name": "two"}}, "fields.name"),
        ({"survivor": 1, "merged": [2], "fields": {"name": 3}}, "fields"),
        ({"survivor": 1, "merged": [2], "fields": {"stage": 2}}, "fields"),
        ({"survivor": 1, "merged": [2], "fields": {"tags": 2}}, "fields"),
        ({"survivor": 1, "merged": [2], "fields": {"nam\x00e": 2}}, "fields"),
        ({"survivor": 1, "merged": [2], "field": {"name": 2}}, "field"),
    ],
)
def test_bad_merge_input_is_400_naming_the_field(api, in_org, body, field):
    response = api(Role.MANAGER).post("/api/leads/merge/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()


def test_malformed_json_is_400(api):
    response = api(Role.MANAGER).post("/api/leads/merge/", "{nope", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("kind", ["contacts", "accounts"])
def test_field_choices_are_per_record_type(api, in_org, kind, make_contact, make_account):
    make = make_contact if kind == "contacts" else make_account
    survivor, merged = make(name="a"), make(name="b")
    client = api(Role.MANAGER)
    response = merge(client, survivor.pk, [merged.pk], {"company": merged.pk}, kind=kind)  # a lead field
    assert (response.status_code, response.json()["details"]["name"]) == (400, "company")
    assert merge(client, survivor.pk, [merged.pk], {"name": merged.pk}, kind=kind).status_code == 200


def test_unknown_ids_are_404_and_name_them(api, pair):
    survivor, merged = pair
    client = api(Role.MANAGER)
    response = merge(client, survivor.pk, [merged.pk, 987654321])
    assert (response.status_code, response.json()["code"]) == (404, "lead_not_found")
    assert response.json()["details"]["ids"] == [987654321]
    assert merge(client, 987654321, [merged.pk]).status_code == 404
    assert merge(client, survivor.pk, [merged.pk], kind="contacts").json()["code"] == "contact_not_found"
    assert not Lead.objects.filter(merged_into__isnull=False).exists()


def test_deleted_and_already_merged_records_are_409(api, in_org, admin, make_lead):
    survivor, deleted, merged, other = (make_lead(name=name) for name in ("s", "d", "m", "o"))
    services.lead_merge(survivor_id=other.pk, merged_ids=[merged.pk], field_winners={}, actor=admin)
    client = api(Role.MANAGER)
    client.delete(f"/api/leads/{deleted.pk}/")
    before = {lead.pk: counts(lead) for lead in (survivor, deleted, merged, other)}

    response = merge(client, survivor.pk, [deleted.pk])
    assert (response.status_code, response.json()["code"]) == (409, "record_deleted")
    response = merge(client, deleted.pk, [survivor.pk])
    assert (response.status_code, response.json()["code"]) == (409, "record_deleted")
    response = merge(client, survivor.pk, [merged.pk])
    assert (response.status_code, response.json()["code"]) == (409, "already_merged")
    assert response.json()["details"]["survivors"] == {str(merged.pk): other.pk}
    assert merge(client, merged.pk, [survivor.pk]).status_code == 409

    assert {lead.pk: counts(lead) for lead in (survivor, deleted, merged, other)} == before
    assert Lead.objects.get(pk=survivor.pk).merged_into_id is None


def test_too_many_tags_together_is_400_and_merges_nothing(api, in_org, make_lead):
    survivor = make_lead(tags=[f"a{index}" for index in range(15)])
    merged = make_lead(tags=[f"b{index}" for index in range(10)])
    response = merge(api(Role.MANAGER), survivor.pk, [merged.pk])
    assert (response.status_code, response.json()["code"]) == (400, "too_many_tags")
    assert "tags" in response.json()["errors"]
    assert Lead.objects.get(pk=merged.pk).merged_into_id is None


def test_a_merge_that_fails_half_way_writes_nothing(in_org, admin, monkeypatch, make_lead, busy):
    survivor, merged = make_lead(name="survivor", company="Acme"), make_lead(name="merged", company="Initech")
    busy(merged, notes=2, calls=2, tasks=2)
    before = {lead.pk: counts(lead) for lead in (survivor, merged)}

    def broken(**kwargs):
        raise RuntimeError("the MERGED activity could not be written")

    monkeypatch.setattr(services, "activity_record", broken)  # runs after every row has moved
    with pytest.raises(RuntimeError):
        services.lead_merge(
            survivor_id=survivor.pk, merged_ids=[merged.pk], field_winners={"company": merged.pk}, actor=admin
        )

    assert {lead.pk: counts(lead) for lead in (survivor, merged)} == before
    assert Lead.objects.get(pk=survivor.pk).company == "Acme"
    assert Lead.objects.get(pk=merged.pk).merged_into_id is None
    # and the reassign switch did not outlive the failed merge
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('leadpulse.reassign', true)")
        assert cursor.fetchone()[0] in (None, "", "off")


def test_a_merge_in_one_organization_never_touches_anothers_rows(api, org, other_org, make_lead):
    ours = [make_lead(name=f"acme {index}") for index in range(2)]
    theirs = [make_lead(name=f"globex {index}", organization=other_org) for index in range(2)]
    with schema_context(other_org.schema_name):
        globex_before = {
            lead.pk: (counts(lead), Lead.objects.get(pk=lead.pk).merged_into_id) for lead in theirs
        }
        globex_activities = Activity.objects.count()
    acme = api(Role.ADMIN)

    # globex's ids sent to acme's host name acme's rows (or none): never globex's
    response = merge(acme, theirs[0].pk, [theirs[1].pk])
    assert response.status_code in (200, 404)
    response = merge(acme, ours[0].pk, [ours[1].pk])
    assert response.status_code in (200, 404, 409)

    with schema_context(other_org.schema_name):
        assert {
            lead.pk: (counts(lead), Lead.objects.get(pk=lead.pk).merged_into_id) for lead in theirs
        } == globex_before
        assert Activity.objects.count() == globex_activities
        assert not Lead.objects.filter(merged_into__isnull=False).exists()
    with schema_context(org.schema_name):
        assert Lead.objects.filter(pk__in=[lead.pk for lead in ours], merged_into__isnull=False).exists()


def test_merge_endpoints_require_a_member(org):
    anonymous = client_for(org)
    for kind in ("leads", "contacts", "accounts"):
        assert anonymous.post(f"/api/{kind}/merge/", {}, format="json").status_code == 401
        assert anonymous.get(f"/api/{kind}/1/duplicates/").status_code == 401
