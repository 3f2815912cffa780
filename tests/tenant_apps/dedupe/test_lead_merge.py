from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from shared_apps.core.events import subscribe
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.selectors import activity_list
from tenant_apps.activities.services import email_record
from tenant_apps.dedupe import services
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.records import normalize
from tests.conftest import client_for
from tests.tenant_apps.dedupe.conftest import counts, total


def test_merging_leads_takes_the_chosen_fields_unites_tags_and_moves_every_related_row(
    org,
    in_org,
    admin,
    member,
    make_lead,
    make_account,
    make_opportunity,
    busy,
    django_capture_on_commit_callbacks,
):
    rep = member(role=Role.REP)
    survivor = make_lead(
        name="Jane Doe", email="jane@acme.test", company="Acme", tags=["vip"], stage=Stage.CONTACTED
    )
    first = make_lead(name="Jane D.", phone="+1 (555) 010-9999", company="ACME, Inc.", tags=["q4", "vip"])
    second = make_lead(name="J. Doe", value="500.00", owner_id=rep.pk, tags=["inbound"])
    older = make_lead(name="Jane Doe (old import)")
    services.lead_merge(survivor_id=first.pk, merged_ids=[older.pk], field_winners={}, actor=admin)
    busy(survivor)
    busy(first, notes=2, calls=0, tasks=2)
    busy(second, notes=0, calls=3, tasks=0)
    make_opportunity(make_account(), source_lead=first)
    contacted = timezone.now() - timedelta(hours=1)
    Lead.objects.filter(pk=survivor.pk).update(last_contacted_at=contacted - timedelta(days=3))
    Lead.objects.filter(pk=first.pk).update(last_contacted_at=None)
    Lead.objects.filter(pk=second.pk).update(last_contacted_at=contacted)
    own, before = counts(survivor), total(survivor, first, second)
    assert all(before.values()), before
    assert Lead.objects.get(pk=older.pk).merged_into_id == first.pk

    manager = member(role=Role.MANAGER)
    events = []
    undo = subscribe("lead.merged", events.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(org, manager).post(
            "/api/leads/merge/",
            {
                "survivor": survivor.pk,
                "merged": [second.pk, first.pk],
                "fields": {
                    "phone": first.pk,
                    "company": first.pk,
                    "value": second.pk,
                    "owner": second.pk,
                    "name": survivor.pk,
                },
            },
            format="json",
        )
    undo()

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["survivor_id"], body["merged_ids"]) == (survivor.pk, [second.pk, first.pk])
    lead = Lead.objects.get(pk=survivor.pk)
    assert (lead.name, lead.email, lead.phone, lead.company) == (
        "Jane Doe",
        "jane@acme.test",
        "+1 (555) 010-9999",
        "ACME, Inc.",
    )
    assert (lead.value, lead.owner_id, lead.stage) == (Decimal("500.00"), rep.pk, Stage.CONTACTED)
    # the keys duplicate detection relies on follow the new values
    assert lead.phone_normalized == normalize.phone(lead.phone) == "+15550109999"
    assert lead.identity_key == normalize.identity_key("Jane Doe", "ACME, Inc.")
    assert lead.tags == ["vip", "inbound", "q4"]
    assert lead.last_contacted_at == contacted

    # nothing is lost: the survivor holds the sum, plus its MERGED activity
    assert counts(lead) == {**before, "activities": before["activities"] + 1}
    assert body["moved"] == {kind: before[kind] - own[kind] for kind in before}
    for merged in (first, second):
        assert not any(counts(merged).values()), counts(merged)
        tombstone = Lead.objects.get(pk=merged.pk)
        assert tombstone.merged_into_id == survivor.pk and tombstone.merged_at is not None
        assert tombstone.name == merged.name  # the tombstone keeps its own values
    # a lead merged earlier into a merged lead leads to the final survivor
    older_url = client_for(org, manager).get(f"/api/leads/{older.pk}/")
    assert (older_url.status_code, older_url.json()["details"]) == (301, {"survivor_id": survivor.pk})
    # every CREATED stays: the survivor's own and the ones that came with the merged timelines
    assert Activity.objects.filter(lead=lead, type=ActivityType.CREATED).count() == 4

    merged_activity = Activity.objects.get(pk=body["activity"]["id"])
    assert (merged_activity.lead_id, merged_activity.type, merged_activity.actor_id) == (
        survivor.pk,
        ActivityType.MERGED,
        manager.pk,
    )
    assert f"#{second.pk}, #{first.pk}" in merged_activity.subject
    assert merged_activity.metadata == {
        "merged_ids": [second.pk, first.pk],
        "fields": {
            "phone": first.pk,
            "company": first.pk,
            "value": second.pk,
            "owner": second.pk,
            "name": survivor.pk,
        },
        "changes": {
            "phone": ["", "+1 (555) 010-9999"],
            "company": ["Acme", "ACME, Inc."],
            "value": ["0.00", "500.00"],
            "owner": [None, rep.pk],
        },
        "tags_added": ["inbound", "q4"],
        "moved": body["moved"],
    }
    assert [(event.record_id, event.actor_id, event.data["merged_ids"]) for event in events] == [
        (survivor.pk, manager.pk, [second.pk, first.pk])
    ]


