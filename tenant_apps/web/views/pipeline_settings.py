"""Settings, pipelines: admins create pipelines, add, rename, reorder and delete their stages (a stage with
deals asks where they go), keep the lost reasons and rename the lead stages' labels, through the
opportunities app's services; every change lands in the audit log, as through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import AppError, Forbidden, InvalidInput
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.leads.models import Stage
from tenant_apps.opportunities import pipelines, stage_labels
from tenant_apps.web.views.base import is_fetch, member, member_required, parse

ADMINS_ONLY = "Pipelines, lost reasons and stage labels are set by admins."


class NameForm(forms.Form):
    name = forms.CharField(max_length=100)


class PipelineForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    is_default = forms.BooleanField(required=False)


class StageForm(forms.Form):
    name = forms.CharField(max_length=100)
    probability = forms.IntegerField(min_value=0, max_value=100, required=False)
    kind = forms.ChoiceField(choices=[("open", "Open"), ("won", "Won"), ("lost", "Lost")], required=False)
    rotting_days = forms.IntegerField(min_value=1, max_value=3650, required=False)


class StageActionForm(forms.Form):
    op = forms.ChoiceField(choices=[(op, op) for op in ("save", "up", "down", "delete")])
    move_to = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)


class ReasonNameForm(forms.Form):
    name = forms.CharField(max_length=200)


class ReasonForm(forms.Form):
    op = forms.ChoiceField(choices=[(op, op) for op in ("save", "retire", "restore", "delete")])
    name = forms.CharField(max_length=200, required=False)


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "web/forbidden.html", {"what": ADMINS_ONLY}, status=403)


@member_required
@require_GET
def pipeline_settings(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.ADMIN):
        return _forbidden(request)
    pipelines.default_pipeline()
    rows = [(pipeline, pipelines.stage_counts(pipeline)) for pipeline in pipelines.pipeline_list()]
    labels = stage_labels.lead_stage_labels()
    context = {
        "pipelines": [
            (pipeline, [(stage, counts.get(stage.pk, 0)) for stage in pipeline.stages.all()])
            for pipeline, counts in rows
        ],
        "lost_reasons": list(pipelines.lost_reason_list()),
        "lead_stages": [(stage, builtin, labels[stage]) for stage, builtin in Stage.choices],
        "nav": "pipelines",
    }
    return render(request, "web/pipeline_settings.html", context)


def _act(request: HttpRequest, change: Callable[[], str]) -> HttpResponse:
    """Admins only; the change and its audit entry commit together; an error is the flash (JSON for
    scripts, with its status)."""
    try:
        if not has_role(request.user, Role.ADMIN):
            raise Forbidden(ADMINS_ONLY, code="admin_only")
        with transaction.atomic():
            message = change()
    except AppError as error:
        if is_fetch(request):
            return JsonResponse(error.as_body(), status=error.status_code)
        if isinstance(error, Forbidden):
            return _forbidden(request)
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("web:pipeline-settings"))
    if is_fetch(request):
        return JsonResponse({"message": message})
    messages.success(request, message)
    return HttpResponseRedirect(reverse("web:pipeline-settings"))


def _audit(request: HttpRequest, action: str, **kwargs: Any) -> None:
    audit_record(action, request=request, **kwargs)


@member_required
@require_POST
def pipeline_add(request: HttpRequest) -> HttpResponse:
    def change() -> str:
        name = parse(NameForm, request.POST)["name"]
        pipeline = pipelines.pipeline_create(name=name)
        _audit(request, "pipeline.created", target=pipeline, changes={"name": pipeline.name})
        return f"Pipeline {pipeline.name} added, with Open, Won and Lost stages to start from."

    return _act(request, change)


@member_required
@require_POST
def pipeline_edit(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    def change() -> str:
        pipelines.pipeline_get(pipeline_id=pipeline_id)
        data = parse(PipelineForm, request.POST)
        changes: dict[str, Any] = {"name": data["name"]} if data["name"] else {}
        if data["is_default"]:
            changes["is_default"] = True
        pipeline = pipelines.pipeline_update(pipeline_id=pipeline_id, changes=changes)
        _audit(request, "pipeline.updated", target=pipeline, changes=changes)
        return f"Pipeline {pipeline.name} saved."

    return _act(request, change)


def _stage_changes(data: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {"name": data["name"], "rotting_days": data.get("rotting_days")}
    if data.get("probability") is not None:
        changes["probability"] = data["probability"]
    if data.get("kind"):
        changes["is_won"], changes["is_lost"] = data["kind"] == "won", data["kind"] == "lost"
    return changes


@member_required
@require_POST
def stage_add(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    def change() -> str:
        pipeline = pipelines.pipeline_get(pipeline_id=pipeline_id)
        changes = _stage_changes(parse(StageForm, request.POST))
        closed = [stage for stage in pipeline.stages.all() if stage.is_closed]
        # a new open stage goes before the won and lost ones
        position = (
            min(stage.position for stage in closed)
            if closed and not (changes.get("is_won") or changes.get("is_lost"))
            else None
        )
        stage = pipelines.stage_create(pipeline_id=pipeline.pk, position=position, **changes)
        _audit(request, "pipeline.stage_created", target=stage, changes=changes)
        return f"Stage {stage.name} added to {pipeline.name}."

    return _act(request, change)


@member_required
@require_POST
def stage_edit(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    def change() -> str:
        stage = pipelines.stage_get(stage_id=stage_id, pipeline_id=pipeline_id)
        action = parse(StageActionForm, request.POST)
        if action["op"] == "save":
            changes = _stage_changes(parse(StageForm, request.POST))
            stage = pipelines.stage_update(pipeline_id=pipeline_id, stage_id=stage_id, changes=changes)
            _audit(request, "pipeline.stage_updated", target=stage, changes=changes)
            return f"Stage {stage.name} saved."
        if action["op"] in ("up", "down"):
            order = list(stage.pipeline.stages.order_by("position", "id").values_list("id", flat=True))
            at = order.index(stage.pk)
            to = at - 1 if action["op"] == "up" else at + 1
            if not 0 <= to < len(order):
                raise InvalidInput("op", f"{stage.name} is already {'first' if to < 0 else 'last'}.")
            order[at], order[to] = order[to], order[at]
            pipelines.stage_reorder(pipeline_id=pipeline_id, stage_ids=order)
            _audit(
                request,
                "pipeline.stages_reordered",
                target=stage.pipeline,
                changes={"stages": order},
            )
            return f"Stage {stage.name} moved {action['op']}."
        moved = pipelines.stage_delete(
            pipeline_id=pipeline_id, stage_id=stage_id, move_to=action.get("move_to"), actor=member(request)
        )
        _audit(
            request,
            "pipeline.stage_deleted",
            target_type="opportunities.pipelinestage",
            target_id=stage_id,
            target_repr=stage.name,
            changes={"moved": moved, "move_to": action.get("move_to")},
        )
        return f"Stage {stage.name} deleted" + (f"; {moved} deals moved." if moved else ".")

    return _act(request, change)


@member_required
@require_POST
def lost_reason_add(request: HttpRequest) -> HttpResponse:
    def change() -> str:
        name = parse(ReasonNameForm, request.POST)["name"]
        reason = pipelines.lost_reason_create(name=name)
        _audit(request, "lost_reason.created", target=reason, changes={"name": reason.name})
        return f"Lost reason {reason.name} added."

    return _act(request, change)


@member_required
@require_POST
def lost_reason_edit(request: HttpRequest, reason_id: int) -> HttpResponse:
    def change() -> str:
        reason = pipelines.lost_reason_get(reason_id=reason_id)
        data = parse(ReasonForm, request.POST)
        if data["op"] == "delete":
            pipelines.lost_reason_delete(reason_id=reason_id)
            _audit(
                request,
                "lost_reason.deleted",
                target_type="opportunities.lostreason",
                target_id=reason_id,
                target_repr=reason.name,
            )
            return f"Lost reason {reason.name} removed (kept as retired if deals name it)."
        changes: dict[str, Any] = (
            {"name": data["name"]} if data["op"] == "save" else {"is_active": data["op"] == "restore"}
        )
        reason = pipelines.lost_reason_update(reason_id=reason_id, changes=changes)
        _audit(request, "lost_reason.updated", target=reason, changes=changes)
        return f"Lost reason {reason.name} saved."

    return _act(request, change)


@member_required
@require_POST
def lead_stage_labels_save(request: HttpRequest) -> HttpResponse:
    def change() -> str:
        labels = {stage: request.POST.get(f"label_{stage}", "") for stage in Stage.values}
        changes = stage_labels.lead_stage_labels_set(labels=labels)
        if changes:
            _audit(
                request,
                "settings.lead_stage_labels_changed",
                target_type="opportunities.leadstagelabel",
                changes=changes,
            )
        return "Lead stage labels saved."

    return _act(request, change)
