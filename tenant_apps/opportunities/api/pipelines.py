"""Deal pipelines, their stages, lost reasons and the lead stage labels: every member reads them, admins
change them (each change in the audit log)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.audit.services import audit_record
from shared_apps.http.api import ERRORS, OrganizationView, StrictCharField, parse
from shared_apps.users.models import Role
from tenant_apps.opportunities import pipelines as services
from tenant_apps.opportunities import stage_labels
from tenant_apps.opportunities.models import LostReason, Pipeline, PipelineStage
from tenant_apps.records.api.serializers import StrictSerializer

# -- serializers -------------------------------------------------------------------------------------------


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = PipelineStage
        fields = ["id", "key", "name", "position", "probability", "is_won", "is_lost", "rotting_days"]
        read_only_fields = fields


class DealPipelineSerializer(serializers.ModelSerializer):
    stages = StageSerializer(many=True, read_only=True)

    class Meta:
        model = Pipeline
        fields = ["id", "name", "position", "is_default", "stages"]
        read_only_fields = fields


class LostReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = LostReason
        fields = ["id", "name", "position", "is_active"]
        read_only_fields = fields


class StageWriteSerializer(StrictSerializer):
    id_fields = ()

    name = StrictCharField(max_length=100)
    probability = serializers.IntegerField(min_value=0, max_value=100, required=False)
    is_won = serializers.BooleanField(required=False)
    is_lost = serializers.BooleanField(required=False)
    rotting_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, allow_null=True, help_text="a deal idle this long rots"
    )
    position = serializers.IntegerField(min_value=0, max_value=10_000, required=False)


class StageSpecSerializer(serializers.Serializer):
    """A stage inside a new pipeline's body (unknown keys refused, naming them)."""

    name = StrictCharField(max_length=100)
    probability = serializers.IntegerField(min_value=0, max_value=100, required=False)
    is_won = serializers.BooleanField(required=False)
    is_lost = serializers.BooleanField(required=False)
    rotting_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class StageUpdateSerializer(StageWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class PipelineCreateSerializer(StrictSerializer):
    id_fields = ()

    name = StrictCharField(max_length=100)
    stages = StageSpecSerializer(
        many=True, required=False, help_text="in order; Open, Won and Lost stages unless given"
    )


class PipelineUpdateSerializer(StrictSerializer):
    id_fields = ()

    name = StrictCharField(max_length=100, required=False)
    position = serializers.IntegerField(min_value=0, max_value=10_000, required=False)
    is_default = serializers.BooleanField(required=False)


class ReorderSerializer(serializers.Serializer):
    stages = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=200)


class StageDeletedSerializer(serializers.Serializer):
    moved = serializers.IntegerField(help_text="deals moved to `move_to`")


class StageDeleteSerializer(serializers.Serializer):
    move_to = serializers.CharField(
        required=False, max_length=64, help_text="a stage of the same pipeline (id or key) for its deals"
    )


class LostReasonWriteSerializer(StrictSerializer):
    id_fields = ()

    name = StrictCharField(max_length=200)
    position = serializers.IntegerField(min_value=0, max_value=10_000, required=False)
    is_active = serializers.BooleanField(required=False)