def test_a_merged_lead_answers_301_with_its_survivor_and_leaves_lists(api, in_org, admin, make_lead):
    survivor, merged = make_lead(name="keeper"), make_lead(name="gone")
    services.lead_merge(survivor_id=survivor.pk, merged_ids=[merged.pk], field_winners={}, actor=admin)
    client = api(Role.MANAGER)

    response = client.get(f"/api/leads/{merged.pk}/")
    assert response.status_code == 301
    assert response.json()["code"] == "merged"
    assert response.json()["details"] == {"survivor_id": survivor.pk}
    assert response["Location"] == f"/api/leads/{survivor.pk}/"
    assert client.get(f"/api/leads/{survivor.pk}/").json()["name"] == "keeper"
    assert [row["name"] for row in client.get("/api/leads/").json()["results"]] == ["keeper"]
    assert client.get(f"/api/leads/{merged.pk}/activities/").status_code == 404
    # a deleted lead that was never merged is still plainly gone
    deleted = make_lead()
    client.delete(f"/api/leads/{deleted.pk}/")
    assert client.get(f"/api/leads/{deleted.pk}/").status_code == 404


def test_an_email_both_leads_recorded_stays_once_on_the_survivor(in_org, admin, make_lead):
    survivor, merged = make_lead(), make_lead()
    fields = {"message_id": "<same@mail.test>", "from": "jane@acme.test", "subject": "Hello"}
    email_record(lead_id=survivor.pk, actor=admin, fields=fields)
    duplicate = email_record(lead_id=merged.pk, actor=admin, fields=fields).activity
    email_record(lead_id=merged.pk, actor=admin, fields={**fields, "message_id": "<other@mail.test>"})
    before = total(survivor, merged)

    merge = services.lead_merge(
        survivor_id=survivor.pk, merged_ids=[merged.pk], field_winners={}, actor=admin
    )

    # the unique (lead, Message-ID) keeps one copy per lead: the second copy stays on its tombstone, named
    assert merge.left_on_tombstones == [duplicate.pk]
    assert merge.activity.metadata["left_on_tombstones"] == [duplicate.pk]
    assert Activity.objects.get(pk=duplicate.pk).lead_id == merged.pk
    assert counts(survivor)["activities"] == before["activities"] - 1 + 1
    assert Activity.objects.filter(lead=survivor, message_id="<same@mail.test>").count() == 1
    assert Activity.objects.filter(lead=survivor, message_id="<other@mail.test>").count() == 1


def test_a_converted_lead_merges_only_into_a_lead_converted_into_the_same_account(
    api, in_org, admin, make_lead, make_account, make_contact
):
    account, elsewhere = make_account(name="Acme"), make_account(name="Elsewhere")
    converted = make_lead(name="converted")
    plain = make_lead(name="plain")
    also_converted = make_lead(name="also converted")
    other_account = make_lead(name="converted elsewhere")
    now = timezone.now()
    contact = make_contact(account=account)
    Lead.objects.filter(pk__in=[converted.pk, also_converted.pk]).update(
        converted_at=now, converted_account=account, converted_contact=contact
    )
    Lead.objects.filter(pk=other_account.pk).update(converted_at=now, converted_account=elsewhere)
    client = api(Role.MANAGER)

    refused = client.post(
        "/api/leads/merge/", {"survivor": plain.pk, "merged": [converted.pk]}, format="json"
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "conversion_conflict")
    refused = client.post(
        "/api/leads/merge/", {"survivor": converted.pk, "merged": [other_account.pk]}, format="json"
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "conversion_conflict")
    assert not Lead.objects.filter(merged_into__isnull=False).exists()

    response = client.post(
        "/api/leads/merge/",
        {"survivor": converted.pk, "merged": [also_converted.pk, plain.pk]},
        format="json",
    )
    assert response.status_code == 200, response.content
    # the tombstone's conversion links stay valid; the account's roll-up still shows every activity
    tombstone = Lead.objects.get(pk=also_converted.pk)
    assert (tombstone.converted_account_id, tombstone.converted_contact_id) == (account.pk, contact.pk)
    assert activity_list(record=account).filter(type=ActivityType.CREATED, lead__isnull=False).count() == 3
