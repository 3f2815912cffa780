import re

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


def run_sql(queries):
    """The SQL the captured queries ran: each EXECUTE of a prepared search statement followed by the
    statement's text with its parameters in place (pg_prepared_statements of this connection)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        prepared = dict(cursor.fetchall())
    literal = re.compile(r"'(?:[^']|'')*'(?:::[a-z0-9_]+(?:\[\])?)?|NULL|[-0-9.]+(?:::[a-z0-9_]+)?")

    def expanded(found: re.Match) -> str:
        body = prepared[found[1]].split(" AS ", 1)[1]
        args = literal.findall(found[2] or "")
        for number in range(len(args), 0, -1):
            body = body.replace(f"${number}", args[number - 1])
        return f"{found[0]} /* {body} */"

    return [
        re.sub(r"EXECUTE (lp_search_[0-9a-f]+)(?:\((.*?)\))?(?=; |$)", expanded, query["sql"])
        for query in queries.captured_queries
    ]


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

    for index in range(8):  # inside the names: no type-ahead range begins with it, the GIN index finds them
        make_lead(name=f"Person{index} Van Commonname")
    client = api(Role.ADMIN)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/api/search/", {"q": "commonname", "types": "lead", "page_size": 2}).json()
    assert (len(page["results"]), page["has_more"]) == (2, True)
    ranked = [sql for sql in run_sql(queries) if "ts_rank" in sql]
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


def test_a_session_may_defer_the_vocabulary_and_add_the_words_itself(make_lead, org):
    """Bulk imports' writers (tenant_apps.search.vocabulary): with the trigger deferred in a transaction,
    inserts add no words; words_add adds the words of the rows it is given, as the trigger would."""
    from django.db import transaction

    from tenant_apps.leads.models import Lead
    from tenant_apps.search import vocabulary
    from tenant_apps.search.models import SearchWord

    with schema_context(org.schema_name):
        with transaction.atomic(), vocabulary.words_deferred():
            lead = make_lead(name="Ottoline Brackwater", company="Thistledown 42 Ltd")
            words = ["ottoline", "brackwater", "thistledown", "ltd"]
            assert not SearchWord.objects.filter(word__in=words).exists()
        make_lead(name="Peregrine Undeferred")  # after the block: the trigger again
        assert SearchWord.objects.filter(word="peregrine").exists()
        vocabulary.words_add("leads_lead", f"SELECT name, company FROM leads_lead WHERE id = {lead.pk}")
        assert set(SearchWord.objects.filter(word__in=[*words, "42"]).values_list("word", flat=True)) == set(
            words
        )  # digits only are not words
        assert Lead.objects.filter(pk=lead.pk).exists()


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
    ranked = [sql for sql in run_sql(queries) if "ts_rank" in sql]
    # the GIN index is asked for "jon:*" only; "sm:*" is checked on its candidates
    assert "strip(" in ranked[0] and "'jon:*'" in ranked[0], ranked[0]


# Issue 21, "Search": one statement per phase (its page rendered in it), the scopes' SQL kept per policy key


def search_statements(client, query, **params):
    """The search's own statements (those under its planner settings) for one request, and its results."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        results = search(client, query, **params)
    return [sql for sql in run_sql(queries) if "enable_seqscan" in sql], results


def test_a_full_text_page_is_one_statement_that_renders_it(api, make_lead, org, admin):
    from tenant_apps.accounts.services import account_create

    make_lead(name="Roundtrip Rita", company="Northwind")
    with schema_context(org.schema_name):
        account_create(actor=admin, name="Roundtrip Supplies")
    make_lead(name="Rita Jones Roundtrip")  # its last word: full text finds it, no range does
    statements, results = search_statements(api(Role.ADMIN), "roundtrip")
    # the type-ahead ranges (what the names begin), then, the page not full, full text: each renders its rows
    assert len(statements) == 2
    assert "enable_indexscan = on" in statements[0] and "ts_headline" in statements[0]
    assert "ts_rank" in statements[1] and "ts_headline" in statements[1]
    assert [(row["type"], row["title"]) for row in results] == [
        ("account", "Roundtrip Supplies"),
        ("lead", "Roundtrip Rita"),
        ("lead", "Rita Jones Roundtrip"),
    ]
    assert results[1]["rank"] > 2 > results[2]["rank"] > 1
    assert all("<mark>Roundtrip</mark>" in row["snippet"] for row in results)


