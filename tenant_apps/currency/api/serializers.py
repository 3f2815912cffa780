from __future__ import annotations

from rest_framework import serializers

from tenant_apps.currency.models import ExchangeRate


class ExchangeRateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExchangeRate
        fields = ["id", "currency", "rate", "valid_from", "created_at"]


class ExchangeRateListSerializer(serializers.Serializer):
    base_currency = serializers.CharField(
        help_text="the organization's default currency: rates convert into it"
    )
    results = ExchangeRateSerializer(many=True)


class ExchangeRateWriteSerializer(serializers.Serializer):
    currency = serializers.CharField(max_length=3, min_length=3)
    rate = serializers.DecimalField(max_digits=24, decimal_places=10, min_value=None)
    valid_from = serializers.DateField()

    def validate_rate(self, value):  # type: ignore[no-untyped-def]
        if value <= 0:
            raise serializers.ValidationError("A rate must be greater than 0.")
        return value


class ExchangeRateFilterSerializer(serializers.Serializer):
    currency = serializers.CharField(max_length=3, min_length=3, required=False)


class ExchangeRateImportSerializer(serializers.Serializer):
    file = serializers.FileField()


class ExchangeRateImportResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
