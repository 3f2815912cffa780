"""A member's credentials of every kind, requests through the whole stack, and records made through an
organization's API (optionally with ids another organization has never used).

Requests go through the whole stack (routing middleware, sessions, DRF) with Django's test client, which
does not enforce CSRF: a session that authenticated anywhere it should not would get through."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection
from django.db.models import Max, Model
from django.http import HttpResponse
from django.test import Client
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from shared_apps.organizations.models import Organization
from shared_apps.users.apikeys import api_key_create
from shared_apps.users.models import ApiKey, ApiKeyScope, AuthToken, Invitation, Role, User, UserSession
from shared_apps.users.services import token_issue
from tenant_apps.accounts.models import Account
from tenant_apps.automation.models import Rule, ScoringRule
from tenant_apps.contacts.models import Contact
from tenant_apps.currency.models import ExchangeRate
from tenant_apps.customfields.models import CustomField
from tenant_apps.imports.models import Export, Import
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import LostReason, Opportunity, Pipeline, PipelineStage
from tenant_apps.privacy.models import DoNotContact
from tenant_apps.segments.models import Segment
from tenant_apps.sequences.models import Enrollment, Sequence
from tenant_apps.tasks.models import Task
from tenant_apps.webhooks.models import Delivery, Endpoint, OutboxEvent
from tests.conftest import PASSWORD, host_of
from tests.isolation.routes import Route

BODY_METHODS = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class Credentials:
    """One member's ways in: a bearer token, a read-write API key covering every resource, a session."""

    user: User
    token: str
    api_key: str
    session: str

    def kinds(self) -> dict[str, dict[str, str]]:
        """Request headers per kind of credential (the session travels as its cookie)."""
        return {
            "bearer token": {"HTTP_AUTHORIZATION": f"Bearer {self.token}"},
            "API key": {"HTTP_X_API_KEY": self.api_key},
            "session cookie": {"HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={self.session}"},
        }


def session_of(organization: Organization, user: User) -> str:
    """A real session, stored where the sign-in page would store it: in the organization's schema."""
    client = Client(HTTP_HOST=host_of(organization))
    with schema_context(organization.schema_name):
        client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def credentials_of(organization: Organization, user: User) -> Credentials:
    with schema_context(organization.schema_name):
        token, _ = token_issue(email=user.email, password=PASSWORD)
        api_key, _ = api_key_create(actor=user, name="isolation suite", scope=ApiKeyScope.WRITE)
    return Credentials(user, token, api_key, session_of(organization, user))


def auth(route: Route, credentials: Credentials) -> dict[str, str]:
    """The API with the bearer token, the pages with the session (as their users have them)."""
    kinds = credentials.kinds()
    headers = kinds["bearer token"] if route.is_api else kinds["session cookie"]
    return {**headers, "HTTP_X_REQUESTED_WITH": "fetch"}  # the pages' scripts get JSON, not a redirect


def excerpt(response: Any) -> str:
    """A response's status and the start of its body, for a report."""
    body = b"(a stream)" if getattr(response, "streaming", False) else response.content[:300]
    return f"{response.status_code} {body!r}"


def call(
    organization: Organization | None,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    form: bool = False,
    content: tuple[str, str] | None = None,
    **extra: str,
) -> HttpResponse:
    """One request to the organization's host (the root domain for None; `HTTP_HOST` in headers wins); a body
    as JSON, or as a posted form for the web pages."""
    # a server error is a finding to report with its request, not an exception that stops the loop
    client = APIClient(HTTP_HOST=host_of(organization), raise_request_exception=False)
    if content is not None:
        data, content_type = content
    elif body is None or method not in BODY_METHODS:
        data, content_type = "", "application/octet-stream"
    elif form:
        data, content_type = urlencode(body), "application/x-www-form-urlencoded"
    else:
        data, content_type = json.dumps(body), "application/json"
    response = client.generic(method, path, data, content_type, **(headers or {}), **extra)
    connection.set_schema_to_public()
    return response