def test_an_exact_key_is_one_statement(api, northwind):
    statements, results = search_statements(api(Role.ADMIN), "nancy@northwind.example")
    assert len(statements) == 1 and "ts_headline" in statements[0]
    assert (results[0]["type"], results[0]["id"], results[0]["rank"]) == (
        "contact",
        northwind["contact"].pk,
        3.0,
    )


def test_a_misspelling_is_two_statements_the_vocabulary_read_with_the_first(api, make_lead):
    make_lead(name="Maria Garcia")
    statements, results = search_statements(api(Role.ADMIN), "Garica")
    # the type-ahead ranges with the vocabulary; full text with what the corrected text begins; the corrected
    # full-text query (one lead only: the page is still short)
    assert len(statements) == 3
    assert "search_searchword" in statements[0] and "enable_indexscan = on" in statements[0]
    assert "ts_rank" in statements[1] and "enable_indexscan = on" in statements[1]
    assert "ts_headline" in statements[2]
    assert [row["title"] for row in results] == ["Maria Garcia"]


def test_no_fuzzy_pass_when_full_text_fills_the_page(api, make_lead):
    for index in range(3):
        make_lead(name=f"Pagefill Person{index}")
    make_lead(name="Pagefil Typo")  # one edit away: a correction of "pagefill"
    client = api(Role.ADMIN)
    statements, results = search_statements(client, "pagefill", page_size=2)
    # three names begin with it: the page and the next one's first are known from the type-ahead ranges
    assert len(statements) == 1 and "ts_rank" not in statements[0]
    assert [row["title"] for row in results] == ["Pagefill Person0", "Pagefill Person1"]
    # a page further down, past them, is where the correction shows
    _statements, deeper = search_statements(client, "pagefill", page_size=2, page=2)
    assert [row["title"] for row in deeper] == ["Pagefill Person2", "Pagefil Typo"]
    assert deeper[0]["rank"] > 1 > deeper[1]["rank"]


def test_a_word_the_term_begins_is_no_correction():
    from tenant_apps.search.selectors import corrections

    candidates = [("gar", "garcia"), ("gar", "bar"), ("gar", "gary")]
    assert corrections(["gar"], candidates) == {"gar": ["bar"]}  # "gar:*" finds garcia and gary already


def test_the_scopes_follow_each_reps_visibility_and_the_organizations_setting(org, member, make_lead):
    from tests.conftest import client_for

    rep, other = member(role=Role.REP), member(role=Role.REP)
    mine = make_lead(name="Scopecache Mine", owner_id=rep.pk)
    theirs = make_lead(name="Scopecache Theirs", owner_id=other.pk)

    def found(user, **params):
        return {row["id"] for row in search(client_for(org, user), "scopecache", **params)}

    assert (found(rep), found(other)) == ({mine.pk}, {theirs.pk})
    assert (found(rep, owner="me"), found(other, owner="me")) == ({mine.pk}, {theirs.pk})
    org.reps_see_all_leads = True
    org.save(update_fields=["reps_see_all_leads"])
    assert found(rep) == found(other) == {mine.pk, theirs.pk}
    assert (found(rep, owner="me"), found(other, owner="me")) == ({mine.pk}, {theirs.pk})
    org.reps_see_all_leads = False
    org.save(update_fields=["reps_see_all_leads"])
    assert found(rep) == {mine.pk}


def test_the_planner_settings_never_outlive_the_search_inside_a_transaction(org, admin):
    from django.db import DataError, connection

    from tenant_apps.search.selectors import Statement, _fetch

    with schema_context(org.schema_name), connection.cursor() as cursor:
        assert _fetch(Statement("SELECT current_setting('enable_seqscan')", [])) == [[("off",)]]
        cursor.execute("SELECT current_setting('enable_seqscan')")
        assert cursor.fetchone() == ("on",)
        with pytest.raises(DataError):
            _fetch(Statement("SELECT 1 / 0", []))
        cursor.execute("SELECT current_setting('enable_seqscan')")  # the caller's transaction goes on
        assert cursor.fetchone() == ("on",)


@pytest.fixture
def own_connection(monkeypatch):
    """The selectors on a connection of their own to the test database, in autocommit (as in a request)."""
    from django.db import connections

    from tenant_apps.search import selectors

    wrapper = connections.create_connection("default")
    monkeypatch.setattr(selectors, "connection", wrapper)
    yield wrapper
    wrapper.close()


