"""Enrolling users for real (the services, in the user's schema) and reading real codes from their secret."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyotp
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.mfa import services
from shared_apps.organizations.models import Organization
from shared_apps.users.models import User


@dataclass
class Enrolled:
    user: User
    secret: str
    recovery_codes: list[str]

    @property
    def totp(self) -> pyotp.TOTP:
        return pyotp.TOTP(self.secret)

    def code(self, steps_ahead: int = 0) -> str:
        """The authenticator's code now, or `steps_ahead` 30-second steps later (within the accepted drift),
        for a second sign-in in the same test: the current one cannot be used twice."""
        return self.totp.at(time.time(), counter_offset=steps_ahead)


def schema_of(organization: Organization | None) -> str:
    return organization.schema_name if organization else "public"


def enrol(user: User, organization: Organization | None) -> Enrolled:
    with schema_context(schema_of(organization)):
        enrolment = services.enrolment_start(user=user)
        # confirmed with the code of the step before: the sign-ins of the test use the current step and later
        previous = pyotp.TOTP(enrolment.secret).at(time.time(), counter_offset=-1)
        codes = services.enrolment_confirm(user=user, code=previous)
    return Enrolled(user=user, secret=enrolment.secret, recovery_codes=codes)


def audit_actions(organization: Organization | None, user: User | None = None) -> list[str]:
    with schema_context(schema_of(organization)):
        events = AuditEvent.objects.order_by("id")
        if user is not None:
            events = events.filter(actor_id=user.pk)
        return list(events.values_list("action", flat=True))
