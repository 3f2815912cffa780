"""Periodic jobs, run by `manage.py rqcron config/cron.py` (rq's own cron scheduler, through django-rq).

Per-organization work is fanned out: one cron entry enqueues one job per active organization.
"""

from rq.cron import register

from shared_apps.organizations.jobs import fan_out
from shared_apps.organizations.spares import spares_top_up
from shared_apps.organizations.usage import usage_collect
from shared_apps.users.jobs import purge_expired_tokens
from tenant_apps.analytics.jobs import analytics_refresh
from tenant_apps.automation.jobs import evaluate_time_triggers, refresh_stale_scores
from tenant_apps.imports.jobs import imports_indexes_sweep
from tenant_apps.mail.jobs import imap_mailboxes_sync, inbound_messages_sweep
from tenant_apps.realtime.jobs import prune_event_log
from tenant_apps.reminders.jobs import (
    FOLLOW_UP_LOCAL_HOUR,
    create_idle_lead_follow_ups,
    send_due_task_reminders,
)
from tenant_apps.sequences.jobs import send_due_sequence_steps
from tenant_apps.webhooks.jobs import webhooks_sweep

register(fan_out, queue_name="low", args=(purge_expired_tokens,), cron="17 3 * * *")
# hourly: catch up with stage changes and re-take today's pipeline snapshot (changes also trigger it)
register(fan_out, queue_name="low", args=(analytics_refresh,), kwargs={"queue": "low"}, cron="7 * * * *")
# every minute: reminders for tasks that fell due, sequence steps that are due (both idempotent)
register(fan_out, queue_name="default", args=(send_due_task_reminders,), cron="* * * * *")
register(fan_out, queue_name="default", args=(send_due_sequence_steps,), cron="* * * * *")
# hourly: follow-up tasks for leads nobody contacted for the organization's idle_days, for the owners it is
# 06:xx for in their time zone (theirs, else the organization's): each owner's once a day, at 6 where they are
register(
    fan_out,
    queue_name="low",
    args=(create_idle_lead_follow_ups,),
    kwargs={"queue": "low", "local_hour": FOLLOW_UP_LOCAL_HOUR},
    cron="0 * * * *",
)
# every minute: webhook events and deliveries a lost job or a killed worker left behind
register(fan_out, queue_name="default", args=(webhooks_sweep,), cron="* * * * *")
# every minute: received messages left waiting without a drain job (the receiver died in between)
register(fan_out, queue_name="default", args=(inbound_messages_sweep,), cron="* * * * *")
# every 10 minutes: rules triggered by time (leads idle for N days, tasks past due); hourly: scores that
# time-windowed scoring rules may have moved
register(fan_out, queue_name="default", args=(evaluate_time_triggers,), cron="*/10 * * * *")
register(fan_out, queue_name="low", args=(refresh_stale_scores,), kwargs={"queue": "low"}, cron="37 * * * *")
# every 5 minutes: members' IMAP mailboxes (UID-based, idempotent)
register(fan_out, queue_name="low", args=(imap_mailboxes_sync,), kwargs={"queue": "low"}, cron="*/5 * * * *")
# daily: the real-time stream's event log keeps REALTIME_RETENTION_DAYS (7)
register(fan_out, queue_name="low", args=(prune_event_log,), kwargs={"queue": "low"}, cron="47 4 * * *")
# hourly: each organization's usage (members, records, storage, requests...) into the public schema, which
# the console and GET /api/platform/organizations/<slug>/usage/ read
register(fan_out, queue_name="low", args=(usage_collect,), kwargs={"queue": "low"}, cron="27 * * * *")
# every minute: the pool of spare organization schemas (ORGANIZATION_SPARE_SCHEMAS) refilled, stale ones
# (cloned before a template migration) dropped; also enqueued after each provisioning. Cheap when full.
register(spares_top_up, queue_name="default", cron="* * * * *")
# every 10 minutes: the lead indexes a large import builds at its end, should its worker have died for good
register(
    fan_out, queue_name="low", args=(imports_indexes_sweep,), kwargs={"queue": "low"}, cron="*/10 * * * *"
)
