from __future__ import annotations

from django.db import models


class ExchangeRate(models.Model):
    """One unit of `currency` is worth `rate` units of the organization's base currency (its
    default_currency) from `valid_from` until the currency's next rate."""

    currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=24, decimal_places=10)
    valid_from = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["currency", "valid_from"], name="currency_rate_per_day"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="currency_rate_positive"),
        ]
        ordering = ["currency", "-valid_from"]

    def __str__(self) -> str:
        return f"{self.currency} {self.rate} from {self.valid_from}"
