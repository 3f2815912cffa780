from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from rest_framework import serializers

from tenant_apps.analytics.selectors import organization_today
from tenant_apps.leads.models import Source, Stage

MAX_PERIOD_DAYS = 3 * 366
# Far enough from date.min/max that adding a period or a day never overflows.
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


class StrictQuerySerializer(serializers.Serializer):
    """Refuses parameters it does not know: a misspelled one silently ignored would look like a filter."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if hasattr(self.initial_data, "keys") else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown parameter."] for key in unknown})
        return attrs


def _date_field(help_text: str) -> serializers.DateField:
    return serializers.DateField(required=False, help_text=help_text)


class PeriodQuerySerializer(StrictQuerySerializer):
    """date_from .. date_to, inclusive, at most three years; by default the last 90 days."""

    date_from = _date_field("first day (YYYY-MM-DD); default: 89 days before date_to")
    date_to = _date_field("last day, inclusive (YYYY-MM-DD); default: today")

    def default_period(self, date_from: date | None, date_to: date | None) -> tuple[date, date]:
        date_to = date_to or organization_today()
        if date_from is None:
            date_from = max(EARLIEST, date_to - timedelta(days=89))
        return date_from, date_to

    def validate_date_from(self, value: date) -> date:
        return self._bounded(value)

    def validate_date_to(self, value: date) -> date:
        return self._bounded(value)

    def _bounded(self, value: date) -> date:
        if not EARLIEST <= value <= LATEST:
            raise serializers.ValidationError(f"Between {EARLIEST} and {LATEST}.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        date_from, date_to = self.default_period(attrs.get("date_from"), attrs.get("date_to"))
        if date_from > date_to:
            raise serializers.ValidationError({"date_from": ["Must be on or before date_to."]})
        if (date_to - date_from).days >= MAX_PERIOD_DAYS:
            raise serializers.ValidationError(
                {"date_from": [f"At most {MAX_PERIOD_DAYS} days before date_to."]}
            )
        return {**attrs, "date_from": date_from, "date_to": date_to}


class PipelineQuerySerializer(PeriodQuerySerializer):
    """The history's period defaults to the last 30 days."""

    owner = serializers.CharField(required=False, help_text='"me", "none" (unassigned) or a member id')

    def default_period(self, date_from: date | None, date_to: date | None) -> tuple[date, date]:
        date_to = date_to or organization_today()
        return date_from or max(EARLIEST, date_to - timedelta(days=29)), date_to

    def validate_owner(self, value: str) -> str | int:
        if value in ("me", "none"):
            return value
        if not value.isdigit() or len(value) > 18:
            raise serializers.ValidationError('Use "me", "none" or a member id.')
        return int(value)


class ForecastQuerySerializer(PeriodQuerySerializer):
    """By default this month and the eleven after it."""

    pipeline = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="one pipeline's deals (its id)"
    )

    def default_period(self, date_from: date | None, date_to: date | None) -> tuple[date, date]:
        today = organization_today()
        date_from = date_from or date(today.year, today.month, 1)
        if date_to is None:
            year, month = date_from.year + (date_from.month + 11) // 12, (date_from.month + 11) % 12 + 1
            date_to = date(year, month, 1) - timedelta(days=1)
        return date_from, date_to


# ---- responses (OpenAPI and rendering) ----------------------------------------------------------------


class ReportOwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


def _money(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=20, decimal_places=2, **kwargs)


class StageFiguresSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices)
    count = serializers.IntegerField()
    total_value = _money()
    weighted_value = _money()


class OpenFiguresSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    total_value = _money()
    weighted_value = _money()


class CurrencyFiguresSerializer(serializers.Serializer):
    currency = serializers.CharField()
    count = serializers.IntegerField()
    amount = _money(help_text="in this currency")
    base_amount = _money(help_text="in the base currency; the unconverted records add nothing")


class UnconvertedSerializer(serializers.Serializer):
    currency = serializers.CharField()
    count = serializers.IntegerField(help_text="records in this currency without a rate for their date")
    amount = _money(help_text="their amount in this currency, in no total")


class OwnerPipelineSerializer(serializers.Serializer):
    owner = ReportOwnerSerializer(allow_null=True)
    stages = StageFiguresSerializer(many=True)
    open = OpenFiguresSerializer()


class PipelineDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    stages = StageFiguresSerializer(many=True)
    open = OpenFiguresSerializer()


class PipelineSerializer(serializers.Serializer):
    snapshot_date = serializers.DateField(allow_null=True, help_text="the snapshot the current figures are")
    as_of = serializers.DateTimeField(allow_null=True, help_text="when that snapshot was taken")
    stages = StageFiguresSerializer(many=True)
    open = OpenFiguresSerializer(help_text="the open stages (not WON or LOST) together")
    by_owner = OwnerPipelineSerializer(many=True)
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    history = PipelineDaySerializer(many=True, help_text="one entry per day with a snapshot")
    base_currency = serializers.CharField(help_text="every value above is in it")
    by_currency = CurrencyFiguresSerializer(many=True, help_text="the open leads now, per currency")
    unconverted = UnconvertedSerializer(many=True, help_text="open leads left out of the values above")


