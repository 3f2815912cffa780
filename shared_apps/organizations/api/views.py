from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shared_apps.http.api import ERRORS, IsOperator, parse
from shared_apps.organizations import bulk, dashboard, filters, plans, selectors, services, support
from shared_apps.organizations.api.serializers import (
    BulkOperationSerializer,
    BulkSerializer,
    DomainSerializer,
    OrganizationCreateSerializer,
    OrganizationListSerializer,
    OrganizationSerializer,
    OrganizationUpdateSerializer,
    PlanCreateSerializer,
    PlanSerializer,
    PlanUpdateSerializer,
    PurgeSerializer,
    SupportOpenedSerializer,
    SupportOpenSerializer,
    SupportSessionSerializer,
    UsageSerializer,
)
from shared_apps.organizations.exceptions import OrganizationNotFound


class OperatorView(APIView):
    permission_classes = [IsOperator]


class OrganizationPages(PageNumberPagination):
    """Numbered pages (`page`, `page_size` up to 200, `count`): any column sorts, missing usage included,
    and an operator can jump to a page; counting 10,000 public rows is cheap."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _list_parameters() -> list[OpenApiParameter]:
    described = [
        OpenApiParameter("q", str, description="Search name, slug, domain and admin emails (contains)."),
        OpenApiParameter("status", str, enum=["active", "suspended", "deleted"]),
        OpenApiParameter("plan", str),
        OpenApiParameter("database", str, description="The DATABASES alias the organization is placed on."),
        OpenApiParameter("created_after", OpenApiTypes.DATE),
        OpenApiParameter("created_before", OpenApiTypes.DATE),
        OpenApiParameter("last_active_after", OpenApiTypes.DATE, description="From the collected usage."),
        OpenApiParameter("last_active_before", OpenApiTypes.DATE),
        OpenApiParameter(
            "ordering",
            str,
            enum=[*filters.ORDERINGS, *(f"-{key}" for key in filters.ORDERINGS)],
            description="One sort key, `-` for descending (default slug).",
        ),
        OpenApiParameter("page", int),
        OpenApiParameter("page_size", int),
    ]
    return described


class OrganizationListView(OperatorView):
    pagination_class = OrganizationPages

    @extend_schema(
        parameters=_list_parameters(), responses={200: OrganizationListSerializer(many=True), **ERRORS}
    )
    def get(self, request: Request) -> Response:
        """Organizations a page at a time, searched, filtered and sorted (django-filter over the public
        schema: the organization rows, their domains and their collected usage; no organization's schema is
        read). A bad parameter is a 400 naming it."""
        _, organizations = filters.organization_directory(
            request.query_params, ordering=request.query_params.get("ordering")
        )
        paginator = OrganizationPages()
        page = paginator.paginate_queryset(organizations, request, view=self)
        return paginator.get_paginated_response(OrganizationListSerializer(page, many=True).data)

    @extend_schema(request=OrganizationCreateSerializer, responses={201: OrganizationSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        organization = services.organization_provision(
            request=request._request, **parse(OrganizationCreateSerializer, request.data)
        )
        organization = selectors.organization_get(slug=organization.slug)
        return Response(OrganizationSerializer(organization).data, status=status.HTTP_201_CREATED)


class OrganizationDetailView(OperatorView):
    @extend_schema(responses={200: OrganizationSerializer, **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        return Response(OrganizationSerializer(selectors.organization_get(slug=slug)).data)

    @extend_schema(request=OrganizationUpdateSerializer, responses={200: OrganizationSerializer, **ERRORS})
    def patch(self, request: Request, slug: str) -> Response:
        organization = selectors.organization_get(slug=slug)
        services.organization_update(
            organization=organization,
            request=request._request,
            **parse(OrganizationUpdateSerializer, request.data),
        )
        return Response(OrganizationSerializer(selectors.organization_get(slug=slug)).data)

    @extend_schema(responses={200: OrganizationSerializer, **ERRORS})
    def delete(self, request: Request, slug: str) -> Response:
        """Mark deleted and free the slug and subdomain; the data waits in its schema for purge."""
        organization = services.organization_delete(
            organization=selectors.organization_get(slug=slug), request=request._request
        )
        return Response(OrganizationSerializer(organization).data)


class OrganizationPurgeView(OperatorView):
    @extend_schema(request=PurgeSerializer, responses={204: None, **ERRORS})
    def post(self, request: Request, slug: str) -> Response:
        data = parse(PurgeSerializer, request.data)
        try:
            organization = selectors.organization_get(slug=slug, deleted=True)
        except OrganizationNotFound:
            organization = selectors.organization_get(slug=slug)  # live: the service refuses with 409
        services.organization_purge(
            organization=organization, confirm=data["confirm"], request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DomainListView(OperatorView):
    @extend_schema(responses={200: DomainSerializer(many=True), **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        organization = selectors.organization_get(slug=slug)
        return Response(
            DomainSerializer(organization.domains.order_by("-is_primary", "domain"), many=True).data
        )

    @extend_schema(request=DomainSerializer, responses={201: DomainSerializer, **ERRORS})
    def post(self, request: Request, slug: str) -> Response:
        data = parse(DomainSerializer, request.data)
        domain = services.domain_add(
            organization=selectors.organization_get(slug=slug),
            domain=data["domain"],
            request=request._request,
        )
        return Response(DomainSerializer(domain).data, status=status.HTTP_201_CREATED)


class DomainDetailView(OperatorView):
    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, slug: str, domain: str) -> Response:
        services.domain_remove(
            organization=selectors.organization_get(slug=slug), domain=domain, request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PlanListView(OperatorView):
    @extend_schema(responses={200: PlanSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return Response(PlanSerializer(plans.plan_list(), many=True).data)

    @extend_schema(request=PlanCreateSerializer, responses={201: PlanSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Define a plan with its limits (null: unlimited)."""
        plan = plans.plan_create(request=request._request, **parse(PlanCreateSerializer, request.data))
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)


