"""Rep2's records in acme, made through acme's API by its admin: leads and deals owned by rep2 (hidden from
other reps while the organization keeps `reps_see_all_leads` off) and what hangs on them. Every text of a
hidden record carries MARKER, so a list, search, export or timeline that leaks one is found by reading it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from shared_apps.organizations.models import Organization
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tests.isolation.support import Credentials, Records, call

MARKER = "zq-hidden-of-rep2"


class HiddenRecords(Records):
    """Records for the route-walking suite: leads and opportunities owned by `owner` (rep2), tasks,
    enrolments, notes and activities on those; accounts, contacts and sequences stay plain (every member
    sees them) and carry no MARKER."""

    def __init__(self, organization: Organization, admin: Credentials, owner: Credentials) -> None:
        super().__init__(organization, admin)
        self.owner = owner

    def _name(self, what: str) -> str:
        hidden = what in ("lead", "deal", "task", "imported")
        return f"{MARKER if hidden else self.organization.slug} {what} {next(self._counter)}"

    def _create(self, model: type[Model], path: str, body: dict[str, Any] | None = None, **extra: Any) -> int:
        # the isolation suite's factories call Records' own methods (Records.lead): the owner goes in here
        if model in (Lead, Opportunity) and body is not None:
            body = {**body, "owner": self.owner.user.pk}
        return super()._create(model, path, body, **extra)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Anything else the admin adds (a note, a call, a task) to records made here."""
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.admin.token}"}
        response = call(self.organization, "POST", path, headers=headers, body=body)
        assert response.status_code in (200, 201, 202), (path, response.content)
        return dict(response.json())


@dataclass(frozen=True)
class Frame:
    """Records every member sees, which rep2's hidden ones hang from or show up in."""

    account: int
    contact: int
    sequence: int
    segment: int
    rep1_lead: int  # rep1's own lead, sharing the hidden lead's email (a duplicate check must not reveal it)


@dataclass(frozen=True)
class Hidden:
    lead: int
    opportunity: int


HIDDEN_NOTE = {"body": f"{MARKER} note"}
HIDDEN_CALL = {"type": "CALL", "subject": f"{MARKER} call", "body": f"{MARKER} call notes"}
