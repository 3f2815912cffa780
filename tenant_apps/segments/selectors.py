"""Reads on segments, and their evaluation: a segment's rows are computed at read time, with the same
visibility as the record lists (deleted and merged records never appear)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import ExpressionWrapper, F, Q, QuerySet
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import User
from tenant_apps.accounts.models import Account
from tenant_apps.contacts.models import Contact
from tenant_apps.currency.selectors import rate_on
from tenant_apps.filtering.language import SEGMENTS, clean_definition, conditions_q
from tenant_apps.leads.models import IN_OPEN_PIPELINE, Lead
from tenant_apps.opportunities.models import CLOSED_STAGES, Opportunity
from tenant_apps.records import visibility
from tenant_apps.segments.exceptions import PresetNotFound, SegmentNotFound, SegmentOutdated
from tenant_apps.segments.models import RecordType, Segment

MODELS: dict[str, type[models.Model]] = {
    RecordType.LEAD: Lead,
    RecordType.CONTACT: Contact,
    RecordType.ACCOUNT: Account,
    RecordType.OPPORTUNITY: Opportunity,
}
DEFAULT_ORDERING = ("-created_at", "-id")


def segment_visible(*, actor: User) -> QuerySet[Segment]:
    """The actor's own segments and every shared one; others' private segments do not exist for them."""
    return Segment.objects.filter(Q(owner_id=actor.pk) | Q(shared=True)).select_related("owner")


def segment_list(*, actor: User, filters: dict[str, Any] | None = None) -> QuerySet[Segment]:
    """Visible segments with their owner joined. `filters` keys: record_type, mine (bool)."""
    segments = segment_visible(actor=actor)
    filters = filters or {}
    if filters.get("record_type"):
        segments = segments.filter(record_type=filters["record_type"])
    if filters.get("mine") is not None:
        mine = Q(owner_id=actor.pk)
        segments = segments.filter(mine) if filters["mine"] else segments.exclude(mine)
    return segments


def segment_get(*, actor: User, segment_id: int) -> Segment:
    segment = segment_visible(actor=actor).filter(pk=segment_id).first()
    if segment is None:
        raise SegmentNotFound(id=segment_id)
    return segment


def records(record_type: str, actor: User | None) -> QuerySet[Any]:
    """Live records of one type that `actor` may see (the record type's visibility policy): what the record
    lists show them. Results and counts alike come from this queryset."""
    return visibility.records_for(record_type, actor).alive()


def segment_results(*, segment: Segment, actor: User, now: datetime | None = None) -> QuerySet[Any]:
    """The records matching the segment now, as one queryset (relative conditions resolve against `now`
    and the actor). A definition the whitelist no longer accepts is a conflict, never a query."""
    try:
        definition = clean_definition(segment.definition, dialect=SEGMENTS, record_type=segment.record_type)
    except InvalidInput as error:
        raise SegmentOutdated(
            f"This segment's definition is no longer valid ({error.message}); edit it.", id=segment.pk
        ) from None
    condition = conditions_q(
        definition["conditions"],
        match=definition["match"],
        dialect=SEGMENTS,
        record_type=segment.record_type,
        now=now or timezone.now(),
        actor_id=actor.pk,
    )
    return records(segment.record_type, actor).filter(condition)


# ---- presets -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    record_type: str
    description: str
    condition: Callable[[User, datetime], Q]
    ordering: tuple[str, ...] = DEFAULT_ORDERING


HIGH_VALUE_THIS_QUARTER: dict[str, Any] = {
    "record_type": RecordType.OPPORTUNITY,
    "match": "all",
    "conditions": [
        {"field": "expected_close_date", "op": "in_period", "value": "this_quarter"},
        # and 10,000 or more in the base currency: _high_value_closing_this_quarter
    ],
}


NOT_CONTACTED_30_DAYS: dict[str, Any] = {
    "record_type": RecordType.LEAD,
    "match": "any",
    "conditions": [
        {"field": "last_contacted_at", "op": "is_empty"},
        {"field": "last_contacted_at", "op": "older_than_days", "value": 30},
    ],
}


def _definition_q(definition: dict[str, Any], now: datetime) -> Q:
    # presets state their dates in the filter language, so they and custom segments agree on "30 days"
    # and on what a quarter is
    return conditions_q(
        definition["conditions"],
        match=definition["match"],
        dialect=SEGMENTS,
        record_type=definition["record_type"],
        now=now,
    )


HIGH_VALUE = Decimal(10_000)  # in the organization's base currency


def _high_value_closing_this_quarter(actor: User, now: datetime) -> Q:
    # closing this quarter (the filter language's period), and 10,000 or more in the base currency at the
    # rate in force on the close date: a deal in a currency without a rate for that day cannot be shown to
    # be high value and is left out
    base_amount = ExpressionWrapper(
        F("amount") * rate_on(currency_field="currency", on_date="expected_close_date"),
        output_field=models.DecimalField(),
    )
    return (
        _definition_q(HIGH_VALUE_THIS_QUARTER, now)
        & Q(GreaterThanOrEqual(base_amount, HIGH_VALUE), closed_at__isnull=True)
        & ~Q(stage__in=CLOSED_STAGES)
    )


PRESETS: dict[str, Preset] = {
    preset.key: preset
    for preset in (
        Preset(
            key="my_open_leads",
            name="My open leads",
            record_type=RecordType.LEAD,
            description="Leads I own that are not won, lost or converted.",
            condition=lambda actor, now: Q(owner_id=actor.pk) & IN_OPEN_PIPELINE,
        ),
        Preset(
            key="no_activity_30_days",
            name="No activity in 30 days",
            record_type=RecordType.LEAD,
            description="Open leads not contacted in the last 30 days, or never.",
            condition=lambda actor, now: IN_OPEN_PIPELINE & _definition_q(NOT_CONTACTED_30_DAYS, now),
        ),
        Preset(
            key="high_value_closing_this_quarter",
            name="High-value deals closing this quarter",
            record_type=RecordType.OPPORTUNITY,
            description="Open opportunities of 10,000 or more expected to close this calendar quarter, "
            "largest first.",
            condition=_high_value_closing_this_quarter,
            ordering=("-amount", "-id"),
        ),
    )
}


def preset_get(*, key: str) -> Preset:
    if key not in PRESETS:
        raise PresetNotFound(key=key[:100])
    return PRESETS[key]


def preset_results(*, preset: Preset, actor: User, now: datetime | None = None) -> QuerySet[Any]:
    return records(preset.record_type, actor).filter(preset.condition(actor, now or timezone.now()))