class PlanDetailView(OperatorView):
    @extend_schema(responses={200: PlanSerializer, **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        return Response(PlanSerializer(plans.plan_get(slug=slug)).data)

    @extend_schema(request=PlanUpdateSerializer, responses={200: PlanSerializer, **ERRORS})
    def patch(self, request: Request, slug: str) -> Response:
        """Change a plan's name or limits: every organization on it works within them at once."""
        plan = plans.plan_update(
            slug=slug, request=request._request, **parse(PlanUpdateSerializer, request.data)
        )
        return Response(PlanSerializer(plan).data)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, slug: str) -> Response:
        """Remove a plan no organization is on (409 plan_in_use otherwise)."""
        plans.plan_delete(slug=slug, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganizationUsageView(OperatorView):
    @extend_schema(responses={200: UsageSerializer, **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        """The organization's usage as last collected by the hourly job (`collected_at`); 404
        usage_not_collected before its first run. Reads the public schema only."""
        return Response(UsageSerializer(selectors.organization_usage(slug=slug)).data)


class SupportSessionListView(OperatorView):
    @extend_schema(responses={200: SupportSessionSerializer(many=True), **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        organization = selectors.organization_get(slug=slug)
        return Response(SupportSessionSerializer(support.support_sessions_of(organization), many=True).data)

    @extend_schema(request=SupportOpenSerializer, responses={201: SupportOpenedSerializer, **ERRORS})
    def post(self, request: Request, slug: str) -> Response:
        """Open the organization read-only for at most 240 minutes, with a reason: a bearer token for its
        host (shown once) acting as a viewer; writes answer 403 support_read_only. Recorded in both audit
        logs and shown to the organization's admins."""
        organization = selectors.organization_get(slug=slug)
        opened = support.support_session_open(
            organization=organization,
            operator=request.user,  # type: ignore[arg-type]
            request=request._request,
            **parse(SupportOpenSerializer, request.data),
        )
        body = {**SupportSessionSerializer(opened.session).data, "token": opened.token, "host": opened.host}
        return Response(body, status=status.HTTP_201_CREATED)


class SupportSessionDetailView(OperatorView):
    @extend_schema(responses={200: SupportSessionSerializer, **ERRORS})
    def delete(self, request: Request, slug: str, session_id: int) -> Response:
        """End a support session before it expires."""
        session = support.support_session_end(
            organization=selectors.organization_get(slug=slug),
            session_id=session_id,
            request=request._request,
        )
        return Response(SupportSessionSerializer(session).data)


class DashboardView(OperatorView):
    @extend_schema(responses={200: dict, **ERRORS})
    def get(self, request: Request) -> Response:
        """Organizations by status and plan, sign-ups per week, the noisiest organizations (by usage)."""
        return Response(dashboard.platform_dashboard())


class OrganizationBulkView(OperatorView):
    @extend_schema(request=BulkSerializer, responses={200: dict, 202: BulkOperationSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Suspend, resume or change the plan of many organizations at once (200: those done and those that
        failed, with why), or migrate them or move them to another database (`to`) in jobs (202: the
        operation, whose `results` fill in per organization at `organizations-bulk/<id>/`). `confirm`
        repeats how many are named. Every action is in the platform's audit log."""
        data = parse(BulkSerializer, request.data)
        if data["action"] in bulk.JOB_ACTIONS:
            operation = bulk.bulk_operation_start(
                operator=request.user,
                request=request._request,
                **data,
            )
            return Response(BulkOperationSerializer(operation).data, status=status.HTTP_202_ACCEPTED)
        data.pop("to", None)
        return Response(dashboard.organizations_bulk(request=request._request, **data))


class BulkOperationView(OperatorView):
    @extend_schema(responses={200: BulkOperationSerializer, **ERRORS})
    def get(self, request: Request, operation_id: int) -> Response:
        """A bulk migrate or move: its status and each organization's outcome so far."""
        return Response(BulkOperationSerializer(bulk.bulk_operation_get(operation_id=operation_id)).data)
