import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.webhooks import selectors, services, transport
from tenant_apps.webhooks.exceptions import WebhooksAdminOnly
from tenant_apps.webhooks.models import EVENT_TYPES, Delivery, Endpoint, OutboxEvent
from tests.tenant_apps.webhooks.conftest import SECRET

PUBLIC_URL = "https://93.184.215.14/hooks/leadpulse"  # an IP literal: resolves without DNS


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(api, org):
    client = api(Role.ADMIN)
    response = client.post(
        "/api/webhooks/",
        {"url": PUBLIC_URL, "event_types": ["lead.created", "lead.*", "lead.created"], "description": "CRM"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["event_types"] == ["lead.*", "lead.created"]
    assert (body["url"], body["is_active"], body["description"]) == (PUBLIC_URL, True, "CRM")

    detail = client.get(f"/api/webhooks/{body['id']}/").json()
    assert "secret" not in detail
    assert [row["id"] for row in client.get("/api/webhooks/").json()["results"]] == [body["id"]]
    assert all("secret" not in row for row in client.get("/api/webhooks/").json()["results"])
    with schema_context(org.schema_name):
        assert Endpoint.objects.get(pk=body["id"]).secret == body["secret"]


def test_a_given_secret_is_kept_and_a_weak_one_refused(api, org):
    client = api(Role.ADMIN)
    response = client.post(
        "/api/webhooks/", {"url": PUBLIC_URL, "event_types": ["*"], "secret": SECRET}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["secret"] == SECRET
    for weak in ("short", "x" * 15, "ünïcödé-secret-long-enough", 12345678901234567):
        response = client.post(
            "/api/webhooks/", {"url": PUBLIC_URL, "event_types": ["*"], "secret": weak}, format="json"
        )
        assert response.status_code == 400, weak
        assert "secret" in response.json()["errors"]


@pytest.mark.parametrize(
    ("event_types", "field"),
    [
        *[
            (event_types, "event_types")
            for event_types in ([], ["lead.exploded"], ["lead"], ["nothing.*"], ["lead.*.*"], "lead.created")
        ],
        ([1], "event_types[0]"),
        ([None], "event_types[0]"),
        (["*", "x"], "event_types"),
    ],
)
def test_unknown_event_types_are_400_naming_the_field(api, event_types, field):
    response = api(Role.ADMIN).post(
        "/api/webhooks/", {"url": PUBLIC_URL, "event_types": event_types}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_the_issue_s_event_types_and_wildcards_are_known(api):
    client = api(Role.ADMIN)
    for types in (
        ["lead.created", "lead.stage_changed", "lead.updated", "activity.created", "task.due"],
        ["lead.*", "task.*"],
        ["*"],
    ):
        response = client.post("/api/webhooks/", {"url": PUBLIC_URL, "event_types": types}, format="json")
        assert response.status_code == 201, response.content
    listed = client.get("/api/webhooks/event-types/").json()
    assert set(listed["event_types"]) == EVENT_TYPES
    assert "lead.*" in listed["wildcards"] and "*" in listed["wildcards"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.215.14/",
        "file:///etc/passwd",
        "http://",
        "not a url",
        "//93.184.215.14/x",
        "http://user:pw@93.184.215.14/",
        "http://93.184.215.14:99999/",
        "http://93.184.215.14/\x00",
        "http://no-such-host.invalid/",
        "",
        12345,
        None,
        ["http://93.184.215.14/"],
        "http://93.184.215.14/" + "a" * 2000,
    ],
)
def test_bad_urls_are_400_naming_the_url(api, url):
    response = api(Role.ADMIN).post("/api/webhooks/", {"url": url, "event_types": ["*"]}, format="json")
    assert response.status_code == 400, response.content
    assert "url" in response.json()["errors"]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://127.0.0.1:8000/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://localhost/hook",  # a host name resolving to loopback
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://192.168.1.10/hook",
        "http://172.16.0.1/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[2002:7f00:1::]/hook",  # 6to4 wrapping 127.0.0.1
    ],
)
def test_private_loopback_and_link_local_urls_are_refused(api, settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    response = api(Role.ADMIN).post("/api/webhooks/", {"url": url, "event_types": ["*"]}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "private_address"
    assert "url" in body["errors"]


def test_a_host_name_resolving_to_a_private_address_is_refused(api, settings, monkeypatch):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr(transport, "resolve", lambda host, port: ["93.184.215.14", "10.1.2.3"])
    response = api(Role.ADMIN).post(
        "/api/webhooks/", {"url": "https://hooks.example.com/x", "event_types": ["*"]}, format="json"
    )
    assert response.status_code == 400
    assert "10.1.2.3" in response.json()["errors"]["url"][0]


def test_private_urls_are_accepted_when_the_operator_allows_them(api, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    response = api(Role.ADMIN).post(
        "/api/webhooks/", {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}, format="json"
    )
    assert response.status_code == 201


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.VIEWER])
def test_only_admins_manage_webhooks(api, role, make_endpoint):
    endpoint = make_endpoint(PUBLIC_URL)
    client = api(role)
    assert client.get("/api/webhooks/").status_code == 403
    assert client.get(f"/api/webhooks/{endpoint.pk}/").status_code == 403
    assert client.get(f"/api/webhooks/{endpoint.pk}/deliveries/").status_code == 403
    assert (
        client.patch(f"/api/webhooks/{endpoint.pk}/", {"description": "x"}, format="json").status_code == 403
    )
    assert client.delete(f"/api/webhooks/{endpoint.pk}/").status_code == 403
    response = client.post("/api/webhooks/", {"url": PUBLIC_URL, "event_types": ["*"]}, format="json")
    assert response.status_code == 403
    assert client.get("/api/webhooks/event-types/").status_code == 200  # the catalogue is no secret


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.VIEWER])
def test_the_services_refuse_non_admins_whatever_the_view(org, member, make_endpoint, role):
    endpoint = make_endpoint(PUBLIC_URL)
    someone = member(role=role)
    with schema_context(org.schema_name):
        for call in (
            lambda: selectors.endpoint_list(actor=someone),
            lambda: services.endpoint_create(actor=someone, url=PUBLIC_URL, event_types=["*"]),
            lambda: services.endpoint_update(endpoint_id=endpoint.pk, actor=someone, changes={}),
            lambda: services.endpoint_enable(endpoint_id=endpoint.pk, actor=someone),
            lambda: services.endpoint_delete(endpoint_id=endpoint.pk, actor=someone),
            lambda: services.delivery_redeliver(endpoint_id=endpoint.pk, delivery_id=1, actor=someone),
        ):
            with pytest.raises(WebhooksAdminOnly):
                call()