class Records:
    """Records of one organization, made through its own API by its admin (a factory per kind; each call
    makes a new one and returns its id).

    With `apart_from`, every id is one that no row of the same table has in that other organization: the
    owner's sequence is moved past the other's largest id first, then both are checked. A 404 for such an
    id on the other's host proves the lookup stayed in the other's schema, not that it missed by chance."""

    def __init__(
        self, organization: Organization, admin: Credentials, apart_from: Organization | None = None
    ) -> None:
        self.organization, self.admin, self.apart_from = organization, admin, apart_from
        self._counter = iter(range(1, 1_000_000))

    def _apart(self, model: type[Model]) -> None:
        if self.apart_from is None:
            return
        table = model._meta.db_table
        with schema_context(self.apart_from.schema_name):
            largest = model._base_manager.aggregate(largest=Max("pk"))["largest"] or 0
        with schema_context(self.organization.schema_name), connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'),"
                " GREATEST(nextval(pg_get_serial_sequence(%s, 'id')), %s))",
                [table, table, largest + 1],
            )

    def _check(self, model: type[Model], pk: int) -> int:
        with schema_context(self.organization.schema_name):
            assert model._base_manager.filter(pk=pk).exists(), f"{model.__name__} {pk} is not ours"
        if self.apart_from is not None:
            with schema_context(self.apart_from.schema_name):
                assert not model._base_manager.filter(pk=pk).exists(), f"{model.__name__} {pk} exists apart"
        return pk

    def _create(self, model: type[Model], path: str, body: dict[str, Any] | None = None, **extra: Any) -> int:
        self._apart(model)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.admin.token}"}
        response = call(self.organization, "POST", path, headers=headers, body=body, **extra)
        assert response.status_code in (200, 201, 202), (path, response.content)
        return self._check(model, response.json()["id"])

    def _name(self, what: str) -> str:
        return f"{self.organization.slug} {what} {next(self._counter)}"

    def member(self) -> int:
        email = f"member-{next(self._counter)}@{self.organization.slug}.test"
        # with a password the member is made at once (without one, POST /api/members/ invites)
        return self._create(User, "/api/members/", {"email": email, "role": Role.REP, "password": PASSWORD})

    def invitation(self) -> int:
        email = f"invited-{next(self._counter)}@{self.organization.slug}.test"
        return self._create(Invitation, "/api/members/", {"email": email, "role": Role.REP})

    def session(self) -> int:
        """A browser session of the admin (sign-in writes its row)."""
        self._apart(UserSession)
        client = Client(HTTP_HOST=host_of(self.organization))
        with schema_context(self.organization.schema_name):
            client.force_login(User.objects.get(email=self.admin.user.email))
            key = client.cookies[settings.SESSION_COOKIE_NAME].value
            pk = UserSession.objects.get(session_key=key).pk
        return self._check(UserSession, pk)

    def token(self) -> int:
        """Another API token of the admin (not the one the suite signs in with)."""
        self._apart(AuthToken)
        with schema_context(self.organization.schema_name):
            _, token = token_issue(email=self.admin.user.email, password=PASSWORD)
        return self._check(AuthToken, token.pk)

    def api_key(self) -> int:
        return self._create(ApiKey, "/api/api-keys/", {"name": self._name("key")})

    def lead(self) -> int:
        name = self._name("lead")
        body = {
            "name": name,
            "email": f"{name.replace(' ', '-').lower()}@leads.test",
            "allow_duplicate": True,
        }
        return self._create(Lead, "/api/leads/", body)

    def account(self) -> int:
        return self._create(Account, "/api/accounts/", {"name": self._name("account")})

    def contact(self) -> int:
        return self._create(Contact, "/api/contacts/", {"name": self._name("contact")})

    def opportunity(self) -> int:
        body = {"name": self._name("deal"), "account": self.account()}
        return self._create(Opportunity, "/api/opportunities/", body)

    def pipeline(self) -> int:
        """A pipeline (Open, Won and Lost stages) of its own."""
        return self._create(Pipeline, "/api/pipelines/", {"name": self._name("pipeline")})

    def pipeline_stage(self) -> tuple[int, int]:
        """(pipeline id, the id of a new open stage of it), both apart from the other organization's."""
        pipeline_id = self.pipeline()
        stage_id = self._create(
            PipelineStage, f"/api/pipelines/{pipeline_id}/stages/", {"name": self._name("stage")}
        )
        return pipeline_id, stage_id

    def lost_reason(self) -> int:
        return self._create(LostReason, "/api/lost-reasons/", {"name": self._name("reason")})

    def task(self) -> int:
        return self._create(Task, "/api/tasks/", {"title": self._name("task"), "lead": self.lead()})

    def segment(self) -> int:
        return self._create(Segment, "/api/segments/", {"name": self._name("segment"), "record_type": "lead"})

    def sequence(self) -> int:
        steps = [{"subject": "Hello {{ lead.first_name }}", "body": "Hi."}]
        return self._create(Sequence, "/api/sequences/", {"name": self._name("sequence"), "steps": steps})

    def enrollment(self) -> int:
        return self._create(Enrollment, f"/api/sequences/{self.sequence()}/enroll/", {"lead": self.lead()})

    def endpoint(self) -> int:
        # an IP literal: no DNS lookup (the test settings allow private addresses)
        body = {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
        return self._create(Endpoint, "/api/webhooks/", body)

    def delivery(self, endpoint_id: int) -> int:
        """A delivery of one event to the endpoint (what the outbox makes when an event commits)."""
        self._apart(Delivery)
        with schema_context(self.organization.schema_name):
            event = OutboxEvent.objects.create(topic="lead.created", payload={"type": "lead.created"})
            pk = Delivery.objects.create(endpoint_id=endpoint_id, event=event).pk
        return self._check(Delivery, pk)

    def rule(self) -> int:
        body = {
            "name": self._name("rule"),
            "trigger": {"type": "lead_created"},
            "actions": [{"type": "add_tag", "tag": "ruled"}],
        }
        return self._create(Rule, "/api/rules/", body)

    def scoring_rule(self) -> int:
        body = {
            "name": self._name("scoring rule"),
            "kind": "field",
            "points": 5,
            "condition": {"field": "source", "op": "eq", "value": "ads"},
        }
        return self._create(ScoringRule, "/api/scoring-rules/", body)

    def exchange_rate(self) -> int:
        body = {"currency": "EUR", "rate": "1.1", "valid_from": f"2026-01-{next(self._counter) % 28 + 1:02d}"}
        return self._create(ExchangeRate, "/api/settings/exchange-rates/", body)

    def custom_field(self) -> int:
        key = f"field_{next(self._counter)}"
        body = {"record_type": "lead", "key": key, "label": self._name("field"), "type": "text"}
        return self._create(CustomField, "/api/custom-fields/", body)

    def import_run(self) -> int:
        """An import of a two-line CSV file (it runs as a job: pending here)."""
        csv = f"name,email\n{self._name('imported')},imported-{next(self._counter)}@leads.test\n"
        return self._create(Import, "/api/imports/?record_type=lead", content=(csv, "text/csv"))

    def export(self) -> int:
        return self._create(Export, "/api/exports/", {"record_type": "leads"})

    def do_not_contact(self) -> int:
        """A manual do-not-contact entry (an address its admin listed)."""
        body = {"email": f"listed-{next(self._counter)}@{self.organization.slug}.test"}
        return self._create(DoNotContact, "/api/do-not-contact/", body)
