"""The audit log's core: one model written in the schema being served, append-only in the database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import DatabaseError, transaction
from django.test import RequestFactory
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.audit.services import audit_record
from shared_apps.organizations.context import organization_context
from shared_apps.organizations.models import Organization
from shared_apps.users.models import User


def test_an_event_names_the_actor_the_address_and_the_target(
    org: Organization, member: Callable[..., User]
) -> None:
    admin = member("admin")
    request = RequestFactory().post("/api/members/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="curl/8")
    request.user = admin
    with organization_context(org):
        event = audit_record(
            "member.role_changed", request=request, target=admin, changes={"role": ["rep", "admin"]}
        )
        event.refresh_from_db()
    assert (event.actor_id, event.actor_email, event.via) == (admin.pk, admin.email, "api")
    assert (event.ip, event.user_agent) == ("203.0.113.9", "curl/8")
    assert (event.target_type, event.target_id) == ("users.user", str(admin.pk))
    assert event.changes == {"role": ["rep", "admin"]}


def test_the_log_is_append_only_in_the_database(public: None) -> None:
    event = audit_record("settings.changed", changes={"base_currency": ["USD", "EUR"]})
    with pytest.raises(ValueError):
        event.save()
    for statement in (
        "UPDATE audit_auditevent SET action = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert AuditEvent.objects.filter(pk=event.pk, action="settings.changed").exists()


def test_each_schema_keeps_its_own_log(org: Organization, other_org: Organization) -> None:
    # an action only this test writes: the log keeps the real actions other suites committed (append-only)
    with organization_context(org):
        audit_record("test.schema_probe", target_type="users.apikey", target_id=7)
        assert AuditEvent.objects.filter(action="test.schema_probe").count() == 1
    with schema_context(other_org.schema_name):
        assert not AuditEvent.objects.filter(action="test.schema_probe").exists()
    with schema_context("public"):
        assert not AuditEvent.objects.filter(action="test.schema_probe").exists()
