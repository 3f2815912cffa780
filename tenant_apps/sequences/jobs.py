"""rq entry points, fanned out to every active organization by the scheduler (config/cron.py). Each runs in
its organization's schema (shared_apps.organizations.jobs), calls one service and is safe to run twice."""

from __future__ import annotations

from datetime import datetime

from tenant_apps.sequences import sending


def send_due_sequence_steps(now: datetime | None = None) -> dict[str, int]:
    """Every minute: send the sequence steps that fell due (each at most once, see
    sending.enrollment_step_send); returns how many ended which way."""
    return sending.sequence_steps_send_due(now=now)
