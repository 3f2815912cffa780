"""A settable clock for the demo seed only: the services stamp rows with `timezone.now()`, so setting the
clock is how the seed writes six months of history through them, with the times the services themselves
would have written (the activity timeline is insert-only, so it must be right at creation)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.apps import apps
from django.db.models import Field
from django.utils import timezone


class Clock:
    def __init__(self) -> None:
        self.at: datetime | None = None

    def set(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at if self.at is not None else _real_now()


_real_now = timezone.now


def _defaulting_to_now() -> list[Field]:
    """Fields declared with default=timezone.now: they hold the function itself, not the module's name."""
    return [
        field
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if getattr(field, "default", None) is _real_now
    ]


@contextmanager
def seed_clock() -> Iterator[Clock]:
    """Within the block `timezone.now()` and every `default=timezone.now` read the returned clock (the real
    time until it is set). Not thread-safe: for the seed command and tests, never for serving requests."""
    clock = Clock()
    fields = _defaulting_to_now()
    timezone.now = clock.now
    for field in fields:
        # Field caches the callable it calls in the `_get_default` cached_property
        field.__dict__["_get_default"] = clock.now
    try:
        yield clock
    finally:
        timezone.now = _real_now
        for field in fields:
            field.__dict__.pop("_get_default", None)
