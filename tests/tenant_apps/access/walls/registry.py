"""How to aim each route of an organization's host at rep2's hidden records, one level below the isolation
suite (tests/isolation/registry.py, whose Aims and factories are reused here).

HIDDEN_IDS: route name -> a factory making rep2's records (support.HiddenRecords) and returning requests that
name them (ids in the path, or in the body with `in_body`). rep1 must get 404 on reads, 403 or 404 on writes
(400 too when the id travels in the body); rep2 sending the same request finds the record.
LISTS: route name -> requests (built from the frame of records every member sees) whose answer must not
carry rep2's hidden records: their names, notes, calls and tasks carry support.MARKER, and their counts
must not change when they are made. The admin asking the same sees them (the check is not vacuous).
EXEMPT: routes naming no hidden record and listing none, with the reason.
A route in none of them fails test_every_route_has_a_rep_case. VIEWER_MAY_WRITE: the writes a viewer may
make (their own session, token, password, notifications); every other write of every route is a 403."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.isolation.registry import EXEMPT as ISOLATION_EXEMPT
from tests.isolation.registry import REGISTRY as ISOLATION
from tests.isolation.registry import Aim, Factory
from tests.isolation.support import Records
from tests.tenant_apps.access.walls.support import MARKER, Frame

# Routes whose path names a lead, an opportunity, a task or an enrolment: the isolation suite's factories
# aim them, with rep2's records instead of another organization's.
_BY_PATH = (
    "lead",
    "lead-restore",
    "lead-purge",
    "lead-transition",
    "lead-convert",
    "lead-stage-history",
    "lead-notes",
    "lead-activities",
    "lead-emails",
    "lead-email-threads",
    "lead-email-send",
    "lead-duplicates",
    "lead-score",
    "opportunity",
    "opportunity-restore",
    "opportunity-stage",
    "opportunity-stage-history",
    "opportunity-notes",
    "opportunity-activities",
    "task",
    "task-complete",
    "task-cancel",
    "task-reopen",
    "enrollment-unenroll",
    "web:pipeline-card",
    "web:lead",
    "web:lead-timeline",
    "web:lead-edit",
    "web:lead-move",
    "web:lead-note",
    "web:lead-call",
    "web:lead-email-send",
    "web:lead-assign",
    "web:lead-restore",
    "web:lead-task",
    "web:task-complete",
    "web:task-reopen",
    "web:lead-convert",
    "web:lead-log",
    "web:task-create",
    "web:task-edit",
    "web:deal-move",
    "web:deal-restore",
)


def _opportunity_page(body: dict[str, Any] | None = None) -> Factory:
    """The web's record pages for opportunities (accounts and contacts are every member's)."""
    return lambda g: [Aim({"kind": "opportunities", "record_id": g.opportunity()}, body)]


def _in_body(
    make_body: Callable[[Records], dict[str, Any]],
    make_path: Callable[[Records], dict[str, Any]] | None = None,
) -> Factory:
    """A POST whose body names rep2's records (its path, if any, names records every member sees)."""

    def aims(g: Records) -> list[Aim]:
        kwargs = make_path(g) if make_path else {}
        return [Aim(kwargs, make_body(g), methods=("POST",), in_body=True)]

    return aims


HIDDEN_IDS: dict[str, Factory] = {
    **{key: ISOLATION[key] for key in _BY_PATH},
    "web:record": _opportunity_page(),
    "web:record-timeline": _opportunity_page(),
    "web:record-note": _opportunity_page({"body": "Rep1's note"}),
    "web:record-edit": _opportunity_page({"name": "Rep1's now"}),
    "web:record-log": _opportunity_page({"type": "CALL", "subject": "Rep1's call"}),
    "web:lead-bulk": _in_body(lambda g: {"ids": str(g.lead()), "action": "delete"}),
    "web:deal-bulk": _in_body(lambda g: {"ids": str(g.opportunity()), "action": "delete"}),
    "lead-merge": _in_body(lambda g: {"survivor": g.lead(), "merged": [g.lead()]}),
    "tasks": _in_body(lambda g: {"title": "On rep2's deal", "opportunity": g.opportunity()}),
    "sequence-enroll": _in_body(lambda g: {"lead": g.lead()}, lambda g: {"sequence_id": g.sequence()}),
    # a file that came with an email on rep2's lead
    "attachment": ISOLATION["attachment"],
}


@dataclass(frozen=True)
class Look:
    """A request whose answer lists records; `counts` reads the figures that must not move."""

    path: str
    query: dict[str, str] = field(default_factory=dict)
    counts: Callable[[Any], Any] | None = None  # the response -> what must stay the same
    marker: bool = True  # the admin sees the hidden records' MARKER here (the control)

    @property
    def url(self) -> str:
        return self.path + (f"?{urlencode(self.query)}" if self.query else "")


Lister = Callable[[Frame], list[Look]]


def _look(path: str, **query: str) -> Lister:
    return lambda frame: [Look(path, query)]


