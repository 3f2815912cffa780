"""What members change about themselves besides credentials: their time zone."""

from __future__ import annotations

from shared_apps.core import localtime
from shared_apps.users.models import User


def member_time_zone_set(*, user: User, time_zone: object) -> User:
    """A member's own zone (blank: their organization's); a 400 naming `time_zone` for an unknown one."""
    value = localtime.validate_zone_name(time_zone, blank=True)
    if user.time_zone != value:
        user.time_zone = value
        user.save(update_fields=["time_zone"])
    return user
