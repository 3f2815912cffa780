"""Thin views: parse the query, read a cached report, render it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.errors import Forbidden
from shared_apps.http.api import OrganizationView, error_responses, parse
from tenant_apps.analytics import deals, selectors
from tenant_apps.analytics.api.serializers import (
    ConversionSerializer,
    CycleLengthSerializer,
    DealsQuerySerializer,
    DealsReportSerializer,
    ForecastQuerySerializer,
    ForecastSerializer,
    PeriodQuerySerializer,
    PipelineQuerySerializer,
    PipelineSerializer,
    TimeInStageSerializer,
)
from tenant_apps.records import visibility

ERRORS = error_responses(400, 401, 403)


class ReportView(OrganizationView):
    """A report: `report` builds it from the parsed query, `output` renders it; both cached together."""

    name: str
    query: type[serializers.Serializer] = PeriodQuerySerializer
    output: type[serializers.Serializer]
    report: Callable[..., dict[str, Any]]

    def params(self, request: Request) -> dict[str, Any]:
        return parse(self.query, request.query_params)

    def get(self, request: Request) -> Response:
        params = self.params(request)
        build = type(self).report
        data = selectors.cached(self.name, params, lambda: dict(self.output(build(**params)).data))
        if "by_owner" in data and not visibility.sees_all_leads(self.member):
            # a rep kept to their own leads and deals sees their own row of the per-owner breakdown only
            # (the organization's totals stay: they name no record)
            data = {**data, "by_owner": [row for row in data["by_owner"] if _owner_id(row) == self.member.pk]}
        return Response(data)


def _owner_id(row: dict[str, Any]) -> int | None:
    owner = row.get("owner")
    return owner.get("id") if isinstance(owner, dict) else None


class PipelineView(ReportView):
    name = "pipeline"
    query = PipelineQuerySerializer
    output = PipelineSerializer
    report = selectors.pipeline_report

    def params(self, request: Request) -> dict[str, Any]:
        params = super().params(request)
        if params.get("owner") == "me":
            params["owner"] = self.member.pk
        owner = params.get("owner")
        if owner not in (None, "none", self.member.pk) and not visibility.sees_all_leads(self.member):
            raise Forbidden(
                'Reps see only their own pipeline: owner must be "me" or "none".',
                code="owner_not_visible",
                field="owner",
            )
        return params

    @extend_schema(
        parameters=[PipelineQuerySerializer],
        responses={200: PipelineSerializer, **ERRORS},
        summary="Current pipeline by stage and owner, and its daily history",
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class ConversionView(ReportView):
    name = "conversion"
    output = ConversionSerializer
    report = selectors.conversion_report

    @extend_schema(
        parameters=[PeriodQuerySerializer],
        responses={200: ConversionSerializer, **ERRORS},
        summary="Stage-to-stage conversion and win rates over a period, by source and by owner",
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class CycleLengthView(ReportView):
    name = "cycle-length"
    output = CycleLengthSerializer
    report = selectors.cycle_length_report

    @extend_schema(
        parameters=[PeriodQuerySerializer],
        responses={200: CycleLengthSerializer, **ERRORS},
        summary="Days from creation to WON (average, median, p75) by source",
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class TimeInStageView(ReportView):
    name = "time-in-stage"
    output = TimeInStageSerializer
    report = selectors.time_in_stage_report

    @extend_schema(
        parameters=[PeriodQuerySerializer],
        responses={200: TimeInStageSerializer, **ERRORS},
        summary="Average and median days spent in each stage",
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class ForecastView(ReportView):
    name = "forecast"
    query = ForecastQuerySerializer
    output = ForecastSerializer
    report = selectors.forecast_report

    @extend_schema(
        parameters=[ForecastQuerySerializer],
        responses={200: ForecastSerializer, **ERRORS},
        summary="Probability-weighted open opportunities by expected close month",
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class DealsView(ReportView):
    name = "deals"
    query = DealsQuerySerializer
    output = DealsReportSerializer
    report = deals.deals_report

    @extend_schema(
        parameters=[DealsQuerySerializer],
        responses={200: DealsReportSerializer, **error_responses(400, 401, 403, 404)},
        summary="One deal pipeline per stage as configured: open deals, funnel, win rate, cycle, snapshots",
    )
    def get(self, request: Request) -> Response:
        return super().get(request)
