"""Lead stage labels: the lead stage machine (tenant_apps.leads.models.TRANSITIONS) is fixed, but an
organization may call its stages what it likes. Labels are what the API (`stage_label`), the web app and
exports show; the stage values themselves never change."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import transaction

from shared_apps.core.errors import InvalidInput
from shared_apps.core.validation import clean_text
from shared_apps.organizations.context import cache_changed, cache_get, kept_in_process
from tenant_apps.leads.models import Stage
from tenant_apps.opportunities.models import LeadStageLabel

# the default cache's keys carry the organization (shared_apps.organizations.namespace)
CACHE_KEY = "lead-stage-labels"
kept_in_process(CACHE_KEY)  # kept in each process: most pages and list pages show them


def lead_stage_labels() -> dict[str, str]:
    """Every lead stage's label in force: the organization's own, else the built-in one (cached: every
    card and badge of a page reads it)."""
    labels: dict[str, str] | None = cache_get(CACHE_KEY)
    if labels is None:
        labels = {str(stage.value): str(stage.label) for stage in Stage}
        labels.update(dict(LeadStageLabel.objects.values_list("stage", "label")))
        cache.set(CACHE_KEY, labels, timeout=3600)
    return labels


def lead_stage_label(stage: str, labels: dict[str, str] | None = None) -> str:
    return (labels or lead_stage_labels()).get(stage, stage)


def _forget() -> None:
    cache.delete(CACHE_KEY)
    cache_changed(CACHE_KEY)


@transaction.atomic
def lead_stage_labels_set(*, labels: Any) -> dict[str, dict[str, str]]:
    """Set labels ({stage: label}); an empty label restores the built-in one. Returns the changes as
    {stage: {"from": old, "to": new}} (for the audit log)."""
    if not isinstance(labels, dict) or not labels:
        raise InvalidInput("labels", "An object of {stage: label}.")
    before = lead_stage_labels()
    transaction.on_commit(_forget)
    _forget()
    for stage, label in labels.items():
        if stage not in Stage.values:
            expected = ", ".join(Stage.values)
            raise InvalidInput(f"labels.{stage}", f"Unknown stage; expected one of {expected}.")
        text = clean_text(label, field=f"labels.{stage}", max_length=50)
        if not text or text == Stage(stage).label:
            LeadStageLabel.objects.filter(stage=stage).delete()
        else:
            LeadStageLabel.objects.update_or_create(stage=stage, defaults={"label": text})
    cache.delete(CACHE_KEY)
    after = lead_stage_labels()
    cache.delete(CACHE_KEY)  # read inside the transaction: not for others until it commits
    taken: dict[str, str] = {}
    for stage, label in after.items():
        if label.casefold() in taken:
            raise InvalidInput(
                f"labels.{stage}", f"{taken[label.casefold()]} has this label already.", code="label_taken"
            )
        taken[label.casefold()] = stage
    return {
        stage: {"from": before[stage], "to": after[stage]} for stage in after if before[stage] != after[stage]
    }
