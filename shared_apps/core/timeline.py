"""Session switches that open the timeline's append-only trigger for one transaction (see the activities
migrations). Only the purge, merge and erasure services use them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from shared_apps.core.db import connection


@contextmanager
def timeline_switch(name: str) -> Iterator[None]:
    """`purge` lets DELETEs through, `reassign` lets activities move between records, `redact` lets their
    subject, body and metadata be rewritten (nothing else). Needs a transaction."""
    assert name in ("purge", "reassign", "redact")
    assert transaction.get_connection().in_atomic_block, "timeline switches only live inside a transaction"
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL leadpulse.{name} = 'on'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL leadpulse.{name} = 'off'")
