from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, OrganizationView, parse
from shared_apps.users.models import Role
from tenant_apps.dedupe import selectors, services
from tenant_apps.dedupe.api.serializers import (
    AccountSuggestionSerializer,
    ContactSuggestionSerializer,
    LeadSuggestionSerializer,
    MergeResultSerializer,
    MergeSerializer,
)
from tenant_apps.leads.selectors import leads_visible_to
from tenant_apps.records.api.views import LeadView


class _MergeView(OrganizationView):
    # Merging rewrites several records, some maybe owned by others: a manager's call, not a rep's.
    write_role = Role.MANAGER

    merge: Callable[..., services.Merge]

    @extend_schema(request=MergeSerializer, responses={200: MergeResultSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Merge the `merged` records into `survivor`: chosen fields, united tags, and everything that
        pointed at them (timeline, notes, tasks, links) moves to it; the merged ones remain as tombstones."""
        data = parse(MergeSerializer, request.data)
        merge = self.merge(
            survivor_id=data["survivor"],
            merged_ids=data["merged"],
            field_winners=data["fields"],
            actor=self.member,
            request=request._request,
        )
        return Response(MergeResultSerializer(merge).data)


class LeadMergeView(_MergeView):
    merge = staticmethod(services.lead_merge)


class ContactMergeView(_MergeView):
    merge = staticmethod(services.contact_merge)


class AccountMergeView(_MergeView):
    merge = staticmethod(services.account_merge)


def _suggestions(serializer: type[serializers.Serializer], suggestions: list[Any]) -> Response:
    return Response(serializer(suggestions, many=True).data)


class LeadDuplicatesView(LeadView):
    @extend_schema(responses={200: LeadSuggestionSerializer(many=True), **ERRORS})
    def get(self, request: Request, lead_id: int) -> Response:
        """Live leads that look like this one, best first (at most 20), with why."""
        suggestions = selectors.lead_duplicates(lead_id=lead_id)
        # a rep is shown only the candidates they may see
        visible = set(
            leads_visible_to(self.member)
            .filter(pk__in=[s.record.pk for s in suggestions])
            .values_list("pk", flat=True)
        )
        return _suggestions(LeadSuggestionSerializer, [s for s in suggestions if s.record.pk in visible])


class ContactDuplicatesView(OrganizationView):
    @extend_schema(responses={200: ContactSuggestionSerializer(many=True), **ERRORS})
    def get(self, request: Request, contact_id: int) -> Response:
        """Live contacts that look like this one, best first (at most 20), with why."""
        return _suggestions(ContactSuggestionSerializer, selectors.contact_duplicates(contact_id=contact_id))


class AccountDuplicatesView(OrganizationView):
    @extend_schema(responses={200: AccountSuggestionSerializer(many=True), **ERRORS})
    def get(self, request: Request, account_id: int) -> Response:
        """Live accounts that look like this one, best first (at most 20), with why."""
        return _suggestions(AccountSuggestionSerializer, selectors.account_duplicates(account_id=account_id))
