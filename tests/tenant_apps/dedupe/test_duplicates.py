"""Duplicate suggestions: exact keys outrank fuzzy names, only live records of the same organization."""

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.contacts.models import Contact
from tenant_apps.dedupe import selectors, services
from tenant_apps.leads.models import Lead


def suggestions(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()


def test_lead_suggestions_rank_exact_keys_above_fuzzy_names(api, in_org, admin, make_lead):
    lead = make_lead(name="Jonathan Smith", email="jon@acme.test", phone="+1 555 010 1234", company="Acme")
    same_email = make_lead(name="Zed Quux", email="jon@acme.test")
    same_phone = make_lead(name="Someone Else", phone="+1 (555) 010-1234")
    both = make_lead(name="J. Smith", email="jon@acme.test", phone="+1-555-010-1234")
    misspelt = make_lead(name="Jonathon Smith", company="ACME Inc")
    make_lead(name="Jane Doe", email="jane@initech.test", company="Initech")  # nothing alike
    deleted = make_lead(name="Jonathan Smith", email="jon@acme.test")
    Lead.objects.filter(pk=deleted.pk).update(deleted_at="2026-01-01T00:00:00Z")
    tombstone, kept = make_lead(name="Jonathan Smith"), make_lead(name="Someone")
    services.lead_merge(survivor_id=kept.pk, merged_ids=[tombstone.pk], field_winners={}, actor=admin)

    rows = suggestions(api(Role.VIEWER), f"/api/leads/{lead.pk}/duplicates/")

    assert [row["id"] for row in rows] == [both.pk, same_email.pk, same_phone.pk, misspelt.pk]
    by_id = {row["id"]: row for row in rows}
    assert by_id[same_email.pk]["reasons"] == ["email"]
    assert by_id[same_email.pk]["score"] == 0.9
    assert by_id[same_phone.pk]["reasons"] == ["phone"]
    assert by_id[both.pk]["reasons"][:2] == ["email", "phone"]
    assert by_id[misspelt.pk]["reasons"][0].startswith("name ~0.")
    assert by_id[misspelt.pk]["reasons"][1].startswith("company ~0.")
    assert by_id[misspelt.pk]["score"] < by_id[same_phone.pk]["score"] < by_id[same_email.pk]["score"]
    assert set(by_id[same_email.pk]) == {"id", "name", "email", "phone", "company", "score", "reasons"}
    # never the lead itself, a deleted lead or a tombstone
    assert {lead.pk, deleted.pk, tombstone.pk}.isdisjoint(by_id)


def test_a_company_alike_adds_to_a_candidate_but_makes_none(api, in_org, make_lead):
    """Two people of one company are colleagues, not duplicates: a company alone suggests nobody (no trigram
    index on the company, migration leads 0013), yet it still raises a candidate found by its name."""
    lead = make_lead(name="Priya Raman", company="Globex Corporation")
    make_lead(name="Oskar Lindqvist", company="Globex Corporation")  # a colleague
    make_lead(name="Oskar Lindqvist", company="GLOBEX Corp")
    named_elsewhere = make_lead(name="Priya Ramanathan", company="Initech")
    named_here = make_lead(name="Priya Ramanathan", company="Globex Corp.")

    rows = suggestions(api(Role.MANAGER), f"/api/leads/{lead.pk}/duplicates/")

    assert [row["id"] for row in rows] == [named_here.pk, named_elsewhere.pk]
    by_id = {row["id"]: row for row in rows}
    assert [reason.split(" ")[0] for reason in by_id[named_here.pk]["reasons"]] == ["name", "company"]
    assert [reason.split(" ")[0] for reason in by_id[named_elsewhere.pk]["reasons"]] == ["name"]
    assert by_id[named_here.pk]["score"] > by_id[named_elsewhere.pk]["score"]


def test_suggestions_are_capped_at_twenty_best_first(api, in_org, make_lead):
    lead = make_lead(name="Popular Name", email="shared@acme.test")
    for index in range(22):
        make_lead(name=f"Other {index}", email="shared@acme.test")
    exact = make_lead(name="Popular Name", email="shared@acme.test")
    rows = suggestions(api(Role.MANAGER), f"/api/leads/{lead.pk}/duplicates/")
    assert len(rows) == 20
    assert rows[0]["id"] == exact.pk  # email and the very same name
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)


def test_suggestions_cost_the_same_queries_however_many_match(api, in_org, make_lead):
    few, many = make_lead(name="few", email="few@acme.test"), make_lead(name="many", email="many@acme.test")
    make_lead(name="x", email="few@acme.test")
    for index in range(15):
        make_lead(name=f"y{index}", email="many@acme.test")
    client = api(Role.MANAGER)
    client.get(f"/api/leads/{few.pk}/duplicates/")  # warm the routing cache and the token
    sizes = []
    for lead in (few, many):
        with CaptureQueriesContext(connection) as queries:
            sizes.append((len(suggestions(client, f"/api/leads/{lead.pk}/duplicates/")), len(queries)))
    assert [size for size, _ in sizes] == [1, 15]
    # + the visibility check of the lead and of the candidates (reps see only some leads)
    assert sizes[0][1] == sizes[1][1] <= 6, sizes


