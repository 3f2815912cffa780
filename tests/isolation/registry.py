"""How to aim each route of an organization's host at another organization's records.

REGISTRY: route name -> a factory that makes records in globex (tests.isolation.support.Records) and returns
the requests naming them (`Aim`s). Asked with acme's admin on acme's host, each must answer 404 when the id is
in the path (400 or 404 when it is in the body), while the same request on globex's host, by globex's admin,
finds the record. EXEMPT: routes that name no record, with the reason. A route in neither fails
test_every_tenant_route_is_covered, so a new route is covered on the day it is added."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.isolation.routes import Route
from tests.isolation.support import Records
from tests.tenant_apps.mail.inbound import attachment_for


@dataclass(frozen=True)
class Aim:
    kwargs: dict[str, Any] = field(default_factory=dict)  # path parameters naming globex's records
    body: dict[str, Any] | None = None  # for POST/PATCH/PUT; a posted form on the web pages
    methods: tuple[str, ...] | None = None  # default: every method of the route but OPTIONS
    query: dict[str, str] = field(default_factory=dict)
    content: tuple[str, str] | None = None  # a raw body and its content type, instead of `body`
    in_body: bool = False  # the foreign id travels in the body or query: 400 (unknown reference) or 404

    @property
    def expected(self) -> tuple[int, ...]:
        return (400, 404) if self.in_body else (404,)

    def requests(self, route: Route) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(method, path, what `call` sends) for each method this aims at the route."""
        path = route.path(**self.kwargs) + (f"?{urlencode(self.query)}" if self.query else "")
        send = {"body": self.body, "content": self.content, "form": not route.is_api}
        for method in self.methods or tuple(method for method in route.methods if method != "OPTIONS"):
            yield method, path, send


Factory = Callable[[Records], list[Aim]]


def _path(parameter: str, make: Callable[[Records], int], body: dict[str, Any] | None = None) -> Factory:
    return lambda g: [Aim({parameter: make(g)}, body)]


def _body(make_body: Callable[[Records], dict[str, Any]], method: str = "POST") -> Factory:
    return lambda g: [Aim(body=make_body(g), methods=(method,), in_body=True)]


def _lead(body: dict[str, Any] | None = None) -> Factory:
    return _path("lead_id", Records.lead, body)


def _merge(make: Callable[[Records], int]) -> Factory:
    return _body(lambda g: {"survivor": make(g), "merged": [make(g)]})


def _web_records(body: dict[str, Any] | None = None) -> Factory:
    makers = {"accounts": Records.account, "contacts": Records.contact, "opportunities": Records.opportunity}
    return lambda g: [Aim({"kind": kind, "record_id": make(g)}, body) for kind, make in makers.items()]


NOTE = {"body": "Globex's note"}
EMAIL = {"from": "a@globex.test", "subject": "Hello", "body": "Hi"}
SEND = {"to": "someone@globex-customer.test", "subject": "Hello", "body": "Hi"}

