import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.services import note_add
from tenant_apps.leads import services
from tenant_apps.leads.models import Stage


def search(client, query, **params):
    response = client.get("/api/search/", {"q": query, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def titles(results):
    return [(row["type"], row["title"]) for row in results]


@pytest.fixture
def people(make_lead, org):
    make_lead(name="Jonathan Smithers", company="Initech", email="jon@initech.example")
    make_lead(name="Zoë Ångström", company="Nordic Designs", email="zoe@nordic.example")
    make_lead(name="Mary Jones", company="Smith & Wesson Catering", email="mary@catering.example")
    make_lead(name="Peter Gibbons", company="Initrode", stage=Stage.QUALIFIED, tags=["vip"])


def test_full_text_finds_names_first_then_companies(api, people):
    results = search(api(Role.REP), "smith")
    assert titles(results)[:2] == [("lead", "Jonathan Smithers"), ("lead", "Mary Jones")]
    assert "<mark>" in results[0]["snippet"]


def test_type_ahead_prefix(api, people):
    results = search(api(Role.REP), "jon smi")
    assert titles(results)[0] == ("lead", "Jonathan Smithers")
    assert results[0]["rank"] > max([row["rank"] for row in results[1:]], default=0)


def test_misspelled_names_match_fuzzily(api, people):
    assert ("lead", "Jonathan Smithers") in titles(search(api(Role.REP), "Jonathon Smithres"))
    assert ("lead", "Peter Gibbons") in titles(search(api(Role.REP), "Petr Gibons"))


def test_accents_are_ignored(api, people):
    assert titles(search(api(Role.REP), "zoe angstrom")) == [("lead", "Zoë Ångström")]


def test_filters_combine_with_the_text(api, people):
    client = api(Role.REP)
    assert titles(search(client, "ini", stage="QUALIFIED")) == [("lead", "Peter Gibbons")]
    assert titles(search(client, "ini", tag="vip")) == [("lead", "Peter Gibbons")]


def test_notes_are_searchable_and_point_at_their_record(api, make_lead, org, admin):
    lead = make_lead(name="Quiet Lead")
    with schema_context(org.schema_name):
        note_add(record=lead, actor=admin, body="Prefers quarterly invoicing in euros")
    [hit] = search(api(Role.REP), "invoicing", types="note")
    assert (hit["type"], hit["record"]) == ("note", {"type": "lead", "id": lead.pk})
    assert "<mark>invoicing</mark>" in hit["snippet"]


def test_deleted_and_other_organizations_records_never_appear(api, make_lead, org, other_org, admin):
    gone = make_lead(name="Deleted Dolores")
    make_lead(name="Globex Dolores", organization=other_org)
    with schema_context(org.schema_name):
        services.lead_delete(lead_id=gone.pk, actor=admin)
    assert search(api(Role.REP), "dolores") == []


def test_snippets_carry_no_markup_but_the_marks(api, make_lead):
    make_lead(name="<script>alert(1)</script> Evil & Co")
    [hit] = search(api(Role.REP), "evil")
    assert "<script" not in hit["snippet"] and "<mark>Evil</mark>" in hit["snippet"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("a", 400),
        ("x" * 10_000, 400),
        ("", 400),
        ("nul\x00byte", 400),
        ("!!! ??? ...", 200),
        ("%_*:&|!()", 200),
    ],
)
def test_absurd_queries_are_400_or_empty_never_500(api, people, query, status):
    response = api(Role.REP).get("/api/search/", {"q": query})
    assert response.status_code == status
    if status == 200:
        assert response.json()["results"] == []


@pytest.mark.parametrize(
    "params", [{"types": "lead,spaceship"}, {"stage": "NOPE"}, {"page": 0}, {"page_size": 500}]
)
def test_bad_parameters_are_400(api, params):
    response = api(Role.REP).get("/api/search/", {"q": "smith", **params})
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["errors"]


def test_pagination(api, make_lead):
    for index in range(5):
        make_lead(name=f"Pagination Person {index}")
    client = api(Role.REP)
    first = client.get("/api/search/", {"q": "pagination", "page_size": 3}).json()
    second = client.get("/api/search/", {"q": "pagination", "page_size": 3, "page": 2}).json()
    assert (len(first["results"]), first["has_more"], len(second["results"]), second["has_more"]) == (
        3,
        True,
        2,
        False,
    )
    assert not {row["id"] for row in first["results"]} & {row["id"] for row in second["results"]}


# Issue 16, "Finding people"


@pytest.fixture
def northwind(make_lead, org, admin):
    with schema_context(org.schema_name):
        from tenant_apps.contacts.services import contact_create

        contact = contact_create(
            actor=admin, name="Nancy Davolio", email="nancy@northwind.example", phone="+1 (555) 010-7777"
        )
    lead = make_lead(name="Nancy Northwind", company="Northwind Traders", email="sales@northwind.example")
    westbrook = make_lead(name="Carla Westbrook", company="Contoso Logistics")
    return {"contact": contact, "lead": lead, "westbrook": westbrook}


def test_an_exact_email_is_the_first_hit(api, northwind):
    results = search(api(Role.ADMIN), "nancy@northwind.example")
    assert results, "an email address finds its record"
    assert (results[0]["type"], results[0]["id"]) == ("contact", northwind["contact"].pk)
    assert results[0]["rank"] > max([row["rank"] for row in results[1:]], default=0)


@pytest.mark.parametrize("written", ["+1 (555) 010-7777", "15550107777", "555.010.7777"])
def test_a_phone_number_in_any_format_finds_its_record(api, northwind, written):
    results = search(api(Role.ADMIN), written)
    assert [(row["type"], row["id"]) for row in results][:1] == [("contact", northwind["contact"].pk)]


@pytest.mark.parametrize("typo", ["Westbruk", "westbruk carla", "Davolo"])
def test_one_misspelled_word_matches_per_word_below_exact_hits(api, northwind, typo):
    results = search(api(Role.ADMIN), typo)
    expected = {"Westbruk": "Carla Westbrook", "westbruk carla": "Carla Westbrook", "Davolo": "Nancy Davolio"}
    assert expected[typo] in [row["title"] for row in results]
    assert all(row["rank"] < 1 for row in results)  # fuzzy: below every full-text (1 + ts_rank) hit


def test_a_typo_ranks_below_the_exact_word(api, make_lead):
    make_lead(name="Kim Kubernetes", company="Cloud")
    make_lead(name="Kim Kubernets", company="Typo")
    results = search(api(Role.ADMIN), "kubernets")
    assert [row["title"] for row in results][:1] == ["Kim Kubernets"]
    assert "Kim Kubernetes" in [row["title"] for row in results]


@pytest.mark.parametrize(
    ("type", "subject", "body", "query"),
    [
        ("EMAIL", "Renewal of the Kubernetes cluster", "", "kubernetes renewal"),
        ("EMAIL", "Hello", "The invoice for the pallets is attached", "pallets"),
        ("CALL", "Call", "She wants a discount on freight", "freight discount"),
        ("MEETING", "Quarterly review", "Agreed on the onboarding plan", "onboarding"),
    ],
)
def test_emails_calls_and_meetings_are_searchable(api, make_lead, org, admin, type, subject, body, query):
    from tenant_apps.activities.services import activity_log

    lead = make_lead(name="Quiet Lead")
    with schema_context(org.schema_name):
        activity = activity_log(actor=admin, type=type, lead_id=lead.pk, subject=subject, body=body)
    [hit] = search(api(Role.ADMIN), query)
    assert (hit["type"], hit["id"], hit["record"]) == (
        "activity",
        activity.pk,
        {"type": "lead", "id": lead.pk},
    )


def test_a_rep_finds_no_activity_of_a_lead_they_may_not_see(api, make_lead, org, admin, member):
    from tenant_apps.activities.services import activity_log

    lead = make_lead(name="Someone Elses", owner_id=admin.pk)
    with schema_context(org.schema_name):
        activity_log(actor=admin, type="CALL", lead_id=lead.pk, body="Talked about the zeppelin order")
    assert search(api(Role.REP), "zeppelin") == []
    assert len(search(api(Role.ADMIN), "zeppelin")) == 1


# Issue 21, "Search at 1,000,000 leads": bounded candidates, exact keys first, no count unless asked


@pytest.fixture
def few_candidates(monkeypatch):
    from tenant_apps.search import selectors

    monkeypatch.setattr(selectors, "CANDIDATES", 3)


def test_a_common_name_ranks_a_bounded_candidate_set_and_still_pages(api, make_lead, few_candidates):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for index in range(8):
        make_lead(name=f"Commonname Person{index}")
    client = api(Role.ADMIN)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/api/search/", {"q": "commonname", "types": "lead", "page_size": 2}).json()
    assert (len(page["results"]), page["has_more"]) == (2, True)
    ranked = [query["sql"] for query in queries.captured_queries if "ts_rank" in query["sql"]]
    # every ranking reads the bounded candidates only (the inner LIMIT), never every match
    assert ranked and all("LIMIT 3)" in sql for sql in ranked), ranked


def test_name_matches_rank_above_company_matches(api, make_lead):
    make_lead(name="Olga Fairweather", company="Bright Labs")
    make_lead(name="Tom Brook", company="Fairweather Logistics")
    results = search(api(Role.ADMIN), "fairweather", types="lead")
    assert [row["title"] for row in results] == ["Olga Fairweather", "Tom Brook"]
    assert results[0]["rank"] > results[1]["rank"] > 1  # both full-text hits, above every fuzzy one


def test_an_exact_phone_number_comes_first_and_stops_the_search_there(api, northwind, make_lead):
    make_lead(name="Digits 555 0107777")
    results = search(api(Role.ADMIN), "+1 555 010 7777")
    assert (results[0]["type"], results[0]["id"], results[0]["rank"]) == (
        "contact",
        northwind["contact"].pk,
        3.0,
    )


def test_an_email_address_finds_its_record_not_everyone_at_the_domain(api, northwind):
    results = search(api(Role.ADMIN), "nancy@northwind.example")
    # "sales@northwind.example" shares the domain's words, not the address
    assert [(row["type"], row["title"]) for row in results] == [("contact", "Nancy Davolio")]


def test_a_misspelled_surname_is_found_among_many_full_text_misses(api, make_lead, few_candidates):
    for index in range(5):
        make_lead(name=f"Filler Person{index}", company="Garrison Supplies")
    make_lead(name="Maria Garcia", company="Acme")
    assert "Maria Garcia" in [row["title"] for row in search(api(Role.ADMIN), "Garica", types="lead")]


def test_no_count_unless_asked(api, make_lead):
    for index in range(5):
        make_lead(name=f"Countable Person{index}")
    client = api(Role.ADMIN)
    plain = client.get("/api/search/", {"q": "countable", "page_size": 2}).json()
    assert "count" not in plain
    counted = client.get("/api/search/", {"q": "countable", "page_size": 2, "count": "true"}).json()
    assert (counted["count"], len(counted["results"])) == (5, 2)


def test_the_count_sees_only_what_the_member_may_see(api, make_lead, admin):
    make_lead(name="Hiddenname One", owner_id=admin.pk)
    make_lead(name="Hiddenname Two", owner_id=admin.pk)
    counted = api(Role.REP).get("/api/search/", {"q": "hiddenname", "count": "true"}).json()
    assert (counted["count"], counted["results"]) == (0, [])
    assert api(Role.ADMIN).get("/api/search/", {"q": "hiddenname", "count": "true"}).json()["count"] == 2


def test_the_vocabulary_follows_new_and_renamed_records(api, make_lead, org):
    from tenant_apps.leads.models import Lead
    from tenant_apps.search.models import SearchWord

    lead = make_lead(name="Zebulon Quixote", company="Marmalade Works")
    with schema_context(org.schema_name):
        assert {"zebulon", "quixote", "marmalade", "works"} <= set(
            SearchWord.objects.values_list("word", flat=True)
        )
        Lead.objects.filter(pk=lead.pk).update(name="Zebulon Quiggleworth")
        assert SearchWord.objects.filter(word="quiggleworth").exists()
    assert [row["id"] for row in search(api(Role.ADMIN), "Quigleworth", types="lead")] == [lead.pk]


@pytest.mark.parametrize("typo", ["Garica", "Gracia", "Garcai", "Gacria"])
def test_swapped_letters_are_one_edit(api, make_lead, typo):
    make_lead(name="Maria Garcia")
    make_lead(name="Maria Gray")
    assert [row["title"] for row in search(api(Role.ADMIN), typo, types="lead")][:1] == ["Maria Garcia"]


def test_edit_distance():
    from tenant_apps.search.selectors import edits

    assert (
        edits("garica", "garcia"),
        edits("novak", "nvoak"),
        edits("smith", "smyth"),
        edits("ab", "abc"),
    ) == (
        1,
        1,
        1,
        1,
    )
    assert edits("kitten", "sitting") == 3


def test_a_two_letter_prefix_filters_the_longer_words_candidates(api, people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        results = search(api(Role.REP), "jon sm")
    assert titles(results)[0] == ("lead", "Jonathan Smithers")
    ranked = [query["sql"] for query in queries.captured_queries if "ts_rank" in query["sql"]]
    # the GIN index is asked for "jon:*" only; "sm:*" is checked on its candidates
    assert "strip(" in ranked[0] and "'jon:*'" in ranked[0], ranked[0]
