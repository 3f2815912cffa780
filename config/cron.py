"""Periodic jobs, run by `manage.py rqcron config/cron.py` (rq's own cron scheduler, through django-rq).

Per-organization work is fanned out: one cron entry enqueues one job per active organization.
"""

from rq.cron import register

from shared_apps.core.jobs import fan_out
from shared_apps.users.jobs import purge_expired_tokens

register(fan_out, queue_name="low", args=(purge_expired_tokens,), cron="17 3 * * *")