REGISTRY: dict[str, Factory] = {
    # members and API keys
    "member": _path("member_id", Records.member, {"role": "viewer"}),
    "member-deactivate": _path("member_id", Records.member),
    "member-reactivate": _path("member_id", Records.member),
    "member-two-factor-reset": _path("member_id", Records.member),
    "api-key-revoke": _path("key_id", Records.api_key),
    "member-sessions-end": _path("member_id", Records.member),
    "invitation-resend": _path("invitation_id", Records.invitation),
    "invitation-revoke": _path("invitation_id", Records.invitation),
    "web:invitation-resend": _path("invitation_id", Records.invitation),
    "web:invitation-revoke": _path("invitation_id", Records.invitation),
    "web:member-sessions-end": _path("member_id", Records.member),
    "me-session": _path("session_id", Records.session),
    "me-token": _path("token_id", Records.token),
    "web:security-session-end": _path("session_id", Records.session),
    "web:security-token-revoke": _path("token_id", Records.token),
    # leads
    "leads": _body(lambda g: {"name": "Owned elsewhere", "owner": g.member()}),
    "lead": _lead({"name": "Renamed"}),
    "lead-restore": _lead(),
    "lead-purge": _lead(),
    "lead-transition": _lead({"stage": "CONTACTED"}),
    "lead-convert": _lead({}),
    "lead-stage-history": _lead(),
    "lead-notes": _lead(NOTE),
    "lead-activities": _lead({"type": "CALL", "subject": "Call"}),
    "lead-emails": _lead(EMAIL),
    "lead-email-threads": _lead(),
    "lead-email-send": _lead(SEND),
    "lead-duplicates": _lead(),
    "lead-score": _lead(),
    "lead-merge": _merge(Records.lead),
    # accounts, contacts, opportunities
    "accounts": _body(lambda g: {"name": "Owned elsewhere", "owner": g.member()}),
    "account": _path("account_id", Records.account, {"name": "Renamed"}),
    "account-restore": _path("account_id", Records.account),
    "account-purge": _path("account_id", Records.account),
    "account-status": _path("account_id", Records.account, {"status": "customer"}),
    "account-status-history": _path("account_id", Records.account),
    "account-notes": _path("account_id", Records.account, NOTE),
    "account-activities": _path("account_id", Records.account, {"type": "CALL", "subject": "Call"}),
    "account-duplicates": _path("account_id", Records.account),
    "account-merge": _merge(Records.account),
    "contacts": _body(lambda g: {"name": "Of an account elsewhere", "account": g.account()}),
    "contact": _path("contact_id", Records.contact, {"name": "Renamed"}),
    "contact-restore": _path("contact_id", Records.contact),
    "contact-purge": _path("contact_id", Records.contact),
    "contact-notes": _path("contact_id", Records.contact, NOTE),
    "contact-activities": _path("contact_id", Records.contact, {"type": "CALL", "subject": "Call"}),
    "contact-email-send": _path("contact_id", Records.contact, SEND),
    "contact-duplicates": _path("contact_id", Records.contact),
    "contact-merge": _merge(Records.contact),
    "opportunities": _body(lambda g: {"name": "On an account elsewhere", "account": g.account()}),
    "opportunity": _path("opportunity_id", Records.opportunity, {"name": "Renamed"}),
    "opportunity-restore": _path("opportunity_id", Records.opportunity),
    "opportunity-stage": _path("opportunity_id", Records.opportunity, {"stage": "DISCOVERY"}),
    "opportunity-notes": _path("opportunity_id", Records.opportunity, NOTE),
    "opportunity-activities": _path("opportunity_id", Records.opportunity, {"type": "CALL", "subject": "x"}),
    # tasks, segments, sequences
    "tasks": _body(lambda g: {"title": "On a lead elsewhere", "lead": g.lead()}),
    "task": _path("task_id", Records.task, {"title": "Renamed"}),
    "task-complete": _path("task_id", Records.task),
    "task-cancel": _path("task_id", Records.task),
    "task-reopen": _path("task_id", Records.task),
    "segment": _path("segment_id", Records.segment, {"name": "Renamed"}),
    "segment-results": _path("segment_id", Records.segment),
    "sequence": _path("sequence_id", Records.sequence, {"name": "Renamed"}),
    "sequence-enroll": lambda g: [Aim({"sequence_id": g.sequence()}, {"lead": g.lead()})],
    "sequence-enrollments": _path("sequence_id", Records.sequence),
    "enrollment-unenroll": _path("enrollment_id", Records.enrollment),
    # webhooks and automation
    "exchange-rate": _path("rate_id", Records.exchange_rate),
    "custom-field": _path("field_id", Records.custom_field, {"label": "Renamed"}),
    "webhook": _path("endpoint_id", Records.endpoint, {"description": "Renamed"}),
    "webhook-enable": _path("endpoint_id", Records.endpoint),
    "webhook-deliveries": _path("endpoint_id", Records.endpoint),
    "webhook-redeliver": lambda g: [
        Aim({"endpoint_id": endpoint, "delivery_id": g.delivery(endpoint)}) for endpoint in [g.endpoint()]
    ],
    "rule": _path("rule_id", Records.rule, {"name": "Renamed"}),
    "rule-runs": _path("rule_id", Records.rule),
    "rules": lambda g: [
        Aim(body={**rule, "actions": [action]}, methods=("POST",), in_body=True)
        for rule in [{"name": "Reaches elsewhere", "trigger": {"type": "lead_created"}}]
        for action in (
            {"type": "assign_owner", "member": g.member()},
            {"type": "enroll_in_sequence", "sequence": g.sequence()},
            {"type": "notify", "recipient": g.member(), "title": "Hello"},
        )
    ],
    "routing": _body(lambda g: {"strategy": "round_robin", "members": [g.member()]}),
    "scoring-rule": _path("scoring_rule_id", Records.scoring_rule, {"name": "Renamed"}),
    # imports and exports
    "imports": lambda g: [
        Aim(
            query={"record_type": "lead", "owner": str(g.member())},
            content=("name\nImported\n", "text/csv"),
            methods=("POST",),
            in_body=True,
        )
    ],
    "import": _path("import_id", Records.import_run),
    "import-errors": _path("import_id", Records.import_run),
    "import-cancel": _path("import_id", Records.import_run),
    "import-revert": _path("import_id", Records.import_run),
    "export": _path("export_id", Records.export),
    "export-download": _path("export_id", Records.export),
    # privacy
    "do-not-contact-entry": _path("entry_id", Records.do_not_contact),
    # inbound email
    "attachment": _path("attachment_id", attachment_for),
    # the web app (a session; writes answer JSON to `X-Requested-With: fetch`)
    "web:pipeline-card": _lead(),
    "web:lead": _lead(),
    "web:lead-timeline": _lead(),
    "web:lead-edit": _lead({"name": "Renamed"}),
    "web:lead-move": _lead({"stage": "CONTACTED"}),
    "web:lead-note": _lead(NOTE),
    "web:lead-call": _lead({"subject": "Call"}),
    "web:lead-email-send": _lead(SEND),
    "web:lead-assign": _lead({"owner": ""}),
    "web:lead-restore": _lead(),
    "web:lead-bulk": _body(lambda g: {"ids": str(g.lead()), "action": "delete"}),
    "web:deal-bulk": _body(lambda g: {"ids": str(g.opportunity()), "action": "delete"}),
    "web:deal-restore": _path("opportunity_id", Records.opportunity),
    "web:lead-task": _lead({"title": "Call back"}),
    "web:task-complete": _path("task_id", Records.task),
    "web:task-reopen": _path("task_id", Records.task),
    "web:lead-convert": _lead({"account_name": "Globex's buyer"}),
    "web:lead-log": _lead({"type": "CALL", "subject": "Call"}),
    # the record a new task goes on travels in the query; a foreign one is a 404 like a path id
    "web:task-create": lambda g: [Aim(query={"lead": str(g.lead())}, body={"title": "Call back"})],
    "web:task-edit": _path("task_id", Records.task, {"title": "Renamed"}),
    "web:record-edit": _web_records({"name": "Renamed"}),
    "web:record-log": _web_records({"type": "CALL", "subject": "Call"}),
    "web:contact-email-send": _path("record_id", Records.contact, SEND),
    "web:api-key-revoke": _path("key_id", Records.api_key),
    "web:webhook": _path("endpoint_id", Records.endpoint, {"operation": "pause"}),
    "web:record": _web_records(),
    "web:record-timeline": _web_records(),
    "web:record-note": _web_records(NOTE),
    "opportunity-stage-history": _path("opportunity_id", Records.opportunity),
    # deal pipelines: a pipeline, a stage of one, a lost reason of globex's
    "pipeline": _path("pipeline_id", Records.pipeline, {"name": "Renamed"}),
    "pipeline-stages": _path("pipeline_id", Records.pipeline, {"name": "Extra"}),
    "pipeline-stages-reorder": _path("pipeline_id", Records.pipeline, {"stages": []}),
    "pipeline-stage": lambda g: [
        Aim(dict(zip(("pipeline_id", "stage_id"), g.pipeline_stage(), strict=True)), {"name": "Renamed"})
    ],
    "lost-reason": _path("reason_id", Records.lost_reason, {"name": "Renamed reason"}),
    "analytics-deals": lambda g: [Aim(query={"pipeline": str(g.pipeline())}, methods=("GET",), in_body=True)],
    "web:deals-board": lambda g: [Aim(query={"pipeline": str(g.pipeline())}, methods=("GET",), in_body=True)],
    "web:deal-move": lambda g: [
        Aim({"opportunity_id": g.opportunity()}, {"stage": "1"}),
    ],
    "web:pipeline-edit": _path("pipeline_id", Records.pipeline, {"name": "Renamed"}),
    "web:pipeline-stage-add": _path("pipeline_id", Records.pipeline, {"name": "Extra"}),
    "web:pipeline-stage-edit": lambda g: [
        Aim(
            dict(zip(("pipeline_id", "stage_id"), g.pipeline_stage(), strict=True)),
            {"op": "save", "name": "Renamed"},
        )
    ],
    "web:lost-reason-edit": _path("reason_id", Records.lost_reason, {"op": "save", "name": "Renamed"}),
    "web:custom-field-edit": _path("field_id", Records.custom_field, {"op": "save", "label": "Renamed"}),
}

