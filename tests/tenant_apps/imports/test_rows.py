"""Each row on its own: validated and normalized as the record services would, failing alone with its line
and reason; duplicates within the file and of existing records under each policy; dry run."""

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.contacts.models import Contact
from tenant_apps.imports.models import ImportChange, ImportRowError
from tenant_apps.leads.models import Lead
from tenant_apps.records import normalize
from tests.tenant_apps.imports.conftest import assert_counts_add_up, csv_rows, leads


def errors_of(run):
    return list(
        ImportRowError.objects.filter(import_run=run)
        .order_by("row_number")
        .values_list("line", "code", "field")
    )


@pytest.mark.parametrize(
    ("row", "code", "field"),
    [
        ("Jane,not-an-email,NEW,10", "invalid_email", "email"),
        ("Jane,jane@x,NEW,10", "invalid_email", "email"),
        ("Jane,jane@example.com,MAYBE,10", "unknown_stage", "stage"),
        ("Jane,jane@example.com,NEW,12k", "not_a_number", "value"),
        ("Jane,jane@example.com,NEW,1.234", "out_of_range", "value"),
        ("Jane,jane@example.com,NEW,-5", "out_of_range", "value"),
        ("Jane,jane@example.com,NEW,99999999999", "out_of_range", "value"),
        (",jane@example.com,NEW,10", "required", "name"),
        ("   ,jane@example.com,NEW,10", "required", "name"),
        (f"{'x' * 201},jane@example.com,NEW,10", "too_long", "name"),
        ("Jane,jane@example.com,NEW", "wrong_columns", ""),
        ("Jane,jane@example.com,NEW,10,surprise", "wrong_columns", ""),
    ],
)
def test_each_bad_row_fails_alone_with_its_line_and_reason(imported, org, row, code, field):
    content = (
        f"name,email,stage,value\nGood One,good1@example.com,NEW,1\n{row}\nGood Two,good2@example.com,WON,2\n"
    )
    with schema_context(org.schema_name):
        done = imported(content)
        assert (done.status, done.rows_read, done.imported, done.failed) == ("done", 3, 2, 1)
        assert errors_of(done) == [(3, code, field)]
    assert sorted(lead["name"] for lead in leads(org)) == ["Good One", "Good Two"]


@pytest.mark.parametrize(
    ("number_format", "written", "value"),
    [
        ("1,234.56", "12,500.50", "12500.50"),
        ("1,234.56", "1,234,567", "1234567.00"),
        ("1,234.56", "-0.5", None),  # a plain number still is one (here below zero)
        ("1,234.56", "12500.5", "12500.50"),
        ("1,234.56", "12,5", None),
        ("1,234.56", "1,2345.00", None),
        ("1,234.56", "12.500,50", None),
        ("1.234,56", "12.500,50", "12500.50"),
        ("1.234,56", "1.500", "1500.00"),
        ("1.234,56", "12,5", "12.50"),
        ("1.234,56", "12500.50", "12500.50"),  # as exports write amounts
        ("1.234,56", "12,500.50", None),
    ],
)
def test_numbers_may_group_thousands_as_the_organization_writes_them(
    imported, org, number_format, written, value
):
    Organization.objects.filter(pk=org.pk).update(number_format=number_format)
    done = imported(f'name,value\nJane,"{written}"\n')
    if value is None:
        assert done.imported == 0
        with schema_context(org.schema_name):
            [(_, code, field)] = errors_of(done)
        assert field == "value" and code in ("not_a_number", "out_of_range")
    else:
        assert [lead["value"] for lead in leads(org)] == [Decimal(value)]


def test_a_value_that_is_no_number_names_the_organizations_format(imported, org, client):
    Organization.objects.filter(pk=org.pk).update(number_format="1.234,56")
    done = imported("name,value\nJane,12k\n")
    [row] = csv_rows(client.get(f"/api/imports/{done.pk}/errors.csv"))
    assert (row["code"], row["message"]) == ("not_a_number", "value: not a number such as 12.500,50")


