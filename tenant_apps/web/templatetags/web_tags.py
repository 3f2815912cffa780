from __future__ import annotations

from typing import Any

from django import template

from tenant_apps.opportunities.stage_labels import lead_stage_labels
from tenant_apps.web import selectors

register = template.Library()


@register.filter
def money(amount: Any, currency: str = "USD") -> str:
    return selectors.money(amount, currency or "USD")


@register.filter
def stage_label(stage: str) -> str:
    """A lead stage's label as the organization calls it (admins rename them; the stages stay)."""
    return lead_stage_labels().get(stage, stage)


@register.filter
def percent(ratio: float | None) -> str:
    return "\u2013" if ratio is None else f"{ratio * 100:.0f}%"


@register.filter
def who(user: Any) -> str:
    """A member's name, or their email when they have none."""
    if user is None:
        return "nobody"
    return str(getattr(user, "full_name", "") or getattr(user, "email", ""))


@register.filter
def initials(user: Any) -> str:
    name = who(user)
    if user is None:
        return "\u2013"
    parts = [part for part in name.replace("@", " ").replace(".", " ").split() if part]
    return "".join(part[0] for part in parts[:2]).upper()


@register.filter
def days(seconds: float) -> str:
    value = seconds / 86_400
    return f"{value:.0f} d" if value >= 1 else f"{seconds / 3600:.0f} h"


@register.filter
def forward_stage(stage: str) -> str:
    """The next step along the pipeline ("" for WON)."""
    return selectors.forward_stage(stage) or ""
