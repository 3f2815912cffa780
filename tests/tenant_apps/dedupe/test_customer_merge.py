"""Merging contacts and accounts: everything that pointed at a merged record points at the survivor."""

from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account, AccountStatus, AccountStatusChange
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.selectors import activity_list
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tests.conftest import client_for
from tests.tenant_apps.dedupe.conftest import counts, total


def test_merging_contacts_moves_timeline_notes_tasks_opportunities_and_conversions(
    api, in_org, make_lead, make_account, make_contact, make_opportunity, busy
):
    first_account, second_account = make_account(name="First"), make_account(name="Second")
    survivor = make_contact(name="Pat Doe", email="pat@first.test", account=first_account, tags=["champion"])
    merged = make_contact(
        name="Patricia Doe",
        phone="+44 20 7946 0000",
        title="CTO",
        account=second_account,
        tags=["tech", "champion"],
    )
    busy(survivor)
    busy(merged, notes=2, calls=2, tasks=2)
    deal = make_opportunity(second_account, primary_contact=merged)
    lead = make_lead(name="Patricia Doe")
    Lead.objects.filter(pk=lead.pk).update(converted_contact=merged, converted_account=second_account)
    own, before = counts(survivor), total(survivor, merged)
    first_timeline = activity_list(record=first_account).count()

    response = api(Role.MANAGER).post(
        "/api/contacts/merge/",
        {
            "survivor": survivor.pk,
            "merged": [merged.pk],
            "fields": {"phone": merged.pk, "title": merged.pk, "account": merged.pk},
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    contact = Contact.objects.get(pk=survivor.pk)
    assert (contact.name, contact.email, contact.phone, contact.phone_normalized, contact.title) == (
        "Pat Doe",
        "pat@first.test",
        "+44 20 7946 0000",
        "+442079460000",
        "CTO",
    )
    assert contact.account_id == second_account.pk
    assert contact.tags == ["champion", "tech"]
    assert counts(contact) == {**before, "activities": before["activities"] + 1}
    assert response.json()["moved"] == {kind: before[kind] - own[kind] for kind in before}
    assert not any(counts(merged).values())
    assert Opportunity.objects.get(pk=deal.pk).primary_contact_id == survivor.pk
    assert Lead.objects.get(pk=lead.pk).converted_contact_id == survivor.pk
    tombstone = Contact.objects.get(pk=merged.pk)
    assert (tombstone.merged_into_id, tombstone.account_id) == (survivor.pk, second_account.pk)
    # the first account keeps what happened while the contact was there (its activities carry the account)
    assert activity_list(record=first_account).count() == first_timeline
    merged_activity = Activity.objects.get(contact=contact, type=ActivityType.MERGED)
    assert merged_activity.metadata["fields"] == {
        "phone": merged.pk,
        "title": merged.pk,
        "account": merged.pk,
    }
    assert merged_activity.metadata["changes"]["account"] == [first_account.pk, second_account.pk]


def test_merging_accounts_moves_contacts_opportunities_conversions_history_and_timelines(
    org, in_org, member, make_lead, make_account, make_contact, make_opportunity, busy
):
    survivor = make_account(name="Acme", tags=["enterprise"])
    merged = make_account(
        name="ACME Corp", domain="acme.test", industry="Anvils", status=AccountStatus.CUSTOMER
    )
    AccountStatusChange.objects.create(
        account=merged, from_status=AccountStatus.PROSPECT, to_status=AccountStatus.CUSTOMER
    )
    busy(survivor)
    busy(merged, notes=2, calls=1, tasks=3)
    people = [make_contact(name=f"person {index}", account=merged) for index in range(2)]
    busy(people[0])
    deal = make_opportunity(merged, primary_contact=people[1])
    busy(deal)
    lead = make_lead(name="converted into ACME Corp")
    busy(lead)
    Lead.objects.filter(pk=lead.pk).update(converted_account=merged)
    own, before = counts(survivor), total(survivor, merged)
    timelines = activity_list(record=survivor).count() + activity_list(record=merged).count()
    manager = member(role=Role.MANAGER)

    response = client_for(org, manager).post(
        "/api/accounts/merge/",
        {
            "survivor": survivor.pk,
            "merged": [merged.pk],
            "fields": {"domain": merged.pk, "status": merged.pk},
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    account = Account.objects.get(pk=survivor.pk)
    assert (account.name, account.domain, account.industry, account.status) == (
        "Acme",
        "acme.test",
        "",
        AccountStatus.CUSTOMER,
    )
    # the status taken from the merged account is a status change of the survivor: history says so
    assert counts(account) == {
        **before,
        "activities": before["activities"] + 1,
        "status_changes": before["status_changes"] + 1,
    }
    assert response.json()["moved"] == {kind: before[kind] - own[kind] for kind in before}
    change = AccountStatusChange.objects.filter(account=account).latest("at", "id")
    assert (change.from_status, change.to_status, change.actor_id) == (
        AccountStatus.PROSPECT,
        AccountStatus.CUSTOMER,
        manager.pk,
    )
    assert not any(counts(merged).values())
    assert set(Contact.objects.filter(account=account).values_list("pk", flat=True)) == {p.pk for p in people}
    assert Opportunity.objects.get(pk=deal.pk).account_id == survivor.pk
    assert Lead.objects.get(pk=lead.pk).converted_account_id == survivor.pk
    # the survivor's rolled-up timeline holds both timelines (contacts', deals', converted leads') + MERGED
    assert activity_list(record=account).count() == timelines + 1
    assert activity_list(record=merged).count() == 0
    tombstone = Account.objects.get(pk=merged.pk)
    assert (tombstone.merged_into_id, tombstone.name) == (survivor.pk, "ACME Corp")


def test_account_status_kept_by_the_survivor_writes_no_history(api, in_org, make_account):
    survivor, merged = make_account(name="a"), make_account(name="b", status=AccountStatus.CUSTOMER)
    response = api(Role.MANAGER).post(
        "/api/accounts/merge/",
        {"survivor": survivor.pk, "merged": [merged.pk], "fields": {"status": survivor.pk}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert not AccountStatusChange.objects.filter(account=survivor).exists()
    assert Account.objects.get(pk=survivor.pk).status == AccountStatus.PROSPECT
