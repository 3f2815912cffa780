"""Exports: the rows a list shows with the same query parameters, streamed as CSV with formula-like cells
escaped, or written by a job to a file to download; each organization's own rows only."""

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncRequestFactory, RequestFactory
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from rest_framework.request import Request

from shared_apps.organizations.context import organization_context
from shared_apps.organizations.routing import forget_hosts
from shared_apps.users.models import Role
from tenant_apps.accounts.services import account_create
from tenant_apps.activities.services import activity_log
from tenant_apps.contacts.services import contact_create
from tenant_apps.imports import selectors, services
from tenant_apps.imports.api.streaming import csv_response
from tenant_apps.imports.models import Export
from tenant_apps.opportunities.services import opportunity_create
from tenant_apps.segments.services import segment_create
from tenant_apps.tasks.services import task_create
from tests.conftest import client_for, host_of
from tests.tenant_apps.imports.conftest import csv_rows, leads, run, upload


def test_leads_export_has_every_live_lead_with_its_columns(api, make_lead, member, org):
    rep = member(role=Role.REP)
    lead = make_lead(
        name="Jane Doe",
        email="jane@example.com",
        phone="+1 555 0100 200",
        company="Acme",
        value="1200.50",
        tags=["vip", "q4"],
        owner_id=rep.pk,
        source="ads",
        stage="QUALIFIED",
    )
    gone = make_lead(name="Gone")
    with schema_context(org.schema_name):
        from tenant_apps.leads.services import lead_delete

        lead_delete(lead_id=gone.pk, actor=None)
    response = api(Role.ADMIN).get("/api/exports/leads.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="leads.csv"'
    [row] = csv_rows(response)
    assert row == {
        "id": str(lead.pk),
        "name": "Jane Doe",
        "email": "jane@example.com",
        "phone": "'+1 555 0100 200",  # a cell starting with + would be a formula in a spreadsheet
        "company": "Acme",
        "source": "ads",
        "stage": "QUALIFIED",
        "value": "1200.50",
        "currency": "USD",
        "owner": rep.email,
        "tags": "vip;q4",
        "score": "0",
        "created_at": lead.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": row["updated_at"],
        "stage_changed_at": row["stage_changed_at"],
        "last_contacted_at": "",
        "stage_label": "Qualified",
    }


def test_exports_use_the_organizations_lead_stage_labels_and_deal_pipelines(api, make_lead, org):
    make_lead(name="Jane", stage="QUALIFIED")
    admin = api(Role.ADMIN)
    admin.patch("/api/settings/lead-stages/", {"labels": {"QUALIFIED": "Ready"}}, format="json")
    [row] = csv_rows(admin.get("/api/exports/leads.csv"))
    assert (row["stage"], row["stage_label"]) == ("QUALIFIED", "Ready")
    account = admin.post("/api/accounts/", {"name": "Initech"}, format="json").json()
    admin.post("/api/opportunities/", {"name": "Deal", "account": account["id"]}, format="json")
    [deal] = csv_rows(admin.get("/api/exports/opportunities.csv"))
    assert (deal["stage"], deal["pipeline"], deal["stage_name"], deal["lost_reason"]) == (
        "QUALIFICATION",
        "Sales",
        "Qualification",
        "",
    )


@pytest.mark.parametrize(
    ("value", "exported"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("Plain", "Plain"),
        ("a=b", "a=b"),
    ],
)
def test_formula_like_cells_are_escaped(api, make_lead, value, exported):
    make_lead(name=value, company=value)
    [row] = csv_rows(api(Role.ADMIN).get("/api/exports/leads.csv"))
    assert (row["name"], row["company"]) == (exported, exported)


def test_the_list_filters_apply_and_bad_ones_are_400_naming_the_parameter(api, make_lead):
    make_lead(name="Won", stage="WON", tags=["vip"], value="5000")
    make_lead(name="New", tags=["vip"])
    make_lead(name="Other", value="10")
    client = api(Role.ADMIN)

    def names(query: str) -> list[str]:
        return sorted(row["name"] for row in csv_rows(client.get(f"/api/exports/leads.csv?{query}")))

    assert names("stage=won") == ["Won"]
    assert names("tag=VIP") == ["New", "Won"]
    assert names("value_min=1000") == ["Won"]
    assert names("stage=NEW&tag=vip") == ["New"]
    for query in ("stage=DONE", "value_min=abc", "owner=someone", "segment=x"):
        response = client.get(f"/api/exports/leads.csv?{query}")
        assert response.status_code == 400
        assert query.split("=")[0] in response.json()["errors"]


def test_a_rep_exports_only_the_leads_the_list_shows_them(org, make_lead, member):
    rep, other = member(role=Role.REP), member(role=Role.REP)
    make_lead(name="Mine", owner_id=rep.pk)
    make_lead(name="Unassigned")
    make_lead(name="Theirs", owner_id=other.pk)
    client = client_for(org, rep)
    assert sorted(row["name"] for row in csv_rows(client.get("/api/exports/leads.csv"))) == [
        "Mine",
        "Unassigned",
    ]
    assert [row["name"] for row in csv_rows(client.get("/api/exports/leads.csv?owner=me"))] == ["Mine"]


def test_a_segment_narrows_the_export(api, make_lead, member, org):
    admin = member(role=Role.ADMIN)
    make_lead(name="Acme Big", company="Acme")
    make_lead(name="Globex")
    with schema_context(org.schema_name):
        segment = segment_create(
            actor=admin,
            name="acme",
            record_type="lead",
            definition={"conditions": [{"field": "company", "op": "eq", "value": "Acme"}]},
        )
        contacts = segment_create(actor=admin, name="c", record_type="contact")
    client = client_for(org, admin)
    assert [r["name"] for r in csv_rows(client.get(f"/api/exports/leads.csv?segment={segment.pk}"))] == [
        "Acme Big"
    ]
    response = client.get(f"/api/exports/leads.csv?segment={contacts.pk}")
    assert (response.status_code, list(response.json()["errors"])) == (400, ["segment"])
    assert api(Role.ADMIN).get(f"/api/exports/leads.csv?segment={segment.pk}").status_code == 404  # private


def test_contacts_accounts_and_activities_exports(api, org, make_lead, admin):
    with schema_context(org.schema_name):
        acme = account_create(actor=admin, name="Acme", domain="acme.com", tags=["key"])
        contact_create(actor=admin, name="Jane", email="jane@acme.com", account_id=acme.pk)
        lead = make_lead(name="Lead One")
        activity_log(actor=admin, type="CALL", lead_id=lead.pk, subject="=Called")
    client = api(Role.ADMIN)
    [account] = csv_rows(client.get("/api/exports/accounts.csv"))
    assert (account["name"], account["domain"], account["status"], account["tags"]) == (
        "Acme",
        "acme.com",
        "prospect",
        "key",
    )
    [contact] = csv_rows(client.get("/api/exports/contacts.csv?account=" + str(acme.pk)))
    assert (contact["name"], contact["account"], contact["account_id"]) == ("Jane", "Acme", str(acme.pk))
    calls = csv_rows(client.get("/api/exports/activities.csv?type=call"))
    assert [(row["type"], row["subject"], row["lead_id"], row["actor"]) for row in calls] == [
        ("CALL", "'=Called", str(lead.pk), admin.email)
    ]
    assert len(csv_rows(client.get("/api/exports/activities.csv"))) == 4  # 3 CREATED and the call
    assert client.get("/api/exports/activities.csv?type=nope").status_code == 400
    assert client.get("/api/exports/notes.csv").status_code == 404


def test_deals_and_tasks_exports(api, org, make_lead, admin):
    with schema_context(org.schema_name):
        acme = account_create(actor=admin, name="Acme")
        deal = opportunity_create(
            actor=admin,
            name="=Big deal",
            account_id=acme.pk,
            amount="12500.50",
            tags=["q4"],
            owner_id=admin.pk,
        )
        opportunity_create(actor=admin, name="Small", account_id=acme.pk, amount="10")
        task_create(actor=admin, title="Call back", opportunity_id=deal.pk)
        task_create(actor=admin, title="Send offer", lead_id=make_lead(name="L").pk, assignee_id=None)
    client = api(Role.ADMIN)
    deals = csv_rows(client.get("/api/exports/opportunities.csv?amount_min=100"))
    assert [
        (row["name"], row["account"], row["amount"], row["stage"], row["owner"], row["tags"]) for row in deals
    ] == [("'=Big deal", "Acme", "12500.50", "QUALIFICATION", admin.email, "q4")]
    tasks = csv_rows(client.get(f"/api/exports/tasks.csv?opportunity={deal.pk}"))
    assert [(row["title"], row["status"], row["assignee"], row["opportunity_id"]) for row in tasks] == [
        ("Call back", "open", admin.email, str(deal.pk))
    ]
    assert len(csv_rows(client.get("/api/exports/tasks.csv"))) == 2
    assert list(client.get("/api/exports/tasks.csv?status=nope").json()["errors"]) == ["status"]
    assert list(client.get("/api/exports/tasks.csv?segment=1").json()["errors"]) == ["segment"]


def test_a_rep_exports_only_the_deals_and_tasks_the_lists_show_them(org, make_lead, member):
    rep, other = member(role=Role.REP), member(role=Role.REP)
    with schema_context(org.schema_name):
        acme = account_create(actor=other, name="Acme")
        mine = opportunity_create(actor=rep, name="Mine", account_id=acme.pk, owner_id=rep.pk)
        theirs = opportunity_create(actor=other, name="Theirs", account_id=acme.pk, owner_id=other.pk)
        task_create(actor=rep, title="On mine", opportunity_id=mine.pk)
        task_create(actor=other, title="On theirs", opportunity_id=theirs.pk)
    client = client_for(org, rep)
    assert [row["name"] for row in csv_rows(client.get("/api/exports/opportunities.csv"))] == ["Mine"]
    assert [row["title"] for row in csv_rows(client.get("/api/exports/tasks.csv"))] == ["On mine"]


def test_an_export_has_only_its_organizations_rows(api, make_lead, org, other_org):
    make_lead(name="Ours")
    make_lead(name="Theirs", organization=other_org)
    assert [row["name"] for row in csv_rows(api(Role.ADMIN).get("/api/exports/leads.csv"))] == ["Ours"]
    globex = api(Role.ADMIN, organization=other_org)
    assert [row["name"] for row in csv_rows(globex.get("/api/exports/leads.csv"))] == ["Theirs"]


def test_an_export_costs_the_same_queries_whatever_its_size(api, make_lead, member):
    owners = [member(role=Role.REP) for _ in range(3)]
    client = api(Role.ADMIN)
    make_lead(owner_id=owners[0].pk)
    client.get("/api/exports/leads.csv")  # warm routing and the token
    counts = []
    for more in (0, 30):
        for index in range(more):
            make_lead(owner_id=owners[index % 3].pk)
        with CaptureQueriesContext(connection) as queries:
            rows = csv_rows(client.get("/api/exports/leads.csv"))
        counts.append(len(queries))
        assert len(rows) == 1 + more
    assert counts[0] == counts[1], counts


def test_the_streamed_export_is_async_under_asgi(org, make_lead, member):
    """Django gathers a sync iterator into a list under ASGI: there the rows must come from an async one."""
    admin = member(role=Role.ADMIN)
    for index in range(3):
        make_lead(name=f"Lead {index}")
    request = Request(AsyncRequestFactory().get("/api/exports/leads.csv"))
    with organization_context(org):  # as the routing middleware leaves it for the view
        query = selectors.export_query(record_type="leads", actor=admin, filters={})
        response = csv_response(request, lambda: iter(selectors.ExportStream(query)), "leads.csv")
        sync = csv_response(Request(RequestFactory().get("/")), lambda: iter([b"x"]), "x.csv")
    assert response.is_async

    async def consume() -> bytes:
        return b"".join([chunk async for chunk in response])

    body = async_to_sync(consume)().decode()
    assert [line.split(",")[1] for line in body.splitlines()] == ["name", "Lead 0", "Lead 1", "Lead 2"]
    assert not sync.is_async


def test_a_large_export_runs_as_a_job_and_is_downloaded(api, org, make_lead, member):
    admin = member(role=Role.ADMIN)
    make_lead(name="Won", stage="WON")
    make_lead(name="New")
    client = client_for(org, admin)
    response = client.post(
        "/api/exports/", {"record_type": "leads", "filters": {"stage": ["WON", "LOST"]}}, format="json"
    )
    assert (response.status_code, response.json()["status"]) == (202, "queued"), response.content
    export_id = response.json()["id"]
    assert client.get(f"/api/exports/{export_id}/download/").json()["code"] == "export_not_ready"
    with schema_context(org.schema_name):
        done = services.export_run(export_id=export_id)
        assert services.export_run(export_id=export_id).finished_at == done.finished_at  # twice: nothing
    detail = client.get(f"/api/exports/{export_id}/").json()
    assert (detail["status"], detail["rows"], detail["download_url"]) == (
        "done",
        1,
        f"/api/exports/{export_id}/download/",
    )
    download = client.get(f"/api/exports/{export_id}/download/")
    assert download["Content-Disposition"] == f'attachment; filename="leads-{export_id}.csv"'
    assert [row["name"] for row in csv_rows(download)] == ["Won"]
    # another member's export does not exist for them; an admin sees it
    assert api(Role.MANAGER).get(f"/api/exports/{export_id}/").status_code == 404
    assert api(Role.ADMIN).get(f"/api/exports/{export_id}/download/").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"record_type": "deals"}, "record_type"),
        ({"record_type": "leads", "filters": {"stage": "DONE"}}, "stage"),
        ({"record_type": "leads", "filters": "stage=WON"}, "filters"),
        ({"record_type": "leads", "colour": "blue"}, "colour"),
    ],
)
def test_bad_export_requests_are_400_naming_the_field(api, body, field):
    response = api(Role.VIEWER).post("/api/exports/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Export.objects.exists()


def test_viewers_may_export(api, make_lead):
    make_lead(name="Seen")
    viewer = api(Role.VIEWER)
    assert [row["name"] for row in csv_rows(viewer.get("/api/exports/leads.csv"))] == ["Seen"]
    assert viewer.post("/api/exports/", {"record_type": "leads"}, format="json").status_code == 202


def test_an_export_imports_back_into_another_organization(api, make_lead, org, other_org, member):
    make_lead(
        name="Jane", email="jane@example.com", company="=Acme", tags=["vip"], stage="WON", value="99.90"
    )
    make_lead(name="Bob", phone="+1 555 0100 200", source="ads")
    exported = b"".join(api(Role.ADMIN).get("/api/exports/leads.csv").streaming_content)
    globex = client_for(other_org, member(role=Role.MANAGER, organization=other_org))
    response = upload(globex, exported)
    assert response.status_code == 202, response.content
    done = run(other_org, response.json()["id"])
    assert (done.imported, done.failed) == (2, 0)
    keys = ("name", "email", "phone_normalized", "company", "source", "stage", "value", "tags")
    assert [{k: lead[k] for k in keys} for lead in leads(other_org)] == [
        {k: lead[k] for k in keys} for lead in leads(org)
    ]


@pytest.fixture
def reps_see_all_leads(org):
    org.reps_see_all_leads = True
    org.save(update_fields=["reps_see_all_leads"])
    yield org
    # the test's transaction is rolled back, the host's cached route (holding the setting) is not
    forget_hosts([host_of(org)])


def test_an_export_job_for_a_rep_honours_reps_see_all_leads(
    reps_see_all_leads, org, make_lead, member, run_jobs, django_capture_on_commit_callbacks
):
    """Issue 15: the job runs with the real organization, so the setting holds as it does in requests."""
    rep, other_rep = member(role=Role.REP), member(role=Role.REP)
    make_lead(name="Mine", owner_id=rep.pk)
    make_lead(name="Theirs", owner_id=other_rep.pk)
    client = client_for(org, rep)
    listed = client.get("/api/leads/").json()["results"]
    assert sorted(row["name"] for row in listed) == ["Mine", "Theirs"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/exports/", {"record_type": "leads"}, format="json")
    assert response.status_code == 202, response.content
    [job] = run_jobs("low")
    assert job.is_finished, job.latest_result().exc_string
    download = client.get(f"/api/exports/{response.json()['id']}/download/")
    assert sorted(row["name"] for row in csv_rows(download)) == ["Mine", "Theirs"]
