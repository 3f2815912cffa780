"""Each security-relevant action of an organization lands in its audit log: who, from where, what changed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from shared_apps.audit.models import AuditEvent
from shared_apps.audit.services import audit_record
from shared_apps.organizations.models import Organization
from shared_apps.users import apikeys
from shared_apps.users.models import ApiKeyScope, Role, User
from tenant_apps.leads.models import Lead
from tests.conftest import PASSWORD, host_of
from tests.tenant_apps.conftest import admin, make_lead

__all__ = ["admin", "make_lead"]

PUBLIC_URL = "https://93.184.215.14/hooks/leadpulse?token=s3cret"  # an IP literal: resolves without DNS


@pytest.fixture(autouse=True)
def _started() -> Iterator[None]:
    # the log is append-only: rows of tests that committed (other suites) stay, so only this test's count
    STARTED[0] = timezone.now()
    yield


STARTED = [timezone.now()]


def events(organization: Organization | None, action: str) -> list[AuditEvent]:
    with schema_context(organization.schema_name if organization else "public"):
        return list(AuditEvent.objects.filter(action=action, at__gte=STARTED[0]).order_by("id"))


def test_web_sign_in_success_and_failure_are_recorded_without_the_password(
    org: Organization, member: Callable[..., User]
) -> None:
    user = member(Role.REP)
    client = Client(HTTP_HOST=host_of(org), REMOTE_ADDR="198.51.100.7")
    client.post("/sign-in/", {"email": user.email, "password": "wrong-password-123"})
    client.post("/sign-in/", {"email": "nobody@acme.test", "password": "whatever-123"})
    assert client.post("/sign-in/", {"email": user.email, "password": PASSWORD}).status_code == 302
    failed = events(org, "sign_in.failed")
    assert [event.changes for event in failed] == [
        {"email": user.email, "method": "password"},
        {"email": "nobody@acme.test", "method": "password"},
    ]
    assert failed[0].actor_id is None and failed[0].ip == "198.51.100.7" and failed[0].via == "web"
    assert "wrong-password" not in str([event.changes for event in failed])
    (succeeded,) = events(org, "sign_in.succeeded")
    assert (succeeded.actor_id, succeeded.changes, succeeded.via) == (user.pk, {"method": "password"}, "web")


def test_api_token_sign_in_is_recorded(org: Organization, member: Callable[..., User]) -> None:
    user = member(Role.VIEWER)
    client = APIClient(HTTP_HOST=host_of(org))
    body = {"email": user.email, "password": "not-the-password"}
    assert client.post("/api/auth/token/", body, format="json").status_code == 401
    body["password"] = PASSWORD
    assert client.post("/api/auth/token/", body, format="json").status_code == 200
    (failed,) = events(org, "sign_in.failed")
    assert (failed.changes["email"], failed.via) == (user.email, "api")
    succeeded = [event for event in events(org, "sign_in.succeeded") if event.via == "api"]
    assert [(event.actor_id, event.changes) for event in succeeded] == [
        (user.pk, {"method": "password", "token": True})
    ]


def test_operator_sign_ins_go_to_the_platform_log(operator: User, org: Organization) -> None:
    client = APIClient(HTTP_HOST=host_of(None))
    body = {"email": operator.email, "password": "nope-nope-nope"}
    assert client.post("/api/platform/auth/token/", body, format="json").status_code == 401
    body["password"] = PASSWORD
    assert client.post("/api/platform/auth/token/", body, format="json").status_code == 200
    assert [event.changes["email"] for event in events(None, "sign_in.failed")] == [operator.email]
    assert operator.pk in [event.actor_id for event in events(None, "sign_in.succeeded")]
    assert events(org, "sign_in.failed") == []
    # the right password of an account that is not an operator's is refused at the console, and recorded
    console = Client(HTTP_HOST=host_of(None))
    with schema_context("public"):
        rep = User.objects.create_user("rep@platform.test", PASSWORD)
    assert console.post("/sign-in/", {"email": rep.email, "password": PASSWORD}).status_code == 400
    assert [event.changes["email"] for event in events(None, "sign_in.failed")][-1] == rep.email


def test_role_changes_and_deactivation_are_recorded(
    api: Callable[..., APIClient], org: Organization, member: Callable[..., User]
) -> None:
    client = api(Role.ADMIN)
    rep = member(Role.REP)
    assert client.patch(f"/api/members/{rep.pk}/", {"role": "manager"}, format="json").status_code == 200
    client.patch(f"/api/members/{rep.pk}/", {"full_name": "Only a name"}, format="json")
    assert client.post(f"/api/members/{rep.pk}/deactivate/").status_code == 200
    client.post(f"/api/members/{rep.pk}/deactivate/")  # already: nothing changes, nothing recorded
    assert client.post(f"/api/members/{rep.pk}/reactivate/").status_code == 200
    (changed,) = events(org, "member.role_changed")
    assert (changed.target_id, changed.changes, changed.via) == (
        str(rep.pk),
        {"role": ["rep", "manager"]},
        "api",
    )
    assert changed.actor_email.startswith("admin")
    (deactivated,) = events(org, "member.deactivated")
    (reactivated,) = events(org, "member.reactivated")
    assert deactivated.changes == {"is_active": [True, False]}
    assert reactivated.changes == {"is_active": [False, True]}


def test_api_keys_created_and_revoked_are_recorded_without_the_key(
    api: Callable[..., APIClient], org: Organization
) -> None:
    client = api(Role.ADMIN)
    created = client.post("/api/api-keys/", {"name": "Zapier", "scope": "write"}, format="json").json()
    child_client = APIClient(HTTP_HOST=host_of(org), HTTP_X_API_KEY=created["key"])
    child = child_client.post("/api/api-keys/", {"name": "child", "scope": "read"}, format="json")
    assert child.status_code == 403  # a write key cannot manage access: made through a key below instead
    with schema_context(org.schema_name):
        parent_key = apikeys.ApiKey.objects.get(pk=created["id"])
        _, grandchild = apikeys.api_key_create(
            actor=parent_key.created_by, name="child", scope=ApiKeyScope.READ, via_key=parent_key
        )
    assert client.post(f"/api/api-keys/{created['id']}/revoke/").status_code == 200
    made = [event for event in events(org, "api_key.created") if event.target_id == str(created["id"])]
    assert made[0].changes["scope"] == "write" and made[0].target_repr
    assert created["key"] not in str(made[0].changes)
    (revoked,) = events(org, "api_key.revoked")
    assert (revoked.target_id, revoked.changes) == (str(created["id"]), {"also_revoked": [grandchild.pk]})


def test_webhook_endpoints_are_recorded_without_url_tokens_or_secrets(
    api: Callable[..., APIClient], org: Organization
) -> None:
    client = api(Role.ADMIN)
    endpoint = client.post(
        "/api/webhooks/", {"url": PUBLIC_URL, "event_types": ["lead.*"]}, format="json"
    ).json()
    path = f"/api/webhooks/{endpoint['id']}/"
    change = {"event_types": ["lead.created"], "secret": "a" * 20, "url": PUBLIC_URL + "2"}
    assert client.patch(path, change, format="json").status_code == 200
    assert client.delete(path).status_code == 204
    (created,) = events(org, "webhook.created")
    (updated,) = events(org, "webhook.updated")
    (deleted,) = events(org, "webhook.deleted")
    assert (created.target_repr, created.changes) == ("93.184.215.14", {"event_types": ["lead.*"]})
    assert updated.changes == {
        "event_types": [["lead.*"], ["lead.created"]],
        "secret": "changed",
        "url": "changed",
    }
    assert deleted.target_id == str(endpoint["id"])
    logged = str([(event.changes, event.target_repr) for event in (created, updated, deleted)])
    assert "s3cret" not in logged and "a" * 20 not in logged and endpoint["secret"] not in logged


def test_merges_and_purges_are_recorded(
    api: Callable[..., APIClient], org: Organization, make_lead: Callable[..., Lead]
) -> None:
    survivor, merged, doomed = make_lead(name="Keep"), make_lead(name="Fold"), make_lead(name="Gone")
    manager, admin_client = api(Role.MANAGER), api(Role.ADMIN)
    body: dict[str, Any] = {"survivor": survivor.pk, "merged": [merged.pk], "fields": {"name": merged.pk}}
    assert manager.post("/api/leads/merge/", body, format="json").status_code == 200
    admin_client.delete(f"/api/leads/{doomed.pk}/")
    assert admin_client.post(f"/api/leads/{doomed.pk}/purge/").status_code == 204
    (merge,) = events(org, "lead.merged")
    assert (merge.target_id, merge.changes) == (
        str(survivor.pk),
        {"merged_ids": [merged.pk], "fields": {"name": merged.pk}},
    )
    assert merge.actor_email.startswith("manager")
    (purge,) = events(org, "lead.purged")
    assert (purge.target_type, purge.target_id, purge.target_repr) == ("leads.lead", str(doomed.pk), "Gone")


def test_imports_started_and_exports_downloaded_are_recorded(
    api: Callable[..., APIClient], org: Organization, make_lead: Callable[..., Lead]
) -> None:
    client = api(Role.ADMIN)
    upload = SimpleUploadedFile("people.csv", b"name,email\nAda,ada@example.com\n")
    response = client.post(
        "/api/imports/", {"file": upload, "options": '{"record_type": "lead"}'}, format="multipart"
    )
    assert response.status_code == 202
    (started,) = events(org, "import.started")
    assert (started.target_id, started.target_repr) == (str(response.json()["id"]), "people.csv")
    assert started.changes["record_type"] == "lead" and started.changes["dry_run"] is False
    make_lead(name="Exported")
    exported = client.get("/api/exports/leads.csv", {"stage": "NEW"})
    assert exported.status_code == 200
    b"".join(exported.streaming_content)
    (downloaded,) = events(org, "export.downloaded")
    assert downloaded.changes == {"record_type": "leads", "filters": {"stage": "NEW"}}


def test_settings_changes_record_before_and_after(api: Callable[..., APIClient], org: Organization) -> None:
    client = api(Role.ADMIN)
    before = client.get("/api/settings/follow-ups/").json()
    response = client.patch(
        "/api/settings/follow-ups/",
        {"idle_days": before["idle_days"] + 3, "enabled": before["enabled"]},
        format="json",
    )
    assert response.status_code == 200
    client.patch("/api/settings/follow-ups/", {"enabled": before["enabled"]}, format="json")  # no change
    (changed,) = events(org, "settings.changed")
    assert changed.changes == {"follow_ups.idle_days": [before["idle_days"], before["idle_days"] + 3]}


def test_what_a_client_typed_is_recorded_even_with_nul_characters(
    api: Callable[..., APIClient], org: Organization
) -> None:
    # PostgreSQL's text and jsonb refuse NUL: the record drops them instead of failing the request
    response = api(Role.ADMIN).get("/api/exports/tasks.csv", {"type": "\x00", "owner": "a\x00b"})
    assert response.status_code in (200, 400)
    with schema_context(org.schema_name):
        event = audit_record("test.nul", target_repr="x\x00y", changes={"k\x00": ["a\x00", {"b": "\x00c"}]})
        event.refresh_from_db()
    assert (event.target_repr, event.changes) == ("xy", {"k": ["a", {"b": "c"}]})
