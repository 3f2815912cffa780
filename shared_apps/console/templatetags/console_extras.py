from typing import Any

from django import template

register = template.Library()


@register.filter
def item(mapping: dict[str, Any], key: str) -> Any:
    """A dictionary's value by a key that is not an identifier (`5xx_30d`)."""
    return mapping.get(key, "")
