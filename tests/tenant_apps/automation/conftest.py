from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared_apps.users.models import User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.automation import services
from tenant_apps.automation.models import Rule
from tenant_apps.leads.models import Lead


@pytest.fixture
def committing(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """`with committing():` runs what waits for the commit (event subscribers, job enqueues) on exit."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def process(run_jobs: Callable[..., list], committing: Callable[[], Any]) -> Callable[..., list]:
    """Run the queued jobs, then the jobs they queue, until none is left; every one must succeed."""

    def run(queue: str = "default", max_rounds: int = 30) -> list:
        done: list = []
        for _ in range(max_rounds):
            with committing():
                jobs = run_jobs(queue)
            if not jobs:
                return done
            for job in jobs:
                assert job.is_finished, job.latest_result().exc_string
            done += jobs
        raise AssertionError("jobs keep queueing jobs")

    return run


@pytest.fixture
def make_rule(admin: User) -> Callable[..., Rule]:
    def make(trigger: dict[str, Any], actions: list[dict[str, Any]], **fields: Any) -> Rule:
        fields.setdefault("name", f"rule on {trigger['type']}")
        return services.rule_create(actor=admin, trigger=trigger, actions=actions, **fields)

    return make


def rule_entries(lead: Lead) -> list[dict[str, Any]]:
    """The rule-action entries of a lead's timeline, oldest first (their metadata)."""
    return list(
        Activity.objects.filter(lead=lead, type=ActivityType.SYSTEM, metadata__event="rule_action")
        .order_by("id")
        .values_list("metadata", flat=True)
    )
