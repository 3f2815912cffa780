"""rq entry points, fanned out to every active organization by the scheduler (config/cron.py)."""

from __future__ import annotations

from tenant_apps.realtime import services


def prune_event_log() -> int:
    """Daily: drop stream events older than REALTIME_RETENTION_DAYS (idempotent)."""
    return services.event_log_prune()