class LostReasonUpdateSerializer(LostReasonWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class LeadStageLabelsSerializer(serializers.Serializer):
    labels = serializers.DictField(
        child=serializers.CharField(max_length=50, allow_blank=True),
        help_text="{stage: label}; an empty label restores the built-in one",
    )


# -- views -------------------------------------------------------------------------------------------------


class _PipelineSettingsView(OrganizationView):
    write_role = Role.ADMIN
    resource = "pipelines"


def _pipeline_response(pipeline_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    pipeline = services.pipeline_get(pipeline_id=pipeline_id)
    return Response(DealPipelineSerializer(pipeline).data, status=status_code)


class PipelineListView(_PipelineSettingsView):
    @extend_schema(responses={200: DealPipelineSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        """Every pipeline in order, each with its stages in order."""
        services.default_pipeline()
        return Response(DealPipelineSerializer(services.pipeline_list(), many=True).data)

    @extend_schema(request=PipelineCreateSerializer, responses={201: DealPipelineSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        data = parse(PipelineCreateSerializer, request.data)
        with transaction.atomic():
            pipeline = services.pipeline_create(name=data["name"], stages=data.get("stages"))
            audit_record(
                "pipeline.created", request=request, target=pipeline, changes={"name": pipeline.name}
            )
        return _pipeline_response(pipeline.pk, status.HTTP_201_CREATED)


class PipelineDetailView(_PipelineSettingsView):
    @extend_schema(responses={200: DealPipelineSerializer, **ERRORS})
    def get(self, request: Request, pipeline_id: int) -> Response:
        return _pipeline_response(pipeline_id)

    @extend_schema(request=PipelineUpdateSerializer, responses={200: DealPipelineSerializer, **ERRORS})
    def patch(self, request: Request, pipeline_id: int) -> Response:
        """Rename, reorder or make the default (new deals and conversions go there)."""
        data = parse(PipelineUpdateSerializer, request.data)
        with transaction.atomic():
            pipeline = services.pipeline_update(pipeline_id=pipeline_id, changes=data)
            audit_record("pipeline.updated", request=request, target=pipeline, changes=data)
        return _pipeline_response(pipeline_id)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, pipeline_id: int) -> Response:
        """Only an empty pipeline that is not the default (409 otherwise)."""
        with transaction.atomic():
            services.pipeline_delete(pipeline_id=pipeline_id)
            audit_record(
                "pipeline.deleted",
                request=request,
                target_type="opportunities.pipeline",
                target_id=pipeline_id,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class StageListView(_PipelineSettingsView):
    @extend_schema(responses={200: StageSerializer(many=True), **ERRORS})
    def get(self, request: Request, pipeline_id: int) -> Response:
        pipeline = services.pipeline_get(pipeline_id=pipeline_id)
        return Response(StageSerializer(pipeline.stages.all(), many=True).data)

    @extend_schema(request=StageWriteSerializer, responses={201: StageSerializer, **ERRORS})
    def post(self, request: Request, pipeline_id: int) -> Response:
        data = parse(StageWriteSerializer, request.data)
        with transaction.atomic():
            pipeline = services.pipeline_get(pipeline_id=pipeline_id)
            stage = services.stage_create(pipeline_id=pipeline.pk, **data)
            audit_record("pipeline.stage_created", request=request, target=stage, changes=data)
        return Response(StageSerializer(stage).data, status=status.HTTP_201_CREATED)


class StageDetailView(_PipelineSettingsView):
    @extend_schema(request=StageUpdateSerializer, responses={200: StageSerializer, **ERRORS})
    def patch(self, request: Request, pipeline_id: int, stage_id: int) -> Response:
        """Rename, change probability, rotting days or the won/lost flags; deals and their history keep
        the stage (by id), and timelines show its new name."""
        data = parse(StageUpdateSerializer, request.data)
        with transaction.atomic():
            stage = services.stage_update(pipeline_id=pipeline_id, stage_id=stage_id, changes=data)
            audit_record("pipeline.stage_updated", request=request, target=stage, changes=data)
        return Response(StageSerializer(stage).data)

    @extend_schema(
        parameters=[OpenApiParameter("move_to", str, required=False)],
        responses={200: StageDeletedSerializer, **ERRORS},
    )
    def delete(self, request: Request, pipeline_id: int, stage_id: int) -> Response:
        """Delete a stage; its deals go to `move_to` (query or body; 409 naming the count without it)."""
        body = request.data if isinstance(request.data, dict) else {}
        data = parse(StageDeleteSerializer, {**request.query_params.dict(), **body})
        with transaction.atomic():
            moved = services.stage_delete(
                pipeline_id=pipeline_id, stage_id=stage_id, move_to=data.get("move_to"), actor=self.member
            )
            audit_record(
                "pipeline.stage_deleted",
                request=request,
                target_type="opportunities.pipelinestage",
                target_id=stage_id,
                changes={"moved": moved, "move_to": data.get("move_to")},
            )
        return Response({"moved": moved})


class StageReorderView(_PipelineSettingsView):
    @extend_schema(request=ReorderSerializer, responses={200: StageSerializer(many=True), **ERRORS})
    def post(self, request: Request, pipeline_id: int) -> Response:
        """`{"stages": [ids...]}`: every stage of the pipeline once, in the new order."""
        data = parse(ReorderSerializer, request.data)
        with transaction.atomic():
            stages = services.stage_reorder(
                pipeline_id=services.pipeline_get(pipeline_id=pipeline_id).pk, stage_ids=data["stages"]
            )
            audit_record(
                "pipeline.stages_reordered",
                request=request,
                target_type="opportunities.pipeline",
                target_id=pipeline_id,
                changes={"stages": data["stages"]},
            )
        return Response(StageSerializer(stages, many=True).data)


class LostReasonListView(_PipelineSettingsView):
    @extend_schema(responses={200: LostReasonSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return Response(LostReasonSerializer(services.lost_reason_list(), many=True).data)

    @extend_schema(request=LostReasonWriteSerializer, responses={201: LostReasonSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        data = parse(LostReasonWriteSerializer, request.data)
        with transaction.atomic():
            reason = services.lost_reason_create(name=data["name"])
            if len(data) > 1:
                reason = services.lost_reason_update(reason_id=reason.pk, changes=data)
            audit_record("lost_reason.created", request=request, target=reason, changes=data)
        return Response(LostReasonSerializer(reason).data, status=status.HTTP_201_CREATED)


class LostReasonDetailView(_PipelineSettingsView):
    @extend_schema(request=LostReasonUpdateSerializer, responses={200: LostReasonSerializer, **ERRORS})
    def patch(self, request: Request, reason_id: int) -> Response:
        data = parse(LostReasonUpdateSerializer, request.data)
        with transaction.atomic():
            reason = services.lost_reason_update(reason_id=reason_id, changes=data)
            audit_record("lost_reason.updated", request=request, target=reason, changes=data)
        return Response(LostReasonSerializer(reason).data)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, reason_id: int) -> Response:
        """A reason lost deals name is retired (is_active false) instead, so they keep it."""
        with transaction.atomic():
            services.lost_reason_delete(reason_id=reason_id)
            audit_record(
                "lost_reason.deleted",
                request=request,
                target_type="opportunities.lostreason",
                target_id=reason_id,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeadStageLabelsView(_PipelineSettingsView):
    @extend_schema(responses={200: LeadStageLabelsSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        """The label in force for every lead stage (the stages and their transitions never change)."""
        return Response({"labels": stage_labels.lead_stage_labels()})

    @extend_schema(request=LeadStageLabelsSerializer, responses={200: LeadStageLabelsSerializer, **ERRORS})
    def patch(self, request: Request) -> Response:
        data = parse(LeadStageLabelsSerializer, request.data)
        with transaction.atomic():
            changes = stage_labels.lead_stage_labels_set(labels=data["labels"])
            if changes:
                audit_record(
                    "settings.lead_stage_labels_changed",
                    request=request,
                    target_type="opportunities.leadstagelabel",
                    changes=changes,
                )
        return Response({"labels": stage_labels.lead_stage_labels()})
