"""Every ordering a list offers (`?ordering=<field>` and `-<field>`, and each list's default) is served by an
index: the page is read in index order, never by sorting every row (at 1M leads a sort was 912 ms a page).

The plan is asked with sorts and sequential scans priced out (enable_sort/enable_seqscan off): with a
matching index the planner then reads it in order and the plan has no Sort node; without one it still has to
sort (the disabled node stays in the plan), whatever the table's size. Lists are built by their selectors,
as the views build them, so the visibility policy and the joins are part of what is planned. A new list
with orderings fails here until it is listed (and indexed)."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.db import connection

from shared_apps.http.pagination import Cursor
from tenant_apps.accounts.selectors import account_list
from tenant_apps.automation.selectors import rule_list
from tenant_apps.contacts.selectors import contact_list
from tenant_apps.leads.selectors import lead_list
from tenant_apps.opportunities.selectors import opportunity_list
from tenant_apps.privacy.models import DoNotContact
from tenant_apps.segments.selectors import segment_list
from tenant_apps.sequences.selectors import sequence_list
from tenant_apps.tasks.selectors import task_list

# cursor class (module.qualname) → the queryset its view pages over, for an admin
LISTS: dict[str, Callable[[Any], Any]] = {
    "tenant_apps.leads.api.views.LeadCursor": lambda actor: lead_list(actor=actor),
    "tenant_apps.contacts.api.views.ContactCursor": lambda actor: contact_list(actor=actor),
    "tenant_apps.accounts.api.views.AccountCursor": lambda actor: account_list(actor=actor),
    "tenant_apps.opportunities.api.views.OpportunityCursor": lambda actor: opportunity_list(actor=actor),
    "tenant_apps.tasks.api.views.TaskCursor": lambda actor: task_list(actor=actor),
    "tenant_apps.segments.api.views.SegmentCursor": lambda actor: segment_list(actor=actor),
    "tenant_apps.sequences.api.views.SequenceCursor": lambda actor: sequence_list(),
    "tenant_apps.automation.api.views.RuleCursor": lambda actor: rule_list(),
    "tenant_apps.privacy.api.views.DoNotContactCursor": lambda actor: DoNotContact.objects.all(),
    # a segment's or preset's rows: the record lists' own orderings, on the same indexes as above
    "tenant_apps.segments.api.views.ResultsCursor": lambda actor: lead_list(actor=actor),
}


def _cursors_with_orderings() -> dict[str, type[Cursor]]:
    for config in apps.get_app_configs():
        if config.name.startswith(("tenant_apps.", "shared_apps.")):
            with contextlib.suppress(ModuleNotFoundError):
                importlib.import_module(f"{config.name}.api.views")
    found: dict[str, type[Cursor]] = {}
    pending = list(Cursor.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.orderings:
            found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def _plan(queryset: Any) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
    return str(queryset.explain())


def _ordering(cursor_class: type[Cursor], queryset: Any, requested: str | None) -> tuple[str, ...]:
    class Params:
        query_params = {"ordering": requested} if requested else {}

    return cursor_class().get_ordering(Params(), queryset, None)  # type: ignore[arg-type]


def test_every_list_with_orderings_is_checked_here():
    assert set(_cursors_with_orderings()) == set(LISTS)


@pytest.fixture
def analyzed(in_org: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def test_every_offered_ordering_reads_an_index_in_order(analyzed: Any, admin: Any) -> None:
    sorted_plans: dict[str, str] = {}
    for name, cursor_class in _cursors_with_orderings().items():
        queryset = LISTS[name](admin)
        requests = [None] + [f"{sign}{field}" for field in cursor_class.orderings for sign in ("", "-")]
        for requested in requests:
            ordering = _ordering(cursor_class, queryset, requested)
            plan = _plan(queryset.order_by(*ordering)[:26])
            if "Sort" in plan:
                sorted_plans[f"{name} ?ordering={requested or '(default)'}"] = plan
    assert not sorted_plans, "\n\n".join(f"{key}:\n{plan}" for key, plan in sorted_plans.items())


def test_a_list_without_its_index_would_sort(analyzed: Any, admin: Any) -> None:
    """The check above can fail: an ordering no index serves (the lead's source) sorts."""
    plan = _plan(lead_list(actor=admin).order_by("source", "id")[:26])
    assert "Sort" in plan