def test_patch_changes_pauses_and_resumes_and_delete_removes(api, org, make_endpoint):
    endpoint = make_endpoint(PUBLIC_URL, ["lead.created"])
    client = api(Role.ADMIN)
    url = f"/api/webhooks/{endpoint.pk}/"
    response = client.patch(url, {"event_types": ["task.*"], "description": "tasks"}, format="json")
    assert (response.json()["event_types"], response.json()["description"]) == (["task.*"], "tasks")
    paused = client.patch(url, {"is_active": False}, format="json").json()
    assert (paused["is_active"], paused["disabled_reason"]) == (False, "Disabled by an admin.")
    resumed = client.post(f"{url}enable/").json()
    assert (resumed["is_active"], resumed["disabled_at"], resumed["disabled_reason"]) == (True, None, "")
    assert client.patch(url, {"secret": "a-new-secret-for-rotation"}, format="json").status_code == 200
    with schema_context(org.schema_name):
        assert Endpoint.objects.get(pk=endpoint.pk).secret == "a-new-secret-for-rotation"
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404
    assert client.post(f"{url}enable/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"colour": "red"},
        {"is_active": "perhaps"},
        {"url": "http://10.0.0.1/"},
        {"event_types": ["lead.nope"]},
        {"secret": "short"},
        {"description": "x" * 201},
        {"description": "nul\x00"},
    ],
)
def test_bad_patches_are_400_naming_the_field(api, make_endpoint, settings, body):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    endpoint = make_endpoint(PUBLIC_URL)
    response = api(Role.ADMIN).patch(f"/api/webhooks/{endpoint.pk}/", body, format="json")
    assert response.status_code == 400, response.content
    assert next(iter(body)) in response.json()["errors"]


def test_malformed_json_and_unknown_ids(api):
    client = api(Role.ADMIN)
    response = client.post("/api/webhooks/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert client.get("/api/webhooks/999999/").status_code == 404
    assert client.get("/api/webhooks/999999/deliveries/").status_code == 404
    assert client.post("/api/webhooks/999999/deliveries/1/redeliver/").status_code == 404


def test_organizations_see_only_their_own_endpoints(api, org, other_org, make_endpoint):
    mine = make_endpoint("https://93.184.215.14/acme", organization=org)
    with schema_context(other_org.schema_name):  # the same id in the other schema
        theirs = Endpoint.objects.create(id=mine.pk, url="https://93.184.215.14/globex", secret=SECRET)
    acme, globex = api(Role.ADMIN, organization=org), api(Role.ADMIN, organization=other_org)
    assert [row["url"] for row in acme.get("/api/webhooks/").json()["results"]] == [mine.url]
    assert [row["url"] for row in globex.get("/api/webhooks/").json()["results"]] == [theirs.url]
    # ids coincide across schemas: each host resolves an id in its own organization only
    assert mine.pk == theirs.pk
    assert acme.get(f"/api/webhooks/{mine.pk}/").json()["url"] == mine.url
    assert globex.get(f"/api/webhooks/{theirs.pk}/").json()["url"] == theirs.url
    globex.delete(f"/api/webhooks/{theirs.pk}/")
    assert acme.get(f"/api/webhooks/{mine.pk}/").status_code == 200


def _delivery(endpoint, topic="lead.created"):
    event = OutboxEvent.objects.create(topic=topic, payload={"type": topic})
    return Delivery.objects.create(endpoint=endpoint, event=event)


def test_the_delivery_log_costs_the_same_queries_whatever_the_page_size(api, org, make_endpoint):
    endpoint = make_endpoint(PUBLIC_URL)
    with schema_context(org.schema_name):
        for index in range(12):
            delivery = _delivery(endpoint)
            for number in range(1, 1 + index % 3):
                delivery.log.create(number=number, status_code=500, latency_ms=3)
    client = api(Role.ADMIN)
    client.get("/api/webhooks/")  # warm: the host's route cache, the token's last use
    counts = []
    for size in (2, 10):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/webhooks/{endpoint.pk}/deliveries/?page_size={size}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        counts.append(len(captured))
    assert counts[0] == counts[1]
    failed = client.get(f"/api/webhooks/{endpoint.pk}/deliveries/?status=failed").json()["results"]
    assert failed == []
    assert client.get(f"/api/webhooks/{endpoint.pk}/deliveries/?status=lost").status_code == 400