def test_trailing_empty_cells_and_blank_lines_are_not_problems(imported, org):
    done = imported("name,email\nJane,jane@example.com,,\n\n,\nBob,bob@example.com\n")
    assert (done.rows_read, done.imported, done.failed) == (2, 2, 0)


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("phone", "call me", "invalid_phone"),
        ("phone", "12345", "invalid_phone"),
        ("phone", "+1 555 +0100", "invalid_phone"),
        ("source", "tv", "unknown_source"),
        ("currency", "EURO", "unknown_currency"),
        ("tags", ";".join(f"t{i}" for i in range(21)), "invalid_tags"),
        ("tags", "x" * 51, "invalid_tags"),
        ("company", "c" * 201, "too_long"),
    ],
)
def test_other_fields_are_checked_like_the_lead_services_do(imported, org, column, value, code):
    with schema_context(org.schema_name):
        done = imported(f"name,{column}\nJane,{value}\n")
        assert errors_of(done) == [(2, code, column)]


def test_a_row_with_several_problems_lists_them_all(imported, org, client):
    done = imported("name,email,stage\n,bad,NOPE\n")
    [row] = csv_rows(client.get(f"/api/imports/{done.pk}/errors.csv"))
    assert row["code"] == "required"
    assert row["message"] == (
        "name: required; email: not a valid email address; stage: expected one of NEW, CONTACTED, QUALIFIED, "
        "PROPOSAL, NEGOTIATION, WON, LOST"
    )


def test_values_are_normalized_as_the_services_normalize_them(imported, org):
    content = (
        "name,email,phone,company,source,stage,value,currency,tags\n"
        '  Jane  Doe ,  JANE@Example.COM ,+1 (555) 010-9999,"ACME, Inc.",Referral,qualified,40800,eur,'
        '" VIP ; q4 ,Big  Deal|vip"\n'
    )
    imported(content, tags=["Fair 2026"])
    [lead] = leads(org)
    assert lead["name"] == "Jane  Doe"
    assert (lead["email"], lead["phone"], lead["phone_normalized"]) == (
        "jane@example.com",
        "+1 (555) 010-9999",
        "+15550109999",
    )
    assert (lead["source"], lead["stage"], lead["value"], lead["currency"]) == (
        "referral",
        "QUALIFIED",
        Decimal("40800.00"),
        "EUR",
    )
    assert lead["tags"] == ["vip", "q4", "big deal", "fair 2026"]
    assert lead["identity_key"] == normalize.identity_key("Jane  Doe", "ACME, Inc.")


@pytest.mark.parametrize(
    ("name", "company"),
    [
        ("Jane Doe", "ACME, Inc."),
        ("José  Müller-Lüdenscheidt", "Société Générale S.A."),
        ("Zoë O'Brien", "Inc"),
        ("ﬁnn", "Ｆｕｌｌ Ｗｉｄｔｈ Corp Ltd"),  # noqa: RUF001 (full-width letters: NFKD folds them)
        ("李小龍", "北京 Inc Co"),
        ("Ann", "inc inc inc Works"),
        ("--Bob--", "  The  Co-op (UK) Limited "),
        ("Al", "x" * 200),
        ("Ünïcödé ñame", "Ça co corporation gmbh"),
    ],
)
def test_identity_keys_computed_in_sql_match_the_python_ones(imported, org, name, company):
    imported(f'name,company\n"{name}","{company}"\n')
    [lead] = leads(org)
    assert lead["identity_key"] == normalize.identity_key(lead["name"], lead["company"])


@pytest.mark.parametrize(
    "phone", ["+44 20 7946 0958", "(555) 010.9999", "555-0100/22", "0049 30 123456", "+1\t555 0100 22"]
)
def test_phones_normalized_in_sql_match_the_python_ones(imported, org, phone):
    imported(f'name,phone\nJane,"{phone}"\n')
    [lead] = leads(org)
    assert lead["phone_normalized"] == normalize.phone(phone)


def test_an_import_is_the_one_place_a_lead_starts_beyond_new_and_its_activity_says_so(imported, org, manager):
    done = imported("name,stage,source\nWon Deal,WON,event\nFresh,,\n")
    with schema_context(org.schema_name):
        won, fresh = Lead.objects.order_by("id")
        assert (won.stage, fresh.stage, fresh.source) == ("WON", "NEW", "import")
        created = Activity.objects.get(lead=won, type=ActivityType.CREATED)
        assert created.subject == "Lead created: Won Deal"
        assert created.actor_id == manager.pk
        assert created.metadata == {
            "source": "event",
            "owner_id": None,
            "stage": "WON",
            "import_id": done.pk,
            "via": "import",
        }


def test_owners_by_email_or_id_and_the_default_owner(imported, org, member, manager):
    rep = member(role=Role.REP)
    imported(
        f"name,owner\nMine,{rep.email.upper()}\nById,{rep.pk}\nNobodys,\n",
        owner=manager.pk,
    )
    owners = {lead["name"]: lead["owner_id"] for lead in leads(org)}
    assert owners == {"Mine": rep.pk, "ById": rep.pk, "Nobodys": manager.pk}


