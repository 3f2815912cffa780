"""Exchange rates into the organization's base currency: every member reads them, admins write them."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, OrganizationView, parse
from shared_apps.users.models import Role
from tenant_apps.currency import audit, selectors, services
from tenant_apps.currency.api.serializers import (
    ExchangeRateFilterSerializer,
    ExchangeRateImportResultSerializer,
    ExchangeRateImportSerializer,
    ExchangeRateListSerializer,
    ExchangeRateSerializer,
    ExchangeRateWriteSerializer,
)


class ExchangeRateView(OrganizationView):
    write_role = Role.ADMIN
    resource = "exchange-rates"


class ExchangeRateListView(ExchangeRateView):
    @extend_schema(
        parameters=[ExchangeRateFilterSerializer], responses={200: ExchangeRateListSerializer, **ERRORS}
    )
    def get(self, request: Request) -> Response:
        """Every rate, by currency and newest first, with the base currency they convert into."""
        filters = parse(ExchangeRateFilterSerializer, request.query_params)
        rates = selectors.exchange_rate_list(currency=filters.get("currency"))
        body = {"base_currency": selectors.base_currency(), "results": rates}
        return Response(ExchangeRateListSerializer(body).data)

    @extend_schema(request=ExchangeRateWriteSerializer, responses={201: ExchangeRateSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Sets the rate of a currency from a day (replacing one set for that same day)."""
        data = parse(ExchangeRateWriteSerializer, request.data)
        with transaction.atomic():  # the change and its audit entry, together
            rate = services.exchange_rate_set(**data)
            audit.rate_created(request, rate)
        return Response(ExchangeRateSerializer(rate).data, status=status.HTTP_201_CREATED)


class ExchangeRateDetailView(ExchangeRateView):
    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, rate_id: int) -> Response:
        with transaction.atomic():
            services.exchange_rate_delete(rate_id=rate_id)
            audit.rate_deleted(request, rate_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExchangeRateImportView(ExchangeRateView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ExchangeRateImportSerializer},
        responses={200: ExchangeRateImportResultSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        """A CSV file (`file`) with the columns currency,rate,valid_from; all lines or none."""
        upload = parse(ExchangeRateImportSerializer, request.data)["file"]
        text = audit.rates_file_text(upload)
        with transaction.atomic():
            count = services.exchange_rates_import(text=text)
            audit.rates_imported(request, count=count, file_name=upload.name or "")
        return Response({"imported": count})