def _figures(response: Any) -> Any:
    return response.json()


LISTS: dict[str, Lister] = {
    "leads": _look("/api/leads/"),
    "opportunities": _look("/api/opportunities/"),
    "tasks": _look("/api/tasks/"),
    "tasks-overdue": _look("/api/tasks/overdue/"),
    "search": _look("/api/search/", q=MARKER),
    # rep1's own segment (a segment is its author's): nobody else can ask it, so no control
    "segment-results": lambda frame: [Look(f"/api/segments/{frame.segment}/results/", marker=False)],
    "segment-preset-results": _look("/api/segments/presets/high_value_closing_this_quarter/results/"),
    "sequence-enrollments": lambda frame: [Look(f"/api/sequences/{frame.sequence}/enrollments/")],
    "account-activities": lambda frame: [Look(f"/api/accounts/{frame.account}/activities/")],
    "lead-duplicates": lambda frame: [Look(f"/api/leads/{frame.rep1_lead}/duplicates/")],
    "export-leads": _look("/api/exports/leads.csv"),
    "export-activities": _look("/api/exports/activities.csv"),
    "web:dashboard": _look("/"),
    "web:pipeline": _look("/pipeline/"),
    "web:search-suggest": _look("/search/suggest/", q=MARKER),
    "web:pipeline-column": _look("/pipeline/columns/NEW/"),
    "web:deals-board": _look("/deals/board/"),
    "web:pipeline-summary": lambda frame: [Look("/pipeline/summary/", counts=_figures, marker=False)],
    "web:leads": lambda frame: [
        Look("/leads/"),
        Look("/leads/", {"q": MARKER}),
        Look("/leads/", {"segment": str(frame.segment)}, marker=False),  # rep1's segment: no control
    ],
    "web:tasks": _look("/tasks/", mine="0"),
    # rep2's hidden leads are not deleted: the control is the lead list's
    "web:lead-trash": lambda frame: [Look("/leads/trash/", marker=False)],
    "web:deals": lambda frame: [
        Look("/opportunities/"),
        Look("/opportunities/", {"sort": "-amount"}),
        Look("/opportunities/", {"q": MARKER}),
    ],
    # rep2's hidden deals are not deleted: the control is the deal table's
    "web:deal-trash": lambda frame: [Look("/deals/trash/", marker=False)],
    "web:records": lambda frame: [Look("/opportunities/"), Look("/opportunities/", {"q": MARKER})],
    "web:record": lambda frame: [Look(f"/accounts/{frame.account}/")],
    "web:record-timeline": lambda frame: [Look(f"/accounts/{frame.account}/timeline/")],
}

