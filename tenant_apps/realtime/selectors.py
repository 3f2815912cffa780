"""Reads of the event log and the one rule deciding which events a member's stream carries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Max

from shared_apps.users.models import User
from tenant_apps.realtime.events import StreamEvent
from tenant_apps.realtime.models import PRUNED_TOPIC, EventLog
from tenant_apps.records import visibility


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who a stream is for, taken when it opens (a stream lives at most REALTIME_STREAM_MAX_SECONDS)."""

    id: int
    role: str
    # the organization's `reps_see_all_leads`, or any role above rep
    sees_all_leads: bool

    @classmethod
    def of(cls, member: User, *, reps_see_all_leads: bool) -> Viewer:
        return cls(
            id=member.pk,
            role=member.role,
            sees_all_leads=visibility.sees_all_leads(member, reps_see_all_leads=reps_see_all_leads),
        )


def visible_to(member: Viewer, event: StreamEvent) -> bool:
    """Whether `member` is sent `event`. Lead events follow the leads' own rule (records.visibility): all of
    them, except for reps, who get the leads they own and unassigned ones unless the organization lets reps
    see every lead; an owner change also goes to the previous owner, whose board loses the lead.
    A notification (data: recipient_id) goes to its recipient only; an import's progress and outcome to the
    member who started it (actor_id)."""
    namespace = event.topic.partition(".")[0]
    if namespace == "lead":
        if member.sees_all_leads or event.owner_id in (None, member.id):
            return True
        return event.topic == "lead.owner_changed" and event.data.get("from") == member.id
    if namespace == "notification":
        return event.data.get("recipient_id") == member.id
    if namespace == "import":
        return event.actor_id in (None, member.id)
    return False


def stream_event(row: EventLog) -> StreamEvent:
    return StreamEvent(
        id=row.id,
        topic=row.topic,
        record_id=row.record_id,
        actor_id=row.actor_id,
        owner_id=row.owner_id,
        data=row.data,
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class Replay:
    events: list[StreamEvent]
    # where the stream stands after replaying: the last id sent or skipped
    position: int
    # why the client must reload instead of relying on the replay: "pruned" | "too_far_behind" |
    # "unknown_position" | "" (nothing to reload)
    reset: str = ""


def latest_event_id() -> int:
    return EventLog.objects.aggregate(latest=Max("id"))["latest"] or 0


def events_after(*, after_id: int | None, limit: int) -> Replay:
    """The events committed after `after_id` (None: none, only the current position), at most `limit`.

    Ids increase in commit order (see models.py), so "id > N" is exactly what a client at N has not seen.
    Past the retention job's marker or `limit`, the replay is abandoned for a reset at the latest id."""
    if after_id is None:
        return Replay(events=[], position=latest_event_id())
    rows = list(EventLog.objects.filter(id__gt=after_id).order_by("id")[: limit + 1])
    if rows and rows[0].topic == PRUNED_TOPIC:
        return Replay(events=[], position=latest_event_id(), reset="pruned")
    if len(rows) > limit:
        return Replay(events=[], position=latest_event_id(), reset="too_far_behind")
    if not rows:
        latest = latest_event_id()
        if after_id > latest:  # ahead of the log (another database, a restore): its view cannot be trusted
            return Replay(events=[], position=latest, reset="unknown_position")
        # (not `latest`: an event committed since the query above is on its way live, with a larger id)
        return Replay(events=[], position=after_id)
    return Replay(events=[stream_event(row) for row in rows], position=rows[-1].id)
