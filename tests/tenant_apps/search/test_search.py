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
