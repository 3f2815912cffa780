"""GET /api/audit-log/: admins read their organization's log (filters, cursor pages, CSV); no one else."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from shared_apps.audit.models import AuditEvent
from shared_apps.audit.services import audit_record
from shared_apps.organizations.models import Organization
from shared_apps.users import apikeys
from shared_apps.users.models import ApiKeyScope, Role, User
from tests.conftest import host_of


def _event(organization: Organization, action: str, *, actor: User | None = None, **fields: object) -> int:
    with schema_context(organization.schema_name):
        if fields:  # placed in time
            email = actor.email if actor else ""
            row = AuditEvent.objects.create(
                action=action,
                actor_id=getattr(actor, "pk", None),
                actor_email=email,
                target_id=action,
                **fields,
            )
            return row.pk
        return audit_record(action, actor=actor, target_type="test", target_id=action).pk


def _csv(response: object) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(body)))


def test_an_admin_lists_the_log_newest_first(api: Callable[..., APIClient], org: Organization) -> None:
    client = api(Role.ADMIN)
    _event(org, "test.listed")
    _event(org, "api_key.created")
    response = client.get("/api/audit-log/", {"action": "test.listed"})
    assert response.status_code == 200
    (event,) = response.json()["results"]
    assert event["action"] == "test.listed" and event["target_id"] == "test.listed"
    assert set(event) >= {"at", "actor_id", "actor_email", "via", "ip", "changes"}


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.VIEWER])
def test_members_below_admin_are_refused(api: Callable[..., APIClient], role: str) -> None:
    for path in ("/api/audit-log/", "/api/audit-log/export.csv", "/api/audit-log/?format=csv"):
        assert api(role).get(path).status_code == 403


def test_another_organizations_events_never_appear(
    api: Callable[..., APIClient], org: Organization, other_org: Organization
) -> None:
    _event(other_org, "test.globex_only")
    client = api(Role.ADMIN)
    assert client.get("/api/audit-log/", {"action": "test.globex_only"}).json()["results"] == []
    assert _csv(client.get("/api/audit-log/export.csv", {"action": "test.globex_only"})) == []


def test_filters_by_actor_action_prefix_and_dates(
    api: Callable[..., APIClient], org: Organization, member: Callable[..., User]
) -> None:
    client = api(Role.ADMIN)
    alice = member(Role.ADMIN, email="alice@acme.test")
    _event(org, "member.deactivated", actor=alice, at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    _event(org, "member.role_changed", actor=alice, at=datetime(2026, 3, 2, 23, 59, tzinfo=UTC))
    _event(org, "webhook.created", actor=alice, at=datetime(2026, 3, 3, 9, tzinfo=UTC))

    def actions(**query: str) -> list[str]:
        response = client.get("/api/audit-log/", query)
        assert response.status_code == 200, response.json()
        return [event["action"] for event in response.json()["results"]]

    everything = ["webhook.created", "member.role_changed", "member.deactivated"]
    assert actions(actor=str(alice.pk)) == everything
    assert actions(actor="ALICE@acme.test") == everything
    assert actions(actor="nobody@acme.test") == []
    assert actions(actor=str(alice.pk), action="member.") == ["member.role_changed", "member.deactivated"]
    assert actions(actor=str(alice.pk), action="member") == []  # exact unless it ends with a dot
    # a date `until` includes that day; a datetime is exact
    assert actions(actor=str(alice.pk), since="2026-03-02", until="2026-03-02") == ["member.role_changed"]
    assert actions(actor=str(alice.pk), until="2026-03-02T12:00:00Z") == ["member.deactivated"]
    assert actions(actor=str(alice.pk), since="2026-03-03T00:00:00+00:00") == ["webhook.created"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45"}, "until"),
        ({"since": "2026-02-30T10:00"}, "since"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        ({"actor": "9" * 40}, "actor"),
        ({"action": "x" * 65}, "action"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_malformed_filters_are_a_400_naming_the_field(
    api: Callable[..., APIClient], query: dict[str, str], field: str
) -> None:
    client = api(Role.ADMIN)
    paths = ["/api/audit-log/"] + (["/api/audit-log/export.csv"] if field != "cursor" else [])
    for path in paths:
        response = client.get(path, query)
        assert response.status_code == 400, (path, query)
        assert field in str(response.json())


def test_pages_follow_the_cursor(api: Callable[..., APIClient], org: Organization) -> None:
    client = api(Role.ADMIN)
    for number in range(5):
        _event(org, f"test.page{number}")
    first = client.get("/api/audit-log/", {"action": "test.", "page_size": 3}).json()
    assert [event["action"] for event in first["results"]] == ["test.page4", "test.page3", "test.page2"]
    second = client.get(first["next"]).json()
    assert [event["action"] for event in second["results"]] == ["test.page1", "test.page0"]


def test_the_csv_streams_the_filtered_log_and_its_download_is_recorded(
    api: Callable[..., APIClient], org: Organization
) -> None:
    client = api(Role.ADMIN)
    started = timezone.now()
    _event(org, "test.csv.row")
    _event(org, "=cmd|' /C calc'!A0")  # a formula-like cell is escaped for spreadsheets
    for response in (
        client.get("/api/audit-log/export.csv", {"action": "test.csv."}),
        client.get("/api/audit-log/", {"action": "test.csv.", "format": "csv"}),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert response.streaming
        rows = _csv(response)
        assert [row["action"] for row in rows] == ["test.csv.row"]
        assert rows[0]["target_id"] == "test.csv.row"
    rows = _csv(client.get("/api/audit-log/export.csv", {"action": "=cmd|' /C calc'!A0"}))
    assert rows[0]["action"].startswith("'=")
    with schema_context(org.schema_name):
        exported = AuditEvent.objects.filter(action="audit_log.exported", at__gte=started)
        assert exported.count() == 3
        assert exported.first().changes == {"filters": {"action": "=cmd|' /C calc'!A0"}}  # type: ignore[union-attr]


def test_api_keys_need_the_admin_scope(org: Organization, member: Callable[..., User]) -> None:
    admin = member(Role.ADMIN)
    with schema_context(org.schema_name):
        raw_write, _ = apikeys.api_key_create(actor=admin, name="w", scope=ApiKeyScope.WRITE)
        raw_admin, _ = apikeys.api_key_create(actor=admin, name="a", scope=ApiKeyScope.ADMIN)
        raw_other, _ = apikeys.api_key_create(
            actor=admin, name="l", scope=ApiKeyScope.ADMIN, resources=["leads"]
        )
    client = APIClient(HTTP_HOST=host_of(org))
    assert client.get("/api/audit-log/", HTTP_X_API_KEY=raw_write).status_code == 403
    assert client.get("/api/audit-log/", HTTP_X_API_KEY=raw_other).status_code == 403
    assert client.get("/api/audit-log/", HTTP_X_API_KEY=raw_admin).status_code == 200
    assert client.get("/api/audit-log/export.csv", HTTP_X_API_KEY=raw_admin).status_code == 200


def test_writes_are_not_allowed(api: Callable[..., APIClient]) -> None:
    client = api(Role.ADMIN)
    assert client.post("/api/audit-log/", {"action": "x"}, format="json").status_code == 405
    assert client.delete("/api/audit-log/").status_code == 405