EVERY_MEMBERS = "accounts and contacts are every member's (the policy)"
EXEMPT: dict[str, str] = {
    **{key: reason for key, reason in ISOLATION_EXEMPT.items() if key not in LISTS},
    "member": "members are listed to every member; managing them is the admins' (test_viewer_writes)",
    "member-deactivate": "admins only (test_viewer_writes)",
    "web:sample-data": "admins only, an empty organization's sample leads (test_viewer_writes)",
    "member-reactivate": "admins only (test_viewer_writes)",
    "member-two-factor-reset": "admins only (test_viewer_writes)",
    "api-key-revoke": "admins only (test_viewer_writes)",
    "sso-settings": "single sign-on settings, admins only (test_viewer_writes, tests/tenant_apps/sso)",
    "sso:settings": "the organization's single sign-on page, admins only (test_viewer_writes)",
    "member-sessions-end": "admins only (test_viewer_writes)",
    "invitation-resend": "admins only (test_viewer_writes)",
    "invitation-revoke": "admins only (test_viewer_writes)",
    "web:invitation-resend": "admins only (test_viewer_writes)",
    "web:invitation-revoke": "admins only (test_viewer_writes)",
    "web:member-sessions-end": "admins only (test_viewer_writes)",
    **{
        key: "the caller's own sessions and tokens: another member's match none (test_sessions_and_tokens)"
        for key in ("me-session", "me-token", "web:security-session-end", "web:security-token-revoke")
    },
    **{
        key: EVERY_MEMBERS
        for key in (
            "accounts",
            "account",
            "account-restore",
            "account-purge",
            "account-status",
            "account-status-history",
            "account-duplicates",
            "account-merge",
            "contacts",
            "contact",
            "contact-restore",
            "contact-purge",
            "contact-duplicates",
            "contact-merge",
        )
    },
    "account-notes": f"the account's own notes: {EVERY_MEMBERS} (a deal's notes stay on the deal)",
    "contact-notes": f"the contact's own notes: {EVERY_MEMBERS}",
    "contact-activities": f"the contact's own timeline ({EVERY_MEMBERS}): a deal's activities are not on it",
    "contact-email-send": f"an email to the contact: {EVERY_MEMBERS}",
    "web:contact-email-send": f"an email to the contact: {EVERY_MEMBERS}",
    "web:api-key-revoke": "admins only (test_viewer_writes, test_settings_pages)",
    "web:webhook": "the organization's endpoints, admins only (test_viewer_writes, test_settings_pages)",
    **{
        f"analytics-{report}": "a report from snapshots and rollups that jobs build (not live rows):"
        " narrowing its owner filters for reps is the analytics app's, tested there"
        for report in ("pipeline", "conversion", "cycle-length", "time-in-stage", "forecast")
    },
    "analytics-deals": "a report of counts and amounts per stage (names no deal); organization-wide like"
    " the other reports",
    **{
        name: "the organization's deal pipelines, stages and lost reasons: read by every member, written by"
        " admins (tests/tenant_apps/opportunities/test_pipelines.py)"
        for name in (
            "pipeline",
            "pipeline-stages",
            "pipeline-stages-reorder",
            "pipeline-stage",
            "lost-reason",
            "web:pipeline-edit",
            "web:pipeline-stage-add",
            "web:pipeline-stage-edit",
            "web:lost-reason-edit",
        )
    },
    "segment": "a definition (field values), the organization's; its results are in LISTS",
    "sequence": "a sequence is the organization's template; its enrolments are in LISTS",
    "webhook": "the organization's endpoints, managed by admins (test_viewer_writes)",
    "webhook-enable": "the organization's endpoints, managed by admins",
    "webhook-deliveries": "the organization's endpoints, managed by admins",
    "webhook-redeliver": "the organization's endpoints, managed by admins",
    "rule": "the organization's automation, managed by managers and admins",
    "rule-runs": "the organization's automation, managed by managers and admins",
    "rules": "the organization's automation, managed by managers and admins",
    **{
        name: "the organization's exchange rates, read by every member, written by admins"
        for name in ("exchange-rate", "exchange-rates", "exchange-rates-import")
    },
    **{
        name: "the organization's custom field definitions, read by every member, written by admins"
        for name in ("custom-field", "custom-fields")
    },
    "web:custom-field-edit": "the custom field definitions: admins only (test_custom_fields_web)",
    **{
        name: "the organization's money settings page and its writes: admins only (test_currency_settings)"
        for name in (
            "web:currency-settings",
            "web:currency-rate-add",
            "web:currency-rates-import",
            "web:currency-base",
        )
    },
    "routing": "the organization's routing settings, managed by managers and admins",
    "scoring-rule": "the organization's scoring, managed by managers and admins",
    "imports": "imports are for managers and admins",
    "import": "imports are for managers and admins",
    "import-errors": "imports are for managers and admins",
    "import-cancel": "imports are for managers and admins",
    "import-revert": "imports are for managers and admins",
    "do-not-contact-entry": "the organization's do-not-contact list, managed by admins (test_viewer_writes)",
    "export": "a member's own export (another's is 404: the imports app's tests)",
    "export-download": "a member's own export; what a job-built export holds is the visibility branch's test",
}

# A viewer's writes that are not refused: the caller's own session, token, password and notifications.
VIEWER_MAY_WRITE: dict[str, str] = {
    "token": "signs in",
    "sign-out": "revokes the caller's own token",
    "me": "the caller's own profile (their time zone)",
    "notifications-read": "marks the caller's own notifications read",
    "exports": "requests an export of what the caller may read (a read, run as a job)",
    "pipeline-stream": "a read-only event stream (it answers any method with the stream)",
    "web:sign-in": "signs in",
    "web:sign-out": "ends the caller's session",
    "web:password": "changes the caller's own password",
    "web:time-zone": "sets the caller's own time zone",
    "web:lead-columns": "the caller's own choice of the lead list's columns",
    "web:deal-columns": "the caller's own choice of the deal table's columns",
    **{
        name: "the caller's own second factor"
        for name in (
            "two-factor-setup",
            "two-factor-confirm",
            "two-factor-recovery-codes",
            "two-factor-disable",
            "web:two-factor",
        )
    },
    "web:sign-in-two-factor": "signs in (the second step)",
    "password-reset": "asks for a reset link (anyone may)",
    "password-reset-confirm": "sets a password with a reset link (anyone holding one may)",
    "me-password": "changes the caller's own password",
    "me-email": "asks to change the caller's own email",
    "me-sessions": "ends the caller's own other sessions",
    "me-session": "ends one of the caller's own sessions",
    "me-tokens": "revokes the caller's own other tokens",
    "me-token": "revokes one of the caller's own tokens",
    "web:invitation-accept": "accepts an invitation (anyone holding the link may)",
    "web:password-reset": "asks for a reset link (anyone may)",
    "web:password-reset-confirm": "sets a password with a reset link",
    "web:email-confirm": "confirms an email change with its link",
    "web:unsubscribe": "unsubscribes the address its link names (anyone holding the link may)",
    "web:security": "asks to change the caller's own email",
    "web:security-session-end": "ends one of the caller's own sessions",
    "web:security-sessions-end-others": "ends the caller's own other sessions",
    "web:security-token-revoke": "revokes one of the caller's own tokens",
}