NO_ID = "names no record"
EXEMPT: dict[str, str] = {
    "token": f"{NO_ID}: sign-in (an email is looked up in this host's schema only: test_credentials)",
    "sign-out": f"{NO_ID}: revokes the caller's own token",
    "me": f"{NO_ID}: the caller",
    **{
        name: f"{NO_ID}: the caller's own second factor"
        for name in (
            "two-factor",
            "two-factor-setup",
            "two-factor-confirm",
            "two-factor-recovery-codes",
            "two-factor-disable",
            "web:two-factor",
        )
    },
    "two-factor-requirement": f"{NO_ID}: the organization's setting",
    "web:sign-in-two-factor": f"{NO_ID}: the code after the password (the user is the session's pending one)",
    "members": f"{NO_ID}: list and invite (an email, not an id)",
    "api-keys": f"{NO_ID}: list and issue",
    "invitations": f"{NO_ID}: the list",
    "password-reset": f"{NO_ID}: an email, looked up in this host's schema only (the same answer either way)",
    "password-reset-confirm": "a reset link's uid and token: signed per schema (test_password_reset)",
    "me-password": f"{NO_ID}: the caller's password",
    "me-email": f"{NO_ID}: the caller's email",
    "me-mailbox": f"{NO_ID}: the caller's own IMAP mailbox",
    "me-sessions": f"{NO_ID}: the caller's own sessions",
    "me-tokens": f"{NO_ID}: the caller's own tokens",
    "tasks-overdue": f"{NO_ID}: a list",
    "segments": f"{NO_ID}: a definition holds field values; an id in one filters to nothing",
    "segment-presets": f"{NO_ID}: the built-in presets",
    "segment-preset-results": "the key is a built-in preset's name, the same in every organization",
    "search": f"{NO_ID}: a text query",
    "notifications": f"{NO_ID}: the caller's own",
    "notifications-read": "ids select among the caller's own notifications: another's match none",
    "follow-up-settings": f"{NO_ID}: the organization's settings",
    "organization-settings": f"{NO_ID}: the organization's own settings (its time zone)",
    "support-access": f"{NO_ID}: the operators' visits to this organization (admins only)",
    "email-settings": f"{NO_ID}: the organization's settings and its own inbound address",
    "email-settings-smtp-test": f"{NO_ID}: a test message through the organization's own saved server",
    "web:email-settings": f"{NO_ID}: the organization's settings and its own inbound address",
    "web:email-settings-save": f"{NO_ID}: the organization's settings",
    "web:email-settings-smtp": f"{NO_ID}: the organization's SMTP settings",
    "web:email-settings-smtp-test": f"{NO_ID}: a test message through the organization's own saved server",
    "web:mailbox": f"{NO_ID}: the caller's own IMAP mailbox",
    "web:mailbox-connect": f"{NO_ID}: connects the caller's own IMAP mailbox",
    "web:mailbox-disconnect": f"{NO_ID}: disconnects the caller's own IMAP mailbox",
    "sequences": f"{NO_ID}: list and create (steps are templates)",
    "analytics-pipeline": f"{NO_ID}: a report (?owner= narrows to a member of this schema, or to nothing)",
    "analytics-conversion": f"{NO_ID}: a report",
    "analytics-cycle-length": f"{NO_ID}: a report",
    "analytics-time-in-stage": f"{NO_ID}: a report",
    "analytics-forecast": f"{NO_ID}: a report (?pipeline= of another schema: no deals)",
    "pipelines": f"{NO_ID}: the organization's pipelines (list, create)",
    "lost-reasons": f"{NO_ID}: the organization's lost reasons (list, create)",
    "lead-stage-labels": f"{NO_ID}: the organization's lead stage labels",
    "web:pipeline-settings": f"{NO_ID}: the pipelines settings page (admins)",
    "web:pipeline-add": f"{NO_ID}: a new pipeline (a name)",
    "web:custom-field-settings": f"{NO_ID}: the custom fields settings page (admins)",
    "web:custom-field-add": f"{NO_ID}: a new custom field (a key and a type)",
    "web:lost-reason-add": f"{NO_ID}: a new lost reason (a name)",
    "web:lead-stage-labels": f"{NO_ID}: the lead stage labels (stage names are fixed)",
    "exchange-rates": f"{NO_ID}: list and set (a currency and a day)",
    "custom-fields": f"{NO_ID}: list and define (a key and a type; test_custom_fields_isolation)",
    "exchange-rates-import": f"{NO_ID}: rates from a CSV file",
    "webhooks": f"{NO_ID}: list and register (a URL)",
    "exports": f"{NO_ID}: list and request (filters are field values)",
    **{
        f"export-{kind}": f"{NO_ID}: {kind} as CSV, the host's rows only (test_exports)"
        for kind in ("leads", "contacts", "accounts", "opportunities", "tasks", "activities")
    },
    "webhook-event-types": f"{NO_ID}: the catalogue of event types",
    **{
        name: f"{NO_ID}: an email address, looked up in this host's schema only (tests/tenant_apps/privacy)"
        for name in ("privacy-export", "privacy-erase", "do-not-contact")
    },
    "audit-log": f"{NO_ID}: the host's audit log, filtered by field values (tests/shared_apps/audit)",
    "audit-log-export": f"{NO_ID}: the host's audit log as CSV (tests/shared_apps/audit)",
    "web:audit-log": f"{NO_ID}: the host's audit log page, admins only",
    "scoring-rules": f"{NO_ID}: list and create (conditions on field values)",
    "pipeline-stream": f"{NO_ID}: the organization's own event stream (Last-Event-ID counts per schema)",
    "healthz": f"{NO_ID}: the liveness probe",
    "readyz": f"{NO_ID}: the readiness probe",
    "schema": f"{NO_ID}: the OpenAPI document",
    "docs": f"{NO_ID}: the API documentation page",
    "web:sign-in": f"{NO_ID}: the sign-in form",
    "web:sign-out": f"{NO_ID}: ends the caller's session",
    "web:password": f"{NO_ID}: the caller's password",
    "web:time-zone": f"{NO_ID}: the caller's own time zone",
    "web:invitation-accept": "an invitation link's token, looked up by digest in this host's schema only",
    "web:password-reset": f"{NO_ID}: an email (the same answer either way)",
    "web:password-reset-confirm": "a reset link's uid and token: signed per schema (test_password_reset)",
    "web:email-confirm": "an email change link: signed per schema, naming the user and both emails",
    "web:unsubscribe": "an unsubscribe link: the address signed per schema (tests/tenant_apps/mail)",
    "web:security": f"{NO_ID}: the caller's sessions, tokens and email",
    "web:security-sessions-end-others": f"{NO_ID}: the caller's own sessions",
    "web:members": f"{NO_ID}: the members and invitations list, and the invite form (an email)",
    "web:settings": f"{NO_ID}: links to the settings pages",
    "web:api-keys": f"{NO_ID}: the organization's API keys and the new key form",
    "web:webhooks": f"{NO_ID}: the organization's webhook endpoints and the new endpoint form",
    "web:record-create": f"{NO_ID} in its path: ?account= only preselects one of this host's accounts (a"
    " foreign id selects nothing) and a posted account is one of this host's choices (test_record_forms)",
    "web:dashboard": f"{NO_ID}: the organization's dashboard",
    "web:sample-data": f"{NO_ID}: sample leads for this host's empty organization (admins)",
    "web:pipeline": f"{NO_ID}: the board",
    "web:search-suggest": f"{NO_ID}: a text query (the search selector, this host's schema)",
    "web:pipeline-summary": f"{NO_ID}: the board's totals",
    "web:pipeline-column": f"{NO_ID}: a column's further cards (a stage and a cursor)",
    "web:leads": f"{NO_ID}: the list (another organization's ?segment= is 'not found' like any unknown)",
    "web:lead-create": f"{NO_ID}: a new lead",
    "web:lead-columns": f"{NO_ID}: the caller's own choice of columns",
    "web:lead-trash": f"{NO_ID}: the caller's deleted leads (the visibility policy)",
    "web:deals": f"{NO_ID}: the deal table",
    "web:deal-columns": f"{NO_ID}: the caller's own choice of columns",
    "web:deal-trash": f"{NO_ID}: the caller's deleted deals (the visibility policy)",
    "web:tasks": f"{NO_ID}: the caller's tasks",
    "web:records": f"{NO_ID}: the list of a record type",
    "web:imports": f"{NO_ID}: the caller's imports",
    "web:import-upload": f"{NO_ID}: a new import (a file)",
    "sso-settings": f"{NO_ID}: the organization's single sign-on (tests/tenant_apps/sso)",
    "sso:settings": f"{NO_ID}: the organization's single sign-on page",
    "sso:login": f"{NO_ID}: starts a sign-in through this organization's provider",
    "sso:callback": f"{NO_ID}: completes the sign-in this browser started here (tests/tenant_apps/sso)",
    "web:currency-settings": f"{NO_ID}: the organization's base currency and exchange rates (admins)",
    "web:currency-rate-add": f"{NO_ID}: a rate (a currency and a day)",
    "web:currency-rates-import": f"{NO_ID}: rates from a CSV file",
    "web:currency-base": f"{NO_ID}: the base currency (a code)",
}

