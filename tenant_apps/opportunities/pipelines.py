"""Every write and read with rules on deal pipelines, their stages and the lost reasons (admins configure
them; tenant_apps.opportunities.services moves deals between the stages).

History across renames: a stage has an immutable `key` and an id. A STAGE_CHANGE timeline entry stores both
ids and keys and the names at the time; readers show the stage's current name (stage_names()) and fall back
to the stored name for a deleted stage, so renaming or reordering never rewrites or loses history."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, QuerySet

from shared_apps.core.errors import Conflict, InvalidInput, NotFound
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from tenant_apps.opportunities.models import (
    DEFAULT_PIPELINE_NAME,
    LostReason,
    Opportunity,
    OpportunityStage,
    Pipeline,
    PipelineStage,
)

# The default pipeline's stages, as the enum had them (the migration 0005 writes the same).
DEFAULT_STAGES = (
    (OpportunityStage.QUALIFICATION, "Qualification", 10, False, False),
    (OpportunityStage.DISCOVERY, "Discovery", 25, False, False),
    (OpportunityStage.PROPOSAL, "Proposal", 50, False, False),
    (OpportunityStage.NEGOTIATION, "Negotiation", 75, False, False),
    (OpportunityStage.CLOSED_WON, "Closed won", 100, True, False),
    (OpportunityStage.CLOSED_LOST, "Closed lost", 0, False, True),
)


class PipelineNotFound(NotFound):
    code = "pipeline_not_found"
    message = "No such pipeline."


class StageNotFound(NotFound):
    code = "stage_not_found"
    message = "No such stage."


class LostReasonNotFound(NotFound):
    code = "lost_reason_not_found"
    message = "No such lost reason."


class StageHasDeals(Conflict):
    code = "stage_has_opportunities"


class PipelineHasDeals(Conflict):
    code = "pipeline_has_opportunities"


# -- reads -------------------------------------------------------------------------------------------------


def default_pipeline() -> Pipeline:
    """The default pipeline, made (with the old enum's stages) if this schema has none: the template's rows
    are cloned into new organizations, but a schema emptied by hand must still work."""
    pipeline = Pipeline.objects.filter(is_default=True).first()
    if pipeline is not None:
        return pipeline
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().filter(is_default=True).first()
        if pipeline is None:
            taken = Pipeline.objects.filter(name=DEFAULT_PIPELINE_NAME).exists()
            pipeline = Pipeline.objects.create(
                name=DEFAULT_PIPELINE_NAME + (" (default)" if taken else ""), is_default=True
            )
            for position, (key, name, probability, won, lost) in enumerate(DEFAULT_STAGES):
                PipelineStage.objects.create(
                    pipeline=pipeline,
                    key=key,
                    name=name,
                    position=position,
                    probability=probability,
                    is_won=won,
                    is_lost=lost,
                )
    return pipeline


def pipeline_list() -> QuerySet[Pipeline]:
    return Pipeline.objects.prefetch_related("stages").order_by("position", "id")


def pipeline_get(*, pipeline_id: Any) -> Pipeline:
    found = pipeline_list().filter(pk=_id(pipeline_id, "pipeline", PipelineNotFound)).first()
    if found is None:
        raise PipelineNotFound(id=pipeline_id)
    return found


def stage_get(*, stage_id: Any, pipeline_id: int | None = None) -> PipelineStage:
    stages = PipelineStage.objects.select_related("pipeline")
    if pipeline_id is not None:
        stages = stages.filter(pipeline_id=pipeline_id)
    found = stages.filter(pk=_id(stage_id, "stage", StageNotFound)).first()
    if found is None:
        raise StageNotFound(id=stage_id)
    return found


def stage_resolve(value: Any, *, pipeline: Pipeline, field: str = "stage") -> PipelineStage:
    """A stage of `pipeline` named by id or by key (the old enum values name the default pipeline's
    stages); a 400 naming `field` otherwise."""
    stages = PipelineStage.objects.select_related("pipeline").filter(pipeline=pipeline)
    found: PipelineStage | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        found = stages.filter(pk=value).first()
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        found = (
            stages.filter(pk=int(text)).first() if text.isdigit() else stages.filter(key=text.upper()).first()
        )
    if found is None:
        keys = ", ".join(stages.values_list("key", flat=True))
        raise InvalidInput(
            field,
            f"Not a stage of the pipeline {pipeline.name!r} (ids or keys: {keys}).",
            code="unknown_stage",
        )
    return found


def stage_names(stage_ids: list[int]) -> dict[int, str]:
    """Current names of stages by id (a deleted stage is missing: readers keep the stored name)."""
    return dict(PipelineStage.objects.filter(pk__in=stage_ids).values_list("id", "name"))


def lost_reason_list(*, include_inactive: bool = True) -> QuerySet[LostReason]:
    reasons = LostReason.objects.order_by("position", "id")
    return reasons if include_inactive else reasons.filter(is_active=True)


def lost_reason_get(*, reason_id: Any) -> LostReason:
    found = LostReason.objects.filter(pk=_id(reason_id, "lost_reason", LostReasonNotFound)).first()
    if found is None:
        raise LostReasonNotFound(id=reason_id)
    return found


def lost_reason_resolve(value: Any) -> LostReason:
    """An active lost reason named by id (or by its exact name); 400 naming `lost_reason` otherwise."""
    reasons = LostReason.objects.filter(is_active=True)
    found = None
    if isinstance(value, int) and not isinstance(value, bool):
        found = reasons.filter(pk=value).first()
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        found = reasons.filter(pk=int(text)).first() if text.isdigit() else reasons.filter(name=text).first()
    if found is None:
        raise InvalidInput(
            "lost_reason", "Choose one of the organization's lost reasons (id).", code="unknown_lost_reason"
        )
    return found


def _id(value: Any, field: str, not_found: type[NotFound]) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise not_found(id=value) from None
    if not 0 < number < 2**63:
        raise not_found(id=value)
    return number


def _announce(pipeline_id: int) -> None:
    """A pipeline's configuration changed: reports reading it (analytics) drop what they cached. Not a
    webhook event type (the outbox ignores it)."""
    publish_on_commit("opportunity.pipeline_changed", record_id=pipeline_id)


# -- pipelines ---------------------------------------------------------------------------------------------


def _clean_name(value: Any, field: str = "name", max_length: int = 100) -> str:
    return clean_text(value, field=field, max_length=max_length, required=True)


def _clean_probability(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidInput("probability", "An integer from 0 to 100.")
    return value


def _clean_rotting(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
        raise InvalidInput("rotting_days", "A number of days from 1 to 3650, or null.")
    return value


@transaction.atomic
def pipeline_create(*, name: Any, stages: list[dict[str, Any]] | None = None) -> Pipeline:
    """A new pipeline, last in order, with the given stages (or Won and Lost stages to start from): every
    pipeline has at least one won and one lost stage, so every deal can close."""
    default_pipeline()
    name = _clean_name(name)
    if Pipeline.objects.filter(name__iexact=name).exists():
        raise InvalidInput("name", "Another pipeline has this name.", code="name_taken")
    position = (Pipeline.objects.aggregate(last=Max("position"))["last"] or 0) + 1
    pipeline = Pipeline.objects.create(name=name, position=position)
    for stage in stages or [
        {"name": "Open", "probability": 20},
        {"name": "Won", "probability": 100, "is_won": True},
        {"name": "Lost", "probability": 0, "is_lost": True},
    ]:
        stage_create(pipeline_id=pipeline.pk, **stage)
    kinds = {(stage.is_won, stage.is_lost) for stage in pipeline.stages.all()}
    if not {(False, False), (True, False), (False, True)} <= kinds:
        raise InvalidInput(
            "stages", "A pipeline needs at least one open, one won and one lost stage.", code="stages_missing"
        )
    return pipeline


@transaction.atomic
def pipeline_update(*, pipeline_id: int, changes: dict[str, Any]) -> Pipeline:
    pipeline = Pipeline.objects.select_for_update().filter(pk=pipeline_id).first()
    if pipeline is None:
        raise PipelineNotFound(id=pipeline_id)
    if "name" in changes:
        name = _clean_name(changes["name"])
        if Pipeline.objects.filter(name__iexact=name).exclude(pk=pipeline.pk).exists():
            raise InvalidInput("name", "Another pipeline has this name.", code="name_taken")
        pipeline.name = name
    if "position" in changes:
        position = changes["position"]
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise InvalidInput("position", "A number from 0.")
        pipeline.position = position
    if changes.get("is_default") is True and not pipeline.is_default:
        Pipeline.objects.filter(is_default=True).update(is_default=False)
        pipeline.is_default = True
    elif changes.get("is_default") is False and pipeline.is_default:
        raise InvalidInput(
            "is_default", "Make another pipeline the default instead.", code="default_required"
        )
    pipeline.save()
    _announce(pipeline.pk)
    return pipeline


@transaction.atomic
def pipeline_delete(*, pipeline_id: int) -> None:
    """The default pipeline and a pipeline with deals (deleted ones included) stay (409)."""
    pipeline = Pipeline.objects.select_for_update().filter(pk=pipeline_id).first()
    if pipeline is None:
        raise PipelineNotFound(id=pipeline_id)
    if pipeline.is_default:
        raise Conflict("The default pipeline cannot be deleted.", code="pipeline_is_default")
    count = Opportunity.objects.filter(pipeline=pipeline).count()
    if count:
        raise PipelineHasDeals(
            f"{count} opportunities are in this pipeline; move or purge them first.", count=count
        )
    pipeline.delete()


# -- stages ------------------------------------------------------------------------------------------------


def _key_for(pipeline: Pipeline, name: str) -> str:
    base = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")[:50] or "STAGE"
    taken = set(PipelineStage.objects.filter(pipeline=pipeline).values_list("key", flat=True))
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _locked_pipeline(pipeline_id: int) -> Pipeline:
    pipeline = Pipeline.objects.select_for_update().filter(pk=pipeline_id).first()
    if pipeline is None:
        raise PipelineNotFound(id=pipeline_id)
    return pipeline


@transaction.atomic
def stage_create(
    *,
    pipeline_id: int,
    name: Any,
    probability: Any = 0,
    is_won: bool = False,
    is_lost: bool = False,
    rotting_days: Any = None,
    position: Any = None,
) -> PipelineStage:
    """A stage at `position` (last by default); won and lost stages are final and exclusive."""
    pipeline = _locked_pipeline(pipeline_id)
    name = _clean_name(name)
    if is_won and is_lost:
        raise InvalidInput("is_lost", "A stage is won or lost, not both.")
    if PipelineStage.objects.filter(pipeline=pipeline, name__iexact=name).exists():
        raise InvalidInput("name", "Another stage of this pipeline has this name.", code="name_taken")
    stages = list(PipelineStage.objects.filter(pipeline=pipeline).order_by("position", "id"))
    stage = PipelineStage(
        pipeline=pipeline,
        key=_key_for(pipeline, name),
        name=name,
        probability=_clean_probability(100 if is_won and probability == 0 else probability),
        is_won=bool(is_won),
        is_lost=bool(is_lost),
        rotting_days=_clean_rotting(rotting_days),
    )
    at = len(stages) if position is None else position
    if isinstance(at, bool) or not isinstance(at, int) or at < 0:
        raise InvalidInput("position", "A number from 0.")
    stages.insert(min(at, len(stages)), stage)
    stage.position = stages.index(stage)
    stage.save()
    _renumber(stages)
    _announce(pipeline.pk)
    return stage


def _renumber(stages: list[PipelineStage]) -> None:
    for position, stage in enumerate(stages):
        if stage.position != position:
            stage.position = position
            PipelineStage.objects.filter(pk=stage.pk).update(position=position)


@transaction.atomic
def stage_update(*, pipeline_id: int, stage_id: int, changes: dict[str, Any]) -> PipelineStage:
    """Rename, change probability, rotting days or the won/lost flags. Deals keep their stage (by id);
    a stage holding closed deals cannot become open, nor an open one's deals closed by a flag (409)."""
    _locked_pipeline(pipeline_id)
    stage = stage_get(stage_id=stage_id, pipeline_id=pipeline_id)
    if "name" in changes:
        name = _clean_name(changes["name"])
        if (
            PipelineStage.objects.filter(pipeline_id=pipeline_id, name__iexact=name)
            .exclude(pk=stage.pk)
            .exists()
        ):
            raise InvalidInput("name", "Another stage of this pipeline has this name.", code="name_taken")
        stage.name = name
    previous_probability = stage.probability
    if "probability" in changes:
        stage.probability = _clean_probability(changes["probability"])
    if "rotting_days" in changes:
        stage.rotting_days = _clean_rotting(changes["rotting_days"])
    won, lost = changes.get("is_won", stage.is_won), changes.get("is_lost", stage.is_lost)
    if won and lost:
        raise InvalidInput("is_lost", "A stage is won or lost, not both.")
    if (bool(won) or bool(lost)) != stage.is_closed:
        count = Opportunity.objects.filter(pipeline_stage=stage).count()
        if count:
            raise StageHasDeals(
                f"{count} opportunities are in this stage: whether it closes deals cannot change.",
                count=count,
            )
    stage.is_won, stage.is_lost = bool(won), bool(lost)
    stage.save()
    if stage.probability != previous_probability:
        # open deals carrying the stage's old probability follow it (a probability set by hand stays)
        Opportunity.objects.filter(
            pipeline_stage=stage, closed_at__isnull=True, probability=previous_probability
        ).update(probability=stage.probability)
    _announce(pipeline_id)
    return stage


@transaction.atomic
def stage_reorder(*, pipeline_id: int, stage_ids: Any) -> list[PipelineStage]:
    """Put the pipeline's stages in the order given (every stage, each once)."""
    _locked_pipeline(pipeline_id)
    stages = {stage.pk: stage for stage in PipelineStage.objects.filter(pipeline_id=pipeline_id)}
    if (
        not isinstance(stage_ids, list)
        or any(isinstance(i, bool) or not isinstance(i, int) for i in stage_ids)
        or sorted(stage_ids) != sorted(stages)
    ):
        raise InvalidInput("stages", "List every stage id of this pipeline once, in the new order.")
    ordered = [stages[i] for i in stage_ids]
    _renumber(ordered)
    _announce(pipeline_id)
    return ordered


@transaction.atomic
def stage_delete(*, pipeline_id: int, stage_id: int, move_to: Any = None, actor: Any = None) -> int:
    """Delete a stage. Deals in it (deleted ones too) go to `move_to`, a stage of the same pipeline that
    closes deals the same way (409 naming the count when missing); each move is a STAGE_CHANGE on the
    deal's timeline. The last won or lost stage of a pipeline stays. Returns how many deals moved."""
    from tenant_apps.opportunities.services import opportunity_move_for_stage_delete

    _locked_pipeline(pipeline_id)
    stage = stage_get(stage_id=stage_id, pipeline_id=pipeline_id)
    siblings = PipelineStage.objects.filter(pipeline_id=pipeline_id).exclude(pk=stage.pk)
    if stage.is_won and not siblings.filter(is_won=True).exists():
        raise Conflict("A pipeline keeps at least one won stage.", code="last_won_stage")
    if stage.is_lost and not siblings.filter(is_lost=True).exists():
        raise Conflict("A pipeline keeps at least one lost stage.", code="last_lost_stage")
    if not siblings.filter(is_won=False, is_lost=False).exists() and not stage.is_closed:
        raise Conflict("A pipeline keeps at least one open stage.", code="last_open_stage")
    deals = list(Opportunity.objects.filter(pipeline_stage=stage).values_list("pk", flat=True))
    if deals:
        if move_to in (None, ""):
            raise StageHasDeals(
                f"{len(deals)} opportunities are in this stage; say where they go (move_to).",
                count=len(deals),
                field="move_to",
            )
        target = stage_resolve(move_to, pipeline=stage.pipeline, field="move_to")
        if target.pk == stage.pk:
            raise InvalidInput("move_to", "Move the deals to another stage.")
        if (target.is_won, target.is_lost) != (stage.is_won, stage.is_lost):
            raise InvalidInput(
                "move_to",
                "Move the deals to a stage that is open, won or lost as this one is.",
                code="stage_kind_differs",
            )
        for deal_id in deals:
            opportunity_move_for_stage_delete(
                opportunity_id=deal_id, stage=target, removed=stage, actor=actor
            )
    stage.delete()
    _renumber(list(PipelineStage.objects.filter(pipeline_id=pipeline_id).order_by("position", "id")))
    _announce(pipeline_id)
    return len(deals)


def stage_counts(pipeline: Pipeline) -> dict[int, int]:
    """Live deals per stage of a pipeline (for the settings page)."""
    rows = (
        Opportunity.objects.alive()
        .filter(pipeline=pipeline)
        .values("pipeline_stage_id")
        .annotate(n=Count("id", filter=Q(merged_into__isnull=True)))
    )
    return {row["pipeline_stage_id"]: row["n"] for row in rows}


# -- lost reasons ------------------------------------------------------------------------------------------


@transaction.atomic
def lost_reason_create(*, name: Any) -> LostReason:
    name = _clean_name(name, max_length=200)
    position = (LostReason.objects.aggregate(last=Max("position"))["last"] or 0) + 1
    try:
        with transaction.atomic():
            return LostReason.objects.create(name=name, position=position)
    except IntegrityError:
        raise InvalidInput("name", "This lost reason exists.", code="name_taken") from None


@transaction.atomic
def lost_reason_update(*, reason_id: int, changes: dict[str, Any]) -> LostReason:
    reason = lost_reason_get(reason_id=reason_id)
    if "name" in changes:
        name = _clean_name(changes["name"], max_length=200)
        if LostReason.objects.filter(name=name).exclude(pk=reason.pk).exists():
            raise InvalidInput("name", "This lost reason exists.", code="name_taken")
        reason.name = name
    if "position" in changes:
        position = changes["position"]
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise InvalidInput("position", "A number from 0.")
        reason.position = position
    if "is_active" in changes:
        if not isinstance(changes["is_active"], bool):
            raise InvalidInput("is_active", "true or false.")
        reason.is_active = changes["is_active"]
    reason.save()
    return reason


@transaction.atomic
def lost_reason_delete(*, reason_id: int) -> None:
    """A reason no deal names is deleted; one in use is only retired (is_active false) so lost deals keep
    saying why they were lost."""
    reason = lost_reason_get(reason_id=reason_id)
    if Opportunity.objects.filter(lost_reason=reason).exists():
        reason.is_active = False
        reason.save(update_fields=["is_active"])
        return
    reason.delete()