def test_outside_a_transaction_the_search_runs_in_one_of_its_own(org, own_connection):
    from django.db import DataError

    from tenant_apps.search.selectors import Statement, _fetch

    own_connection.set_schema(org.schema_name)
    assert _fetch(Statement("SELECT current_setting('enable_seqscan')", [])) == [[("off",)]]
    assert not own_connection.in_atomic_block
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan'), now() = statement_timestamp()")
        assert cursor.fetchone() == ("on", True)  # committed: no transaction left open
        with pytest.raises(DataError):
            _fetch(Statement("SELECT 1 / 0", []))
        cursor.execute("SELECT current_setting('enable_seqscan'), now() = statement_timestamp()")
        assert cursor.fetchone() == ("on", True)  # rolled back, the connection usable


# Issue 21, "Search": prepared statements (one PREPARE per connection, EXECUTEd with the terms as parameters)


def test_a_prepared_statement_serves_each_organization_its_own_rows_on_one_connection(
    api, make_lead, org, other_org
):
    """The statements name no schema: PostgreSQL re-analyzes a prepared one under the search_path of the
    organization that runs it, on the same connection, with the same statement name."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_lead(name="Pallas Alpha", company="Sharedword Ltd")
    make_lead(name="Pallas Beta", company="Sharedword Ltd", organization=other_org)
    ours, theirs = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)
    connection.ensure_connection()
    session = connection.connection
    seen = []
    for client, want in [(ours, "Pallas Alpha"), (theirs, "Pallas Beta")] * 2:
        for query in ("pallas", "sharedword"):  # a type-ahead range; the GIN index (inside the company)
            with CaptureQueriesContext(connection) as queries:
                assert [row["title"] for row in search(client, query)] == [want]
            seen.append([query["sql"] for query in queries.captured_queries if "lp_search_" in query["sql"]])
    assert connection.connection is session  # one physical connection served both organizations
    names = [sorted(set(re.findall(r"EXECUTE (lp_search_[0-9a-f]+)", " ".join(sqls)))) for sqls in seen]
    assert names[0] == names[2] == names[4] == names[6] and names[1] == names[3] == names[5] == names[7]
    # prepared by the first organization's requests, only executed by the other's and afterwards
    assert all("PREPARE" not in sql for sqls in seen[2:] for sql in sqls)


def test_a_failed_search_statement_leaves_the_prepared_ones_known(api, make_lead, monkeypatch):
    """PREPARE outlives a rollback: after a statement fails, the names kept for the connection are read back
    from the server, and the next searches prepare or reuse them without error."""
    from django.db import DataError

    from tenant_apps.search import selectors

    make_lead(name="Failing Fiona")
    client = api(Role.ADMIN)
    assert [row["title"] for row in search(client, "fiona")] == ["Failing Fiona"]
    monkeypatch.setattr(selectors, "VOCABULARY_CANDIDATES", "not a number")
    with pytest.raises(DataError):
        client.get("/api/search/", {"q": "fionna"})
    monkeypatch.undo()
    assert [row["title"] for row in search(client, "fiona")] == ["Failing Fiona"]
    assert [row["title"] for row in search(client, "fionna")] == ["Failing Fiona"]


def test_a_misspelled_term_alone_finds_the_candidates_the_others_filter_them(api, make_lead, org, admin):
    """ "maria garica": no word of the vocabulary begins "garica", so the GIN index is asked for it alone
    (never for every "maria"); "maria:*" is checked on its candidates. What matches is the same."""
    make_lead(name="Maria Garcia")
    lead = make_lead(name="Maria Lopez")
    with schema_context(org.schema_name):  # the misspelling as written, where the vocabulary does not look
        note_add(record=lead, actor=admin, body="Maria wrote her name as garica on the form")
    statements, results = search_statements(api(Role.ADMIN), "maria garica")
    [ranked] = [sql for sql in statements if "ts_rank" in sql and "1.0::float8 + c.r" in sql]
    indexed = "search_vector @@ to_tsquery('simple'::regconfig, 'garica:*') AND strip(s.search_vector) @@ "
    assert indexed + "to_tsquery('simple'::regconfig, 'maria:* & garica:*')" in ranked, ranked
    assert {row["type"] for row in results} == {"note", "lead"}
    assert "Maria Garcia" in {row["title"] for row in results}