# Answer 2xx to a request without credentials (and so to another organization's).
PUBLIC = {
    "healthz": "the liveness probe (says only that the process answers)",
    "readyz": "the readiness probe (database, Redis, migrations: ok or not, no data)",
    "token": "the API's sign-in",
    "schema": "the OpenAPI document",
    "docs": "the API documentation page",
    "web:sign-in": "the sign-in page",
    "sso:login": "starts a sign-in through the organization's provider (a redirect, or a refusal page)",
    "sso:callback": "where the provider sends the browser back (a refusal page without this browser's flow)",
    "password-reset": "asking for a password reset link (the same answer for every email)",
    "password-reset-confirm": "setting a new password with a reset link (a bad link is a 400)",
    "web:password-reset": "the forgot-password page",
    "web:password-reset-confirm": "the new-password page of a reset link (a bad link says so)",
    "web:invitation-accept": "the accept page of an invitation link (a bad link says so, 410)",
    "web:email-confirm": "the confirm page of an email change link (a bad link says so)",
    "web:unsubscribe": "the unsubscribe page of automated email (a bad link says so, 400)",
}

# Server errors found by the suite in code it does not own, reported rather than fixed here; each entry must
# still fail (test_known_server_errors_are_still_there), so it is removed once fixed.
KNOWN_SERVER_ERRORS: dict[tuple[str, str], str] = {}
