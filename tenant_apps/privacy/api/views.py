"""Privacy requests (admins): export or erase everything held about one person, and the do-not-contact
list. Each is recorded in the organization's audit log."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.audit.services import audit_record
from shared_apps.core.validation import clean_text
from shared_apps.http.api import ERRORS, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from shared_apps.users.models import Role
from tenant_apps.privacy import services
from tenant_apps.privacy.api.serializers import (
    DoNotContactFilterSerializer,
    DoNotContactSerializer,
    ErasureSerializer,
    PersonSerializer,
)
from tenant_apps.privacy.erasure import person_erase
from tenant_apps.privacy.export import person_export
from tenant_apps.privacy.models import DoNotContact, SuppressionReason
from tenant_apps.records import normalize


class AdminsOnly(OrganizationView):
    """Reading and writing alike: a privacy request is the organization's act as the controller of the data
    (answered for it by its admins, and audited), not a member's everyday work."""

    read_role = Role.ADMIN
    write_role = Role.ADMIN


def _email(data: Any) -> str:
    raw = parse(PersonSerializer, data)["email"]
    email = normalize.email(clean_text(raw, field="email", max_length=254, required=True))
    return email


def email_digest(email: str) -> str:
    """What the audit log keeps of an erased person's address: enough to answer "was X erased?" by hashing
    X again, not the address itself."""
    return hashlib.sha256(email.encode()).hexdigest()


class PrivacyExportView(AdminsOnly):
    resource = "privacy"

    @extend_schema(request=PersonSerializer, responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def post(self, request: Request) -> Response:
        """A JSON archive (a download) of every lead and contact with that email address: their fields,
        activities (emails, calls, meetings, notes), notes, tasks, sequence enrolments and a contact's deals,
        and the emails on other records naming the address. An unknown address gives an empty archive."""
        email = _email(request.data)
        with transaction.atomic():  # one consistent snapshot
            archive = person_export(email=email)
        audit_record(
            "privacy.exported",
            request=request,
            target_type="privacy.person",
            target_repr=email,
            changes={
                "email": email,
                "leads": len(archive["leads"]),
                "contacts": len(archive["contacts"]),
            },
        )
        filename = f"privacy-export-{timezone.now():%Y%m%d-%H%M%S}.json"
        return Response(archive, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


class PrivacyEraseView(AdminsOnly):
    resource = "privacy"

    @extend_schema(request=PersonSerializer, responses={200: ErasureSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Erase the person with that email address: their leads' and contacts' personal fields, the subject,
        body and personal metadata of their activities (and of emails naming them elsewhere), their notes,
        tasks and sequence emails, in one transaction. The timeline keeps every entry. The address goes on
        the do-not-contact list. Idempotent: an unknown or already erased address answers zeros."""
        email = _email(request.data)
        digest = email_digest(email)
        with transaction.atomic():
            erased = person_erase(email=email, actor=self.member)
            audit_record(
                "privacy.erased",
                request=request,
                target_type="privacy.person",
                target_repr=f"sha256:{digest[:16]}",
                changes={"email_sha256": digest, **erased.as_dict()},
            )
        body = {"email_sha256": digest, **erased.as_dict(), "do_not_contact": SuppressionReason.ERASED}
        return Response(ErasureSerializer(body).data)


class DoNotContactCursor(Cursor):
    orderings = ("created_at", "email")


class DoNotContactListView(AdminsOnly):
    resource = "do-not-contact"
    pagination_class = DoNotContactCursor

    @extend_schema(
        parameters=[
            DoNotContactFilterSerializer,
            OpenApiParameter("ordering", str),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses={200: DoNotContactSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """The list, newest first; ?reason= narrows, ?email= finds one address."""
        filters = parse(DoNotContactFilterSerializer, request.query_params)
        entries = DoNotContact.objects.all()
        if "reason" in filters:
            entries = entries.filter(reason=filters["reason"])
        if "email" in filters:
            entries = entries.filter(email=services.normalized(filters["email"]))
        return self.paginated(entries, DoNotContactSerializer)

    @extend_schema(request=PersonSerializer, responses={201: DoNotContactSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Add an address by hand (reason manual); one already listed is a 409."""
        data = parse(PersonSerializer, request.data)
        with transaction.atomic():
            entry = services.do_not_contact_add(email=data["email"], actor=self.member)
            audit_record(
                "do_not_contact.added", request=request, target=entry, changes={"email": entry.email}
            )
        return Response(DoNotContactSerializer(entry).data, status=status.HTTP_201_CREATED)


class DoNotContactDetailView(AdminsOnly):
    resource = "do-not-contact"

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, entry_id: int) -> Response:
        """Remove a manual entry; the others (erased, unsubscribed, bounced) stay: 409."""
        with transaction.atomic():
            entry = services.do_not_contact_remove(entry_id=entry_id)
            audit_record(
                "do_not_contact.removed",
                request=request,
                target_type="privacy.donotcontact",
                target_id=entry_id,
                target_repr=entry.email,
                changes={"email": entry.email},
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
