from django.conf import settings
from rq.cron import CronScheduler

from tenant_apps.reminders.jobs import create_idle_lead_follow_ups, send_due_task_reminders
from tenant_apps.sequences.jobs import send_due_sequence_steps


def test_the_scheduler_fans_out_reminders_sequences_and_follow_ups(db):
    scheduler = CronScheduler(connection=None)  # type: ignore[arg-type]
    scheduler.load_config_from_file(str(settings.BASE_DIR / "config" / "cron.py"))
    schedules = {job.args[0]: job.cron for job in scheduler.get_jobs() if job.func_name.endswith("fan_out")}
    assert schedules[send_due_task_reminders] == "* * * * *"
    assert schedules[send_due_sequence_steps] == "* * * * *"
    assert schedules[create_idle_lead_follow_ups].split()[2:] == ["*", "*", "*"]  # daily
