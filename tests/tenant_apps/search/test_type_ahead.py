"""Issue 21, "Search": what a name, a surname or a company begins is found through b-tree ranges read in
key order (tenant_apps.records.models.prefix_indexes), ranked above every other full-text hit, within each
member's visibility; the ranges are read through their indexes (EXPLAIN), stopped at the page's depth."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.leads import services
from tenant_apps.leads.models import Lead, Stage
from tests.tenant_apps.search.test_search import search, search_statements, titles


def test_first_names_surnames_and_both_as_typed(api, make_lead):
    make_lead(name="Sofia Novak", company="Acme")
    make_lead(name="Sofia Brown", company="Acme")
    make_lead(name="Ivan Sofronov", company="Acme")
    make_lead(name="Nora Adler", company="Acme")
    client = api(Role.ADMIN)
    assert titles(search(client, "sof no")) == [("lead", "Sofia Novak")]
    # first names first (in key order), then surnames
    assert titles(search(client, "sof")) == [
        ("lead", "Sofia Brown"),
        ("lead", "Sofia Novak"),
        ("lead", "Ivan Sofronov"),
    ]
    assert titles(search(client, "nov")) == [("lead", "Sofia Novak")]
    results = search(client, "sofia nov")
    assert titles(results) == [("lead", "Sofia Novak")] and results[0]["rank"] > 2


def test_accents_case_and_punctuation_are_folded_as_typed(api, make_lead):
    make_lead(name="Zoë O'Brien-Ångström", company="Ünïcode Ltd")
    client = api(Role.ADMIN)
    for typed in ("ZOE O BRI", "zoe o'brien-ang", "o'bri", "unicode l"):
        [hit] = search(client, typed)
        assert hit["title"] == "Zoë O'Brien-Ångström" and hit["rank"] > 2, typed


def test_companies_contacts_accounts_and_opportunities_are_ranges_too(api, make_lead, org, admin):
    from tenant_apps.accounts.services import account_create
    from tenant_apps.contacts.services import contact_create

    make_lead(name="Tom Brook", company="Quillfeather Logistics")
    with schema_context(org.schema_name):
        account = account_create(actor=admin, name="Quillfeather Holdings")
        contact_create(actor=admin, name="Quillfeather Jones", account_id=account.pk)
    statements, results = search_statements(api(Role.ADMIN), "quillfeather")
    assert {(row["type"], row["title"]) for row in results} == {
        ("lead", "Tom Brook"),
        ("account", "Quillfeather Holdings"),
        ("contact", "Quillfeather Jones"),
    }
    assert all(row["rank"] > 2 for row in results)
    assert "enable_indexscan = on" in statements[0]


def test_an_email_typed_from_its_start_finds_the_person(api, make_lead):
    make_lead(name="Jonathan Smithers", email="jonathan.smithers@initech.example")
    [hit] = search(api(Role.ADMIN), "jonathan.smi")
    assert hit["title"] == "Jonathan Smithers" and hit["rank"] > 2


def test_the_ranges_see_only_what_the_member_may_see(org, member, make_lead, admin):
    from tests.conftest import client_for

    rep, other = member(role=Role.REP), member(role=Role.REP)
    mine = make_lead(name="Rangewall Mine", owner_id=rep.pk)
    theirs = make_lead(name="Rangewall Theirs", owner_id=other.pk)
    gone = make_lead(name="Rangewall Gone", owner_id=rep.pk)
    with schema_context(org.schema_name):
        services.lead_delete(lead_id=gone.pk, actor=admin)

    def found(user, text, **params):
        statements, results = search_statements(client_for(org, user), text, **params)
        assert "enable_indexscan = on" in statements[0]
        return {row["id"] for row in results}

    assert found(rep, "rangewall") == {mine.pk}
    assert found(other, "rangew") == {theirs.pk}
    assert found(rep, "range mi") == {mine.pk}
    assert found(admin, "rangewall") == {mine.pk, theirs.pk}
    assert found(admin, "rangewall", owner="me") == set()


def test_the_filters_apply_to_the_ranges(api, make_lead):
    qualified = make_lead(name="Filterrange One", stage=Stage.QUALIFIED, tags=["vip"])
    make_lead(name="Filterrange Two")
    client = api(Role.ADMIN)
    assert [row["id"] for row in search(client, "filterr", stage="QUALIFIED")] == [qualified.pk]
    assert [row["id"] for row in search(client, "filterr", tag="vip")] == [qualified.pk]


def test_pages_of_range_hits_follow_key_order_without_repeats(api, make_lead):
    for index in range(7):
        make_lead(name=f"Pagerange Person{6 - index}")
    client = api(Role.ADMIN)
    seen = []
    for page in (1, 2, 3):
        seen += [row["title"] for row in search(client, "pagerange", page_size=3, page=page)]
    assert seen == [f"Pagerange Person{index}" for index in range(7)]


@pytest.fixture
def populated(in_org, member):
    """Selectivity the planner can judge: 3,000 leads over 30 first names and 30 surnames, 20 owners."""
    owners = [member() for _ in range(20)]
    Lead.objects.bulk_create(
        Lead(
            name=f"First{i % 30} Last{i // 30 % 30} {i}",
            company=f"Company{i % 40} Labs",
            email=f"l{i}@example.com",
            owner=owners[i % 20],
        )
        for i in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")


@pytest.mark.parametrize(
    ("text", "indexes"),
    [
        ("first1", {"lead_name_prefix", "lead_name_rest_prefix", "lead_company_prefix"}),
        ("first1 last2", {"lead_name_prefix", "lead_name_rest_prefix", "lead_company_prefix"}),
    ],
)
def test_each_range_is_an_index_scan_in_key_order(populated, admin, text, indexes):
    from tenant_apps.search.selectors import ORDERED, PLANNER, _begun, _scope_sql

    part = _begun("lead", _scope_sql("lead", filters={}, actor=admin), text.split(), 21)
    with connection.cursor() as cursor:
        cursor.execute(PLANNER + ORDERED)
        cursor.execute(f"EXPLAIN {part.sql}", part.params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # each range is read through its own b-tree (in key order, or as a bitmap where the range is small)
    assert {name for name in indexes if f"using {name} " in plan or f"on {name} " in plan} == indexes, plan
    assert "Seq Scan" not in plan and "_gin" not in plan and "search_vector" not in plan, plan


def test_contacts_accounts_and_opportunities_have_their_ranges_indexed(in_org, admin):
    from tenant_apps.search.selectors import ORDERED, PLANNER, _begun, _scope_sql

    expected = {
        "contact": {"contact_name_prefix", "contact_name_rest_prefix"},
        "account": {"account_name_prefix"},
        "opportunity": {"opportun_name_prefix"},
    }
    with connection.cursor() as cursor:
        cursor.execute(PLANNER + ORDERED)
        for kind, indexes in expected.items():
            part = _begun(kind, _scope_sql(kind, filters={}, actor=admin), ["abc"], 21)
            cursor.execute(f"EXPLAIN {part.sql}", part.params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            used = {name for name in indexes if f"using {name} " in plan or f"on {name} " in plan}
            assert used == indexes, plan


def test_a_term_the_vocabulary_begins_is_not_corrected_for_the_ranges():
    from tenant_apps.search.selectors import corrected_text, corrections

    candidates = [("jana", "jana"), ("jana", "ana"), ("okafr", "okafor"), ("okafr", "okra")]
    fixes = corrections(["jana", "okafr"], candidates)
    assert fixes["jana"] == ["ana"]  # the full-text correction ORs it in; the ranges read "jana" as typed
    assert corrected_text(["jana", "okafr"], fixes, candidates) == ["jana", "okafor"]
    assert corrected_text(["jana"], fixes, candidates) == []  # nothing to correct: no second range read


def test_what_the_corrected_text_begins_fills_the_page_without_the_fuzzy_full_text(api, make_lead):
    for first in ("Ana", "Ana", "Ana", "Ben"):
        make_lead(name=f"{first} Quenneville")
    client = api(Role.ADMIN)
    statements, results = search_statements(client, "Ana Quenevile", page_size=2)
    # the ranges with the vocabulary, then full text with the corrected ranges: the page is full
    assert len(statements) == 2 and "enable_indexscan = on" in statements[1]
    assert titles(results) == [("lead", "Ana Quenneville")] * 2  # "ana" is spelled right: not Ben
    assert all(0.5 < row["rank"] < 1 for row in results)
    statements, results = search_statements(client, "quenevile", page_size=3)
    assert len(statements) == 2
    assert [row["title"] for row in results] == ["Ana Quenneville"] * 3


def test_a_prepared_exact_key_reads_the_email_index_on_a_generic_plan(populated, admin):
    """GENERIC: the statement is planned once for any address; its probe names the partial index's predicate
    (a parameter cannot be proven non-empty), so the plan still reads the email b-tree."""
    from tenant_apps.search.selectors import GENERIC, PLANNER, _keyed, _numbered, _scope_sql

    part = _keyed("lead", _scope_sql("lead", filters={}, actor=admin), {"email": "l7@example.com"}, 21)
    with connection.cursor() as cursor:
        cursor.execute(PLANNER + GENERIC + f"PREPARE lp_test_keyed AS {_numbered(part.sql)}")
        try:
            arguments = ", ".join(["%s"] * len(part.params))
            cursor.execute(f"EXPLAIN EXECUTE lp_test_keyed({arguments})", part.params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE lp_test_keyed")
    assert "lead_email_idx" in plan and "$" in plan, plan  # a generic plan ($n), through the index
