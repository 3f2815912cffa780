"""In-process domain events, announced after commit.

Services publish; later features (real-time stream, automation, webhooks) subscribe. A service never
knows its subscribers, and a rolled-back change announces nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import transaction

from shared_apps.core.db import connection

logger = logging.getLogger(__name__)

Handler = Callable[["DomainEvent"], None]
BatchHandler = Callable[[list["DomainEvent"]], None]
_subscribers: dict[str, list[Handler]] = defaultdict(list)
# Called inside the publishing transaction (before commit): for writes that must commit or roll back with
# the change itself, such as a webhook outbox. They must not fail for reasons unrelated to the change.
_transactional: dict[str, list[Handler]] = defaultdict(list)
# A handler's way of taking many events at once (publish_many_on_commit), when it has one.
_many: dict[Handler, BatchHandler] = {}


@dataclass(frozen=True)
class DomainEvent:
    """`topic` names what changed ("lead.stage_changed"); `schema_name` is the organization it happened in."""

    topic: str
    record_id: int
    schema_name: str
    actor_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def subscribe(topic_prefix: str, handler: Handler, *, many: BatchHandler | None = None) -> Callable[[], None]:
    """Call `handler` for each event whose topic starts with `topic_prefix` ("" = all), or `many` once with
    the matching events of a publish_many_on_commit; returns an undo."""
    return _add(_subscribers, topic_prefix, handler, many)


def subscribe_in_transaction(
    topic_prefix: str, handler: Handler, *, many: BatchHandler | None = None
) -> Callable[[], None]:
    """Call `handler` inside the publishing transaction (an exception rolls the change back), or `many` once
    with the matching events of a publish_many_on_commit; returns undo."""
    return _add(_transactional, topic_prefix, handler, many)


def _add(
    subscribers: dict[str, list[Handler]], topic_prefix: str, handler: Handler, many: BatchHandler | None
) -> Callable[[], None]:
    subscribers[topic_prefix].append(handler)
    if many is not None:
        _many[handler] = many

    def undo() -> None:
        subscribers[topic_prefix].remove(handler)
        still = any(
            handler in handlers for table in (_subscribers, _transactional) for handlers in table.values()
        )
        if not still:
            _many.pop(handler, None)

    return undo


def publish_on_commit(topic: str, *, record_id: int, actor_id: int | None = None, **data: Any) -> None:
    """Announce a change: transactional subscribers now, inside the transaction; the others after commit."""
    event = DomainEvent(
        topic=topic, record_id=record_id, schema_name=connection.schema_name, actor_id=actor_id, data=data
    )
    _deliver(_transactional, [event], guarded=False)
    transaction.on_commit(lambda: dispatch(event))


def publish_many_on_commit(events: list[DomainEvent]) -> None:
    """Announce many changes of one transaction (a batch of received mail) as publish_on_commit announces
    each, in order; a subscriber with a way of taking many (`many=`) is called once with its events, so a
    batch costs it one write, not one per event. The events' schema is the active one."""
    events = [replace(event, schema_name=connection.schema_name) for event in events]
    _deliver(_transactional, events, guarded=False)
    if events:
        transaction.on_commit(lambda: _deliver(_subscribers, events, guarded=True))


def _deliver(subscribers: dict[str, list[Handler]], events: list[DomainEvent], *, guarded: bool) -> None:
    for prefix, handlers in list(subscribers.items()):
        matching = [event for event in events if event.topic.startswith(prefix)]
        if not matching:
            continue
        for handler in list(handlers):
            many = _many.get(handler)
            calls: list[tuple[Callable[[Any], None], Any]] = (
                [(many, matching)] if many is not None else [(handler, event) for event in matching]
            )
            for call, argument in calls:
                if not guarded:
                    call(argument)
                    continue
                try:
                    call(argument)
                except Exception:  # a broken subscriber must not break the committed change or the others
                    logger.exception("event subscriber %r failed on %s", handler, matching[0].topic)


def dispatch(event: DomainEvent) -> None:
    _deliver(_subscribers, [event], guarded=True)