def test_contact_and_account_suggestions(api, in_org, make_contact, make_account):
    acme = make_account(name="Acme Corporation", domain="acme.test")
    same_domain = make_account(name="Totally Different", domain="acme.test")
    spelled = make_account(name="ACME Corp.")
    make_account(name="Initech", domain="initech.test")
    client = api(Role.MANAGER)
    rows = suggestions(client, f"/api/accounts/{acme.pk}/duplicates/")
    assert [(row["id"], row["reasons"][0].split(" ")[0]) for row in rows] == [
        (same_domain.pk, "domain"),
        (spelled.pk, "name"),
    ]
    assert set(rows[0]) == {"id", "name", "domain", "score", "reasons"}

    pat = make_contact(name="Pat Doe", email="pat@acme.test", phone="+1 555 010 7777", account=acme)
    phone = make_contact(name="P. D.", phone="+1-555-010-7777")
    named = make_contact(name="Pat Doe")
    make_contact(name="Someone Else", email="else@acme.test")
    rows = suggestions(client, f"/api/contacts/{pat.pk}/duplicates/")
    assert [(row["id"], row["reasons"]) for row in rows] == [
        (phone.pk, ["phone"]),
        (named.pk, ["name ~1.00"]),
    ]
    assert set(rows[0]) == {"id", "name", "email", "phone", "account_id", "score", "reasons"}


def test_suggestions_of_unknown_deleted_or_merged_records_are_404(
    api, in_org, admin, make_lead, make_account
):
    client = api(Role.MANAGER)
    lead, other = make_lead(), make_lead()
    services.lead_merge(survivor_id=other.pk, merged_ids=[lead.pk], field_winners={}, actor=admin)
    assert client.get(f"/api/leads/{lead.pk}/duplicates/").status_code == 404
    assert client.get("/api/leads/99999999999999999999/duplicates/").status_code == 404
    account = make_account(deleted_at="2026-01-01T00:00:00Z")
    response = client.get(f"/api/accounts/{account.pk}/duplicates/")
    assert (response.status_code, response.json()["code"]) == (404, "account_not_found")
    assert client.get("/api/contacts/424242/duplicates/").json()["code"] == "contact_not_found"


def test_suggestions_never_cross_organizations(api, org, other_org, make_lead):
    ours = make_lead(name="Shared Name", email="same@both.test")
    theirs = make_lead(name="Shared Name", email="same@both.test", organization=other_org)
    mine = make_lead(name="Shared Name", email="same@both.test")
    rows = suggestions(api(Role.MANAGER), f"/api/leads/{ours.pk}/duplicates/")
    assert [row["id"] for row in rows] == [mine.pk]
    rows = suggestions(api(Role.MANAGER, organization=other_org), f"/api/leads/{theirs.pk}/duplicates/")
    assert rows == []


def word(seed: str) -> str:
    """A made-up word: names as varied as real ones, so the planner sees trigrams as selective as real."""
    return "".join(chr(97 + int(digit, 16)) for digit in hashlib.sha256(seed.encode()).hexdigest()[:8])


@pytest.mark.parametrize("kind", ["lead", "contact", "account"])
def test_the_suggestion_query_is_served_by_indexes(in_org, kind):
    """Each arm of the candidates' OR has an index (exact keys: partial b-trees; fuzzy names: the trigram
    GIN indexes on folded names), so suggestions never read the whole table. 3,000 rows with fresh
    statistics; sequential scans are off, as the question is which index serves the query."""
    model, expected = {
        "lead": (Lead, ["lead_email_idx", "lead_phone_idx", "lead_name_trgm"]),
        "contact": (Contact, ["contact_email_idx", "contact_phone_idx", "contact_name_trgm"]),
        "account": (Account, ["account_domain_idx", "account_name_trgm"]),
    }[kind]
    rows = []
    for index in range(3000):
        fields = {"name": f"{word(f'first{index}')} {word(f'last{index}')}"}
        if kind == "account":
            fields["domain"] = f"{word(f'domain{index}')}.test"
        else:
            fields.update(email=f"{word(f'mail{index}')}@example.test", phone_normalized=f"+1555{index:07d}")
        if kind == "lead":
            fields["company"] = f"{word(f'company{index % 300}')} Inc"
        rows.append(model(**fields))
    model.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {model._meta.db_table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
    record = model.objects.order_by("pk")[42]
    plan = selectors.duplicate_candidates(record=record)[:20].explain()
    assert "Seq Scan" not in plan, plan
    for index in expected:
        assert index in plan, plan
