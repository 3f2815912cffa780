from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ErrorSerializer, OrganizationView, parse
from tenant_apps.records.api.filters import LeadFilterSerializer
from tenant_apps.search import selectors


class SearchParamsSerializer(serializers.Serializer):
    q = serializers.CharField(trim_whitespace=False, allow_blank=True, max_length=10_000)
    types = serializers.CharField(required=False, help_text=f"comma-separated: {', '.join(selectors.TYPES)}")
    stage = serializers.CharField(required=False, help_text="comma-separated lead or opportunity stages")
    owner = serializers.CharField(required=False, help_text='"me", "none" or a member id')
    tag = serializers.CharField(required=False, max_length=50)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    page = serializers.IntegerField(required=False, min_value=1, max_value=selectors.MAX_PAGES, default=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=50, default=20)
    count = serializers.BooleanField(
        required=False,
        default=False,
        help_text="also count every match (full text and exact keys): costs a pass over all of them",
    )

    def validate_types(self, value: str) -> list[str]:
        types = [item.strip().lower() for item in value.split(",") if item.strip()]
        unknown = [item for item in types if item not in selectors.TYPES]
        if unknown or not types:
            raise serializers.ValidationError(f"Choose among {', '.join(selectors.TYPES)}.")
        return list(dict.fromkeys(types))

    def validate_stage(self, value: str) -> list[str]:
        stages = [item.strip().upper() for item in value.split(",") if item.strip()]
        from tenant_apps.leads.models import Stage
        from tenant_apps.opportunities.models import OpportunityStage

        allowed = set(Stage.values) | set(OpportunityStage.values)
        unknown = [stage for stage in stages if stage not in allowed]
        if unknown:
            raise serializers.ValidationError(f"Unknown: {', '.join(unknown)}.")
        return stages

    def validate_owner(self, value: str) -> str | int:
        return LeadFilterSerializer().validate_owner(value)

    def validate_tag(self, value: str) -> str:
        return " ".join(value.split()).lower()


class SearchResultSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.IntegerField()
    rank = serializers.FloatField()
    title = serializers.CharField()
    snippet = serializers.CharField(help_text="HTML-escaped text with the matches wrapped in <mark>")
    created_at = serializers.DateTimeField()
    record = serializers.DictField(required=False, help_text="for notes: the record the note is on")


class SearchResponseSerializer(serializers.Serializer):
    results = SearchResultSerializer(many=True)
    page = serializers.IntegerField()
    has_more = serializers.BooleanField()
    count = serializers.IntegerField(required=False, help_text="only with ?count=true")


class SearchView(OrganizationView):
    """Search leads, contacts, accounts, opportunities and notes at once, best matches first."""

    @extend_schema(
        parameters=[SearchParamsSerializer],
        responses={200: SearchResponseSerializer, 400: ErrorSerializer, 401: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        params = parse(SearchParamsSerializer, request.query_params)
        types = params.pop("types", None) or list(selectors.TYPES)
        page, page_size, q = params.pop("page"), params.pop("page_size"), params.pop("q")
        count = params.pop("count")
        found = selectors.search(
            actor=self.member, q=q, types=types, filters=params, page=page, page_size=page_size
        )
        if count:  # never by default: counting reads every match, the page reads a bounded few
            found["count"] = selectors.match_count(actor=self.member, q=q, types=types, filters=params)
        return Response(found)
