from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.tasks import services
from tenant_apps.tasks.models import Task
from tests.conftest import client_for


def titles(response):
    assert response.status_code == 200, response.content
    return sorted(row["title"] for row in response.json()["results"])


@pytest.fixture
def make_task(org, admin, make_record):
    """make_task(title, on=record, status=..., **fields) through the services, in acme unless told."""

    def make(title, on=None, status="open", organization=None, actor=None, **fields):
        organization = organization or org
        on = on or make_record("lead", organization=organization)
        kind = on._meta.model_name
        with schema_context(organization.schema_name):
            task = services.task_create(
                actor=actor or (admin if organization == org else None),
                title=title,
                **{f"{kind}_id": on.pk},
                **fields,
            )
            if status != "open":
                task = services.task_transition(task_id=task.pk, to_status=status, actor=None)
            return task

    return make


def test_list_filters(make_task, make_record, member, org):
    rep = member(role=Role.REP)
    client = client_for(org, rep)
    now = timezone.now()
    lead, account = make_record("lead"), make_record("account")
    make_task("mine-overdue", on=lead, assignee_id=rep.pk, due_at=now - timedelta(days=1))
    make_task("mine-later", on=account, assignee_id=rep.pk, due_at=now + timedelta(days=3))
    make_task("mine-done-late", assignee_id=rep.pk, due_at=now - timedelta(days=2), status="done")
    make_task("nobodys", on=lead, assignee_id=None)
    make_task("cancelled", on=account, status="cancelled")

    assert titles(client.get("/api/tasks/?assignee=me")) == ["mine-done-late", "mine-later", "mine-overdue"]
    assert titles(client.get("/api/tasks/?assignee=none")) == ["nobodys"]
    assert titles(client.get(f"/api/tasks/?assignee={rep.pk}&status=done")) == ["mine-done-late"]
    assert titles(client.get("/api/tasks/?status=done,CANCELLED")) == ["cancelled", "mine-done-late"]
    assert titles(client.get("/api/tasks/?overdue=true")) == ["mine-overdue"]
    assert "mine-overdue" not in titles(client.get("/api/tasks/?overdue=false"))
    assert len(titles(client.get("/api/tasks/?overdue=false"))) == 4
    tomorrow = (now + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert titles(client.get(f"/api/tasks/?due_before={tomorrow}")) == ["mine-done-late", "mine-overdue"]
    assert titles(client.get(f"/api/tasks/?due_after={tomorrow}")) == ["mine-later"]
    assert titles(client.get(f"/api/tasks/?lead={lead.pk}")) == ["mine-overdue", "nobodys"]
    assert titles(client.get(f"/api/tasks/?account={account.pk}")) == ["cancelled", "mine-later"]
    assert titles(client.get(f"/api/tasks/?contact={lead.pk}")) == []


@pytest.mark.parametrize(
    "query",
    [
        "assignee=someone",
        "assignee=0",
        "assignee=99999999999999999999999",
        "status=closed",
        "due_before=soon",
        "due_after=2030-13-45",
        "overdue=perhaps",
        "lead=abc",
        "opportunity=-1",
        "ordering=assignee",
        "cursor=garbage",
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(api, query):
    response = api(Role.REP).get(f"/api/tasks/?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()["errors"]


def test_overdue_lists_my_open_tasks_past_due_most_overdue_first(make_task, make_record, member, org):
    rep, other = member(role=Role.REP), member(role=Role.REP)
    now = timezone.now()
    make_task("a week late", assignee_id=rep.pk, due_at=now - timedelta(days=7))
    make_task("an hour late", assignee_id=rep.pk, due_at=now - timedelta(hours=1))
    make_task("due tomorrow", assignee_id=rep.pk, due_at=now + timedelta(days=1))
    make_task("no due date", assignee_id=rep.pk)
    make_task("done late", assignee_id=rep.pk, due_at=now - timedelta(days=3), status="done")
    make_task("cancelled late", assignee_id=rep.pk, due_at=now - timedelta(days=3), status="cancelled")
    make_task("someone else's", assignee_id=other.pk, due_at=now - timedelta(days=3))
    dead = make_record("lead")
    make_task("on a deleted lead", on=dead, assignee_id=rep.pk, due_at=now - timedelta(days=3))
    with schema_context(org.schema_name):
        type(dead).objects.filter(pk=dead.pk).update(deleted_at=now)

    response = client_for(org, rep).get("/api/tasks/overdue/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["title"] for row in rows] == ["a week late", "an hour late"]
    assert all(row["is_overdue"] for row in rows)
    assert client_for(org, other).get("/api/tasks/overdue/").json()["results"][0]["title"] == "someone else's"


def test_ordering_by_due_date_pages_over_undated_tasks_too(make_task, api):
    now = timezone.now()
    for index in range(4):
        make_task(f"dated {index}", due_at=now + timedelta(days=index))
    for index in range(3):
        make_task(f"undated {index}")
    client = api(Role.REP)
    seen, url = [], "/api/tasks/?ordering=due_at&page_size=2"
    while url:
        page = client.get(url).json()
        seen += [row["title"] for row in page["results"]]
        url = page["next"]
    assert seen[:4] == [f"dated {index}" for index in range(4)]
    assert sorted(seen[4:]) == [f"undated {index}" for index in range(3)]
    newest_due_first = client.get("/api/tasks/?ordering=-due_at&page_size=50").json()["results"]
    assert [row["title"] for row in newest_due_first][3:] == [
        f"dated {index}" for index in reversed(range(4))
    ]


def test_lists_cost_the_same_queries_whatever_the_page_size(make_task, make_record, member, org):
    members = [member(role=Role.REP) for _ in range(4)]
    me = members[0]
    kinds = ["lead", "contact", "account", "opportunity"]
    for index in range(24):
        make_task(
            f"t{index}",
            on=make_record(kinds[index % 4]),
            assignee_id=me.pk if index % 2 else members[index % 4].pk,
            due_at=timezone.now() - timedelta(days=1),
        )
    client = client_for(org, me)
    client.get("/api/tasks/?page_size=1")  # warm routing cache and token last_used_at

    for url, sizes in (("/api/tasks/", (2, 24)), ("/api/tasks/overdue/", (2, 12))):
        counts = []
        for size in sizes:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"{url}?page_size={size}")
            assert len(response.json()["results"]) == size
            counts.append(len(queries))
        assert counts[0] == counts[1] <= 3, (url, counts)


def test_organizations_never_see_each_others_tasks(make_task, api, org, other_org):
    ours = make_task("acme secret")
    theirs = make_task("globex secret", organization=other_org)
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)
    assert titles(acme.get("/api/tasks/")) == ["acme secret"]
    assert titles(globex.get("/api/tasks/")) == ["globex secret"]
    # Ids are per schema and may coincide: whatever the id, each host resolves it in its own schema.
    assert acme.get(f"/api/tasks/{theirs.pk}/").json().get("title") != "globex secret"
    assert globex.get(f"/api/tasks/{ours.pk}/").json().get("title") != "acme secret"
    globex.patch(f"/api/tasks/{ours.pk}/", {"title": "hijacked"}, format="json")
    globex.post(f"/api/tasks/{ours.pk}/complete/")
    with schema_context(org.schema_name):
        task = Task.objects.get(pk=ours.pk)
        assert (task.title, task.status) == ("acme secret", "open")


def test_task_endpoints_require_a_member(org, make_task):
    task = make_task("t")
    anonymous = client_for(org)
    for method, url in [
        ("get", "/api/tasks/"),
        ("post", "/api/tasks/"),
        ("get", "/api/tasks/overdue/"),
        ("get", f"/api/tasks/{task.pk}/"),
        ("patch", f"/api/tasks/{task.pk}/"),
        ("post", f"/api/tasks/{task.pk}/complete/"),
    ]:
        assert getattr(anonymous, method)(url).status_code == 401