class StepSerializer(serializers.Serializer):
    # plain strings: a second and third name for the Stage enum would muddle the OpenAPI schema
    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    exits = serializers.IntegerField(help_text="changes out of from_stage in the period")
    advanced = serializers.IntegerField(help_text="of which to to_stage")
    lost = serializers.IntegerField(help_text="of which to LOST")
    rate = serializers.FloatField(allow_null=True, help_text="advanced / exits")


class ConversionFiguresSerializer(serializers.Serializer):
    steps = StepSerializer(many=True)
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    reopened = serializers.IntegerField(help_text="LOST back to NEW")
    win_rate = serializers.FloatField(allow_null=True, help_text="won / (won + lost)")


class SourceConversionSerializer(ConversionFiguresSerializer):
    source = serializers.ChoiceField(choices=Source.choices)  # type: ignore[assignment]


class OwnerConversionSerializer(ConversionFiguresSerializer):
    owner = ReportOwnerSerializer(allow_null=True)


class ConversionSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    overall = ConversionFiguresSerializer()
    by_source = SourceConversionSerializer(many=True)
    by_owner = OwnerConversionSerializer(many=True)


class CycleFiguresSerializer(serializers.Serializer):
    won = serializers.IntegerField()
    average_days = serializers.FloatField(allow_null=True)
    median_days = serializers.FloatField(allow_null=True)
    p75_days = serializers.FloatField(allow_null=True)


class SourceCycleSerializer(CycleFiguresSerializer):
    source = serializers.ChoiceField(choices=Source.choices)  # type: ignore[assignment]


class CycleLengthSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    approximate = serializers.BooleanField(help_text="percentiles read from histograms (within ~4.5%)")
    overall = CycleFiguresSerializer()
    by_source = SourceCycleSerializer(many=True)


class StageTimeSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices)
    exits = serializers.IntegerField(help_text="stays in the stage that ended in the period")
    average_days = serializers.FloatField(allow_null=True)
    median_days = serializers.FloatField(allow_null=True)


class TimeInStageSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    approximate = serializers.BooleanField(help_text="medians read from histograms (within ~4.5%)")
    stages = StageTimeSerializer(many=True)


class ForecastFiguresSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    amount = _money()
    weighted_amount = _money()


class ForecastMonthSerializer(ForecastFiguresSerializer):
    month = serializers.CharField(help_text="YYYY-MM")


class ForecastStageSerializer(ForecastFiguresSerializer):
    pipeline_id = serializers.IntegerField()
    stage_id = serializers.IntegerField()
    name = serializers.CharField()
    probability = serializers.IntegerField()


class ReportPipelineRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ForecastSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    months = ForecastMonthSerializer(many=True)
    total = ForecastFiguresSerializer()
    overdue = ForecastFiguresSerializer(help_text="open, expected before today")
    undated = ForecastFiguresSerializer(help_text="open, no expected close date")
    base_currency = serializers.CharField(help_text="every amount above is in it")
    by_currency = CurrencyFiguresSerializer(many=True, help_text="the open deals per currency")
    unconverted = UnconvertedSerializer(many=True, help_text="open deals left out of the amounts above")
    pipeline = serializers.IntegerField(allow_null=True, help_text="the pipeline asked for, or null: all")
    by_stage = ForecastStageSerializer(
        many=True, help_text="every open deal (whatever its close date) per open stage, in base currency"
    )


class DealsQuerySerializer(PeriodQuerySerializer):
    pipeline = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="a pipeline's id (default: the default)"
    )


class DealStageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    probability = serializers.IntegerField()
    is_won = serializers.BooleanField()
    is_lost = serializers.BooleanField()
    rotting_days = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField(help_text="live deals in the stage now")
    amount = _money()
    weighted_amount = _money(help_text="amount x probability (the stage's unless set on the deal)")
    unconverted_count = serializers.IntegerField(help_text="deals without a rate: counted, not summed")


class FunnelStageSerializer(serializers.Serializer):
    stage_id = serializers.IntegerField()
    name = serializers.CharField()
    reached = serializers.IntegerField(help_text="deals created in the period that reached it or beyond")
    to_next = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)


class FunnelSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    stages = FunnelStageSerializer(many=True)


class ReasonCountSerializer(serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField()


class DealsClosedSerializer(serializers.Serializer):
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    lost_reasons = ReasonCountSerializer(many=True)


class DealCycleSerializer(serializers.Serializer):
    won = serializers.IntegerField()
    average_days = serializers.FloatField(allow_null=True)
    median_days = serializers.FloatField(allow_null=True)


class SnapshotStageSerializer(serializers.Serializer):
    stage_id = serializers.IntegerField()
    name = serializers.CharField(help_text="the stage's name that day")
    count = serializers.IntegerField()
    amount = _money()
    weighted_amount = _money()


class DealSnapshotSerializer(serializers.Serializer):
    date = serializers.DateField()
    stages = SnapshotStageSerializer(many=True)


class DealsReportSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    base_currency = serializers.CharField()
    pipeline = ReportPipelineRefSerializer()
    stages = DealStageSerializer(many=True)
    open = ForecastFiguresSerializer()
    funnel = FunnelSerializer()
    closed = DealsClosedSerializer()
    cycle_length = DealCycleSerializer()
    snapshots = DealSnapshotSerializer(many=True)