def test_a_deactivated_member_is_no_owner(imported, org, member):
    rep = member(role=Role.REP)
    with schema_context(org.schema_name):
        rep.is_active = False
        rep.save(update_fields=["is_active"])
        done = imported(f"name,owner\nMine,{rep.email}\n")
        assert errors_of(done) == [(2, "unknown_owner", "owner")]
    assert [lead["owner_id"] for lead in leads(org)] == [None]


def test_an_unknown_owner_imports_the_row_unassigned_with_a_warning(imported, org, manager, client):
    done = imported(
        "name,owner,email\nStray,nobody@acme.test,stray@example.com\nBad,nobody@acme.test,bad\n",
        owner=manager.pk,  # the default owner is for rows without an owner, not for unknown ones
    )
    assert (done.imported, done.failed, done.warnings) == (1, 1, 1)
    assert [(lead["name"], lead["owner_id"]) for lead in leads(org)] == [("Stray", None)]
    rows = csv_rows(client.get(f"/api/imports/{done.pk}/errors.csv"))
    assert [(row["line"], row["outcome"], row["code"], row["field"]) for row in rows] == [
        ("2", "warning", "unknown_owner", "owner"),
        ("3", "failed", "invalid_email", "email"),
    ]
    assert rows[0]["message"] == "owner: no active member has this email or id; the owner was not set"
    assert client.get(f"/api/imports/{done.pk}/").json()["warnings"] == 1
    assert_counts_add_up(done)


def test_an_update_with_an_unknown_owner_keeps_the_owner_with_a_warning(imported, org, make_lead, member):
    rep = member(role=Role.REP)
    existing = make_lead(name="Jane", email="jane@example.com", company="Old", owner_id=rep.pk)
    done = imported(
        "name,email,company,owner\nJane,jane@example.com,New,nobody@acme.test\n", duplicate_policy="update"
    )
    assert (done.updated, done.warnings) == (1, 1)
    with schema_context(org.schema_name):
        lead = Lead.objects.get(pk=existing.pk)
        assert (lead.company, lead.owner_id) == ("New", rep.pk)
        [warning] = ImportRowError.objects.filter(import_run=done)
        assert (warning.warning, warning.skipped, warning.code) == (True, False, "unknown_owner")


