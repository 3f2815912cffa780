"""rq entry points. Functions under tenant_apps run in the schema their job was enqueued for (see
shared_apps.organizations.jobs); each calls one service and is safe to run twice."""

from __future__ import annotations

from datetime import date

from tenant_apps.analytics import services


def analytics_refresh() -> dict[str, int]:
    """After lead changes (queued by the event hook, at most one waiting) and hourly for every active
    organization (config/cron.py): ingest new stage changes, re-take today's snapshot."""
    return services.analytics_refresh()


def analytics_reconcile_leads(lead_ids: list[int]) -> int:
    """After a lead is deleted, restored, merged or purged: its facts stop or start counting."""
    return services.transitions_reconcile(lead_ids=lead_ids)


def analytics_backfill(date_from: str, date_to: str) -> int:
    """Rebuild past days' snapshots from the activity log (ISO dates, inclusive)."""
    return services.snapshot_backfill(
        date_from=date.fromisoformat(date_from), date_to=date.fromisoformat(date_to)
    )
