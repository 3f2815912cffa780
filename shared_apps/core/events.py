"""In-process domain events, announced after commit.

Services publish; later features (real-time stream, automation, webhooks) subscribe. A service never
knows its subscribers, and a rolled-back change announces nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from shared_apps.core.db import connection

logger = logging.getLogger(__name__)

Handler = Callable[["DomainEvent"], None]
_subscribers: dict[str, list[Handler]] = defaultdict(list)
# Called inside the publishing transaction (before commit): for writes that must commit or roll back with
# the change itself, such as a webhook outbox. They must not fail for reasons unrelated to the change.
_transactional: dict[str, list[Handler]] = defaultdict(list)


@dataclass(frozen=True)
class DomainEvent:
    """`topic` names what changed ("lead.stage_changed"); `schema_name` is the organization it happened in."""

    topic: str
    record_id: int
    schema_name: str
    actor_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def subscribe(topic_prefix: str, handler: Handler) -> Callable[[], None]:
    """Call `handler` for each event whose topic starts with `topic_prefix` ("" = all); returns an undo."""
    _subscribers[topic_prefix].append(handler)
    return lambda: _subscribers[topic_prefix].remove(handler)


def subscribe_in_transaction(topic_prefix: str, handler: Handler) -> Callable[[], None]:
    """Call `handler` inside the publishing transaction (an exception rolls the change back); returns undo."""
    _transactional[topic_prefix].append(handler)
    return lambda: _transactional[topic_prefix].remove(handler)


def publish_on_commit(topic: str, *, record_id: int, actor_id: int | None = None, **data: Any) -> None:
    """Announce a change: transactional subscribers now, inside the transaction; the others after commit."""
    event = DomainEvent(
        topic=topic, record_id=record_id, schema_name=connection.schema_name, actor_id=actor_id, data=data
    )
    for prefix, handlers in list(_transactional.items()):
        if event.topic.startswith(prefix):
            for handler in list(handlers):
                handler(event)
    transaction.on_commit(lambda: dispatch(event))


def dispatch(event: DomainEvent) -> None:
    for prefix, handlers in list(_subscribers.items()):
        if not event.topic.startswith(prefix):
            continue
        for handler in list(handlers):
            try:
                handler(event)
            except Exception:  # a broken subscriber must not break the committed change or the others
                logger.exception("event subscriber %r failed on %s", handler, event.topic)
