"""What a stream carries: one committed event of the log, rendered once as a server-sent event frame."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: int
    topic: str
    record_id: int
    actor_id: int | None
    owner_id: int | None
    data: dict[str, Any]
    created_at: datetime
    # rendered on first use and shared by every stream the event goes to
    _frame: list[bytes] = field(default_factory=list, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "record_id": self.record_id,
            "actor_id": self.actor_id,
            "owner_id": self.owner_id,
            "data": self.data,
            "occurred_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }

    @property
    def frame(self) -> bytes:
        if not self._frame:
            # json.dumps escapes newlines inside strings: the data is always one line
            body = json.dumps(self.as_dict(), separators=(",", ":"), default=str)
            self._frame.append(f"id: {self.id}\nevent: {self.topic}\ndata: {body}\n\n".encode())
        return self._frame[0]


def frame(event: str, data: dict[str, Any], *, event_id: int | None = None) -> bytes:
    """A frame of the stream's own (ready, reset); an `id:` line moves the client's Last-Event-ID."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


HEARTBEAT = b": heartbeat\n\n"
