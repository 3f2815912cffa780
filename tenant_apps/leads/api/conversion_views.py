"""POST /api/leads/<id>/convert/: the lead becomes a contact at an account, and optionally an opportunity."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, StrictCharField
from tenant_apps.leads.api.views import LeadView
from tenant_apps.leads.conversion import lead_convert
from tenant_apps.records.api.serializers import IdField, StrictSerializer


class LeadConvertSerializer(StrictSerializer):
    id_fields = ("account",)

    account = IdField(
        required=False, allow_null=True, help_text="an existing account's id; null or absent creates one"
    )
    account_name = StrictCharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="the new account's name (the lead's company by default)",
    )
    create_opportunity = serializers.BooleanField(required=False, default=False)
    opportunity_name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        default=None,
        help_text="the lead's value by default",
    )
    expected_close_date = serializers.DateField(required=False, allow_null=True, default=None)


class LeadConversionSerializer(serializers.Serializer):
    """The lead's conversion links: the ids of the lead and of the records it became."""

    lead_id = serializers.IntegerField(source="lead.pk")
    account_id = serializers.IntegerField(source="account.pk")
    contact_id = serializers.IntegerField(source="contact.pk")
    opportunity_id = serializers.IntegerField(source="opportunity.pk", allow_null=True)
    account_created = serializers.BooleanField()
    converted_at = serializers.DateTimeField(source="lead.converted_at")


class LeadConvertView(LeadView):
    @extend_schema(request=LeadConvertSerializer, responses={201: LeadConversionSerializer, **ERRORS})
    def post(self, request: Request, lead_id: int) -> Response:
        """Convert a QUALIFIED, PROPOSAL, NEGOTIATION or WON lead, once (409 after, with the linked ids)."""
        serializer = LeadConvertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversion = lead_convert(lead_id=lead_id, actor=self.member, **serializer.to_service())
        return Response(LeadConversionSerializer(conversion).data, status=status.HTTP_201_CREATED)