def test_errors_csv_lists_every_rejected_row_with_line_reason_and_original_values(imported, client):
    content = (
        "Full Name,E-mail,Stage\n"
        "Ok,ok@example.com,NEW\n"
        "=cmd|' /C calc'!A0,bad,NEW\n"
        "Again,ok@example.com,WON\n"
        ",x@example.com,LOST\n"
    )
    done = imported(content)
    assert (done.imported, done.skipped, done.failed) == (1, 1, 2)
    response = client.get(f"/api/imports/{done.pk}/errors.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="import-{done.pk}-errors.csv"'
    rows = csv_rows(response)
    assert [tuple(row.values()) for row in rows] == [
        (
            "3",
            "failed",
            "invalid_email",
            "email",
            "email: not a valid email address",
            "'=cmd|' /C calc'!A0",
            "bad",
            "NEW",
        ),
        (
            "4",
            "skipped",
            "duplicate_in_file",
            "email",
            "duplicate of line 2 (same email)",
            "Again",
            "ok@example.com",
            "WON",
        ),
        ("5", "failed", "required", "name", "name: required", "", "x@example.com", "LOST"),
    ]
    assert list(rows[0]) == ["line", "outcome", "code", "field", "message", "Full Name", "E-mail", "Stage"]
    assert len(rows) == done.skipped + done.failed


def test_duplicates_within_the_file_by_email_phone_or_company_and_name(imported, org):
    content = (
        "name,email,phone,company\n"
        "Jane,jane@example.com,,\n"
        "Janet,JANE@example.com,,\n"  # same email
        "Bob,,+1 555 0100 200,\n"
        "Robert,,+15550100200,\n"  # same phone once normalized
        "Ann Lee,,,Acme Inc\n"
        "ann  lee,,,ACME\n"  # same company and name
        "Broken,broken,,\n"  # invalid: it makes no later row a duplicate
        "Broken Too,broken,,\n"
    )
    with schema_context(org.schema_name):
        done = imported(content)
        assert (done.imported, done.skipped, done.failed) == (3, 3, 2)
        assert [
            (line, code, field) for line, code, field in errors_of(done) if code == "duplicate_in_file"
        ] == [
            (3, "duplicate_in_file", "email"),
            (5, "duplicate_in_file", "phone"),
            (7, "duplicate_in_file", "company"),
        ]
    assert sorted(lead["name"] for lead in leads(org)) == ["Ann Lee", "Bob", "Jane"]
    assert_counts_add_up(done)


def test_duplicates_of_existing_leads_are_skipped_by_default(imported, org, make_lead, client):
    existing = make_lead(name="Jane Doe", email="jane@example.com", company="Acme")
    done = imported(
        "name,email,company\nJ. Doe,JANE@example.com,\nJane Doe,,ACME Inc.\nNew,new@example.com,\n"
    )
    assert (done.imported, done.skipped, done.updated) == (1, 2, 0)
    rows = csv_rows(client.get(f"/api/imports/{done.pk}/errors.csv"))
    assert [(row["code"], row["message"]) for row in rows] == [
        ("duplicate", f"matches existing lead #{existing.pk} (same email)"),
        ("duplicate", f"matches existing lead #{existing.pk} (same company and name)"),
    ]
    assert len(leads(org)) == 2


def test_duplicates_of_existing_leads_may_be_created_anyway(imported, org, make_lead):
    make_lead(name="Jane Doe", email="jane@example.com")
    done = imported(
        "name,email\nJane Doe,jane@example.com\nJane Doe,jane@example.com\n", duplicate_policy="create"
    )
    assert (done.imported, done.skipped) == (2, 0)
    assert len(leads(org, email="jane@example.com")) == 3


def test_duplicates_of_existing_leads_may_update_them(imported, org, make_lead, member, manager):
    rep = member(role=Role.REP)
    existing = make_lead(
        name="Jane Doe",
        email="jane@example.com",
        company="Old Co",
        value="10.00",
        tags=["keep"],
        stage="CONTACTED",
    )
    untouched = make_lead(name="Same", email="same@example.com", company="Same Co")
    done = imported(
        "name,email,company,value,stage,owner,tags,phone\n"
        f"Jane Doe,jane@example.com,New Co,2500,WON,{rep.email},vip,\n"
        "Same,same@example.com,Same Co,,,,,\n"
        "Jane D,jane@example.com,Other,,,,,\n"  # the same record again: the first row wins
        "Fresh,fresh@example.com,,,,,,\n",
        duplicate_policy="update",
        tags=["2026"],
    )
    assert (done.imported, done.updated, done.skipped) == (1, 2, 1), done.__dict__
    with schema_context(org.schema_name):
        lead = Lead.objects.get(pk=existing.pk)
        assert (lead.company, lead.value, lead.owner_id, lead.tags) == (
            "New Co",
            Decimal("2500.00"),
            rep.pk,
            ["keep", "vip", "2026"],
        )
        assert lead.stage == "CONTACTED"  # the stage changes only through transitions
        assert lead.identity_key == normalize.identity_key("Jane Doe", "New Co")
        # the untouched lead gets the import's tag, so it is updated too
        assert Lead.objects.get(pk=untouched.pk).tags == ["2026"]
        system = Activity.objects.get(lead=lead, type=ActivityType.SYSTEM, metadata__import_id=done.pk)
        assert system.metadata["changes"] == {
            "company": ["Old Co", "New Co"],
            "value": ["10.00", "2500.00"],
            "tags": [["keep"], ["keep", "vip", "2026"]],
        }
        owner = Activity.objects.get(lead=lead, type=ActivityType.OWNER_CHANGE, metadata__import_id=done.pk)
        assert owner.metadata["from"] is None and owner.metadata["to"] == rep.pk
        change = ImportChange.objects.get(import_run=done, record_id=lead.pk)
        assert change.before["company"] == "Old Co" and change.after["company"] == "New Co"
    assert_counts_add_up(done)


def test_an_update_that_changes_nothing_is_skipped_as_unchanged(imported, org, make_lead, client):
    existing = make_lead(name="Jane", email="jane@example.com", company="Acme")
    done = imported("name,email,company\nJane,jane@example.com,Acme\n", duplicate_policy="update")
    assert (done.updated, done.skipped) == (0, 1)
    [row] = csv_rows(client.get(f"/api/imports/{done.pk}/errors.csv"))
    assert (row["outcome"], row["code"]) == ("skipped", "unchanged")
    assert str(existing.pk) in row["message"]


def test_dry_run_writes_nothing_and_counts_what_would_happen(imported, org, make_lead):
    make_lead(name="Jane", email="jane@example.com")
    with schema_context(org.schema_name):
        before = (Lead.objects.count(), Activity.objects.count())
    done = imported(
        "name,email\nJane Renamed,jane@example.com\nNew,new@example.com\nBad,bad\n",
        dry_run=True,
        duplicate_policy="update",
    )
    assert (done.status, done.dry_run, done.imported, done.updated, done.failed) == ("done", True, 1, 1, 1)
    with schema_context(org.schema_name):
        assert (Lead.objects.count(), Activity.objects.count()) == before
        assert not ImportChange.objects.filter(import_run=done).exists()
        assert ImportRowError.objects.filter(import_run=done).count() == 1  # the report is the point


def test_an_export_cell_escaped_against_formulas_imports_back_unescaped(imported, org):
    imported("name,phone\n'=Not a formula,'+1 555 0100 200\n")
    [lead] = leads(org)
    assert (lead["name"], lead["phone_normalized"]) == ("=Not a formula", "+15550100200")


def test_contacts_import_with_accounts_by_name_or_id(imported, org, manager):
    with schema_context(org.schema_name):
        acme = Account.objects.create(name="Acme Corp")
    done = imported(
        "name,email,job title,account\n"
        "Jane,jane@example.com,CEO,acme corp\n"
        f"Bob,bob@example.com,,{acme.pk}\n"
        "Ann,ann@example.com,,Nowhere Inc\n"
        "Jim,JANE@example.com,,\n",
        record_type="contact",
    )
    assert (done.imported, done.failed, done.skipped) == (2, 1, 1)
    with schema_context(org.schema_name):
        jane = Contact.objects.get(email="jane@example.com")
        assert (jane.account_id, jane.title) == (acme.pk, "CEO")
        created = Activity.objects.get(contact=jane, type=ActivityType.CREATED)
        assert (created.account_id, created.subject) == (acme.pk, "Contact created: Jane")
        assert Account.objects.get(pk=acme.pk).last_activity_at == created.occurred_at
        assert ImportRowError.objects.get(import_run=done, line=4).code == "unknown_account"


def test_accounts_import_with_domains_normalized_and_deduplicated(imported, org):
    done = imported(
        "company,website,size,status,industry\n"
        "Acme,https://www.Acme.com/about?x=1,11-50,customer,Tools\n"
        "Bücher,bücher.de,,,\n"
        "Acme Again,acme.com,,,\n"
        "ACME,,,,\n"
        "Broken,not a domain,,,\n"
        "Sized,,12,,\n"
        "Odd,,,vip,\n",
        record_type="account",
    )
    assert (done.imported, done.skipped, done.failed) == (2, 2, 3)
    with schema_context(org.schema_name):
        accounts = {a.name: a for a in Account.objects.all()}
        assert (accounts["Acme"].domain, accounts["Acme"].size, accounts["Acme"].status) == (
            "acme.com",
            "11-50",
            "customer",
        )
        assert accounts["Bücher"].domain == "xn--bcher-kva.de"
        assert accounts["Bücher"].status == "prospect"
        codes = dict(ImportRowError.objects.filter(import_run=done).values_list("line", "code"))
        assert codes == {
            4: "duplicate_in_file",
            5: "duplicate_in_file",
            6: "invalid_domain",
            7: "unknown_size",
            8: "unknown_status",
        }


def test_an_import_normalizes_phones_to_e164_as_the_services_do(imported, org, make_lead):
    """Issue 16: one number written three ways is one number, against existing leads and within the file."""
    existing = make_lead(name="Nancy Davolio", phone="+1 (555) 010-7777")
    done = imported(
        "name,phone\n"
        'Andrew Fuller,"15550107777"\n'  # the existing lead's number
        'Janet Leverling,"(555) 010-8888"\n'
        'Robert King,"+1 555 010 8888"\n'  # the line above's number
        "Laura Callahan,'+44 20 7946 0958\n"  # an export's escaped cell
    )
    assert [(line, code, field) for line, code, field in errors_of(done)] == [
        (2, "duplicate", "phone"),
        (4, "duplicate_in_file", "phone"),
    ]
    assert [(lead["name"], lead["phone_normalized"]) for lead in leads(org) if lead["id"] != existing.pk] == [
        ("Janet Leverling", "+15550108888"),
        ("Laura Callahan", "+442079460958"),
    ]
