from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from shared_apps.users.models import Role
from tenant_apps.automation import routing, scoring, selectors, services
from tenant_apps.automation.api.serializers import (
    LeadScoreSerializer,
    RoutingSerializer,
    RoutingWriteSerializer,
    RuleFilterSerializer,
    RuleRunFilterSerializer,
    RuleRunSerializer,
    RuleSerializer,
    RuleUpdateSerializer,
    RuleWriteSerializer,
    ScoringRuleSerializer,
    ScoringRuleUpdateSerializer,
    ScoringRuleWriteSerializer,
)
from tenant_apps.automation.models import RoutingState, RoutingStrategy

PAGE_PARAMETERS = [OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)]


class RuleCursor(Cursor):
    orderings = ("created_at", "name")


class RuleRunCursor(Cursor):
    page_size = 50


class ScoringRuleCursor(Cursor):
    ordering = ("id",)


class RuleListView(OrganizationView):
    """Rules: a trigger, conditions on the lead's fields and actions. Every member reads them; admins and
    managers write them."""

    write_role = Role.MANAGER  # rules, routing and scoring act on everyone's leads
    pagination_class = RuleCursor

    @extend_schema(
        parameters=[RuleFilterSerializer, OpenApiParameter("ordering", str), *PAGE_PARAMETERS],
        responses={200: RuleSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        filters = parse(RuleFilterSerializer, request.query_params)
        return self.paginated(selectors.rule_list(filters=filters), RuleSerializer)

    @extend_schema(request=RuleWriteSerializer, responses={201: RuleSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Unknown triggers, fields, operators or actions are a 400 naming the part (`actions[1].type`)."""
        data = parse(RuleWriteSerializer, request.data)
        rule = services.rule_create(actor=self.member, **data)
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailView(OrganizationView):
    write_role = Role.MANAGER  # rules, routing and scoring act on everyone's leads

    @extend_schema(responses={200: RuleSerializer, **ERRORS})
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(RuleSerializer(selectors.rule_get(rule_id=rule_id)).data)

    @extend_schema(request=RuleUpdateSerializer, responses={200: RuleSerializer, **ERRORS})
    def patch(self, request: Request, rule_id: int) -> Response:
        changes = parse(RuleUpdateSerializer, request.data)  # partial: defaults do not apply
        rule = services.rule_update(rule_id=rule_id, actor=self.member, changes=changes)
        return Response(RuleSerializer(rule).data)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, rule_id: int) -> Response:
        services.rule_delete(rule_id=rule_id, actor=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleRunsView(OrganizationView):
    """What a rule did: one run per event it acted on (done, failed, or loop_stopped at the depth limit)."""

    pagination_class = RuleRunCursor

    @extend_schema(
        parameters=[RuleRunFilterSerializer, *PAGE_PARAMETERS],
        responses={200: RuleRunSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, rule_id: int) -> Response:
        filters = parse(RuleRunFilterSerializer, request.query_params)
        rule = selectors.rule_get(rule_id=rule_id)
        runs = selectors.rule_run_list(rule=rule, status=filters.get("status"), lead_id=filters.get("lead"))
        return self.paginated(runs, RuleRunSerializer)


def _routing_body() -> dict[str, Any]:
    state, territories = selectors.routing_get()
    return {
        "strategy": state.strategy,
        "members": list(state.members),
        "territories": [{"kind": t.kind, "value": t.value, "member": t.member_id} for t in territories],
        "next_member": _next_member(state),
    }


def _next_member(state: RoutingState) -> int | None:
    if state.strategy == RoutingStrategy.OFF or not state.members:
        return None
    return int(state.members[state.next_index % len(state.members)])


class RoutingView(OrganizationView):
    """Who gets a lead created without an owner: round-robin among members, or by territory (source, or
    the tags country:<code> / region:<name>), falling back to round-robin."""

    write_role = Role.MANAGER  # rules, routing and scoring act on everyone's leads

    @extend_schema(responses={200: RoutingSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        return Response(_routing_body())

    @extend_schema(request=RoutingWriteSerializer, responses={200: RoutingSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Replace the routing settings."""
        data = parse(RoutingWriteSerializer, request.data)
        routing.routing_configure(actor=self.member, **data)
        return Response(_routing_body())


class ScoringRuleListView(OrganizationView):
    write_role = Role.MANAGER  # rules, routing and scoring act on everyone's leads
    pagination_class = ScoringRuleCursor

    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: ScoringRuleSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.scoring_rule_list(), ScoringRuleSerializer)

    @extend_schema(request=ScoringRuleWriteSerializer, responses={201: ScoringRuleSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Every lead is rescored in the background."""
        data = parse(ScoringRuleWriteSerializer, request.data)
        rule = scoring.scoring_rule_create(actor=self.member, **data)
        return Response(ScoringRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class ScoringRuleDetailView(OrganizationView):
    write_role = Role.MANAGER  # rules, routing and scoring act on everyone's leads

    @extend_schema(responses={200: ScoringRuleSerializer, **ERRORS})
    def get(self, request: Request, scoring_rule_id: int) -> Response:
        rule = selectors.scoring_rule_get(scoring_rule_id=scoring_rule_id)
        return Response(ScoringRuleSerializer(rule).data)

    @extend_schema(request=ScoringRuleUpdateSerializer, responses={200: ScoringRuleSerializer, **ERRORS})
    def patch(self, request: Request, scoring_rule_id: int) -> Response:
        changes = parse(ScoringRuleUpdateSerializer, request.data)
        rule = scoring.scoring_rule_update(
            scoring_rule_id=scoring_rule_id, actor=self.member, changes=changes
        )
        return Response(ScoringRuleSerializer(rule).data)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, scoring_rule_id: int) -> Response:
        scoring.scoring_rule_delete(scoring_rule_id=scoring_rule_id, actor=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeadScoreView(OrganizationView):
    @extend_schema(responses={200: LeadScoreSerializer, **ERRORS})
    def get(self, request: Request, lead_id: int) -> Response:
        """The lead's score and what made it up, one entry per active scoring rule at the last computation.
        A lead the member may not see is a 404, as everywhere under /api/leads/<id>/."""
        lead, stored = selectors.lead_score_get(actor=self.member, lead_id=lead_id)
        return Response(LeadScoreSerializer(LeadScoreSerializer.of(lead.pk, lead.score, stored)).data)
