"""After the demo seed, every page has history to show: accounts, contacts, deals in several currencies,
tasks (some overdue), months of timeline, threads, automation, and past snapshots. Seeded once: slow."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.db.models import Max, Min
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.analytics.models import PipelineSnapshot
from tenant_apps.automation.models import Rule
from tenant_apps.contacts.models import Contact
from tenant_apps.currency.models import ExchangeRate
from tenant_apps.currency.selectors import exchange_rate_get
from tenant_apps.demo.customers import seed_customers
from tenant_apps.demo.leads import seed_leads
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.opportunities.models import Opportunity, OpportunityStage
from tenant_apps.sequences.models import Sequence
from tenant_apps.tasks.models import Task, TaskStatus
from tenant_apps.webhooks.models import Endpoint


def test_the_seed_fills_every_page_with_months_of_history(org, member):
    for role in (Role.REP, Role.REP, Role.MANAGER):
        member(role=role)
    seed_leads(organization=org, count=80)
    created = seed_customers(organization=org)
    assert created["accounts"] > 0 and created["snapshot_rows"] > 0
    now = timezone.now()
    with schema_context(org.schema_name):
        assert Account.objects.count() > 0
        assert Contact.objects.count() > Account.objects.count()  # converted people plus colleagues
        stages = Counter(Opportunity.objects.values_list("stage", flat=True))
        assert stages[OpportunityStage.CLOSED_WON] > 0
        assert sum(count for stage, count in stages.items() if stage not in ("CLOSED_WON", "CLOSED_LOST")) > 0
        assert len(set(Opportunity.objects.values_list("currency", flat=True))) > 1
        # acme shows a second deal pipeline, its deals in its own stages
        renewals = Opportunity.objects.filter(pipeline__name="Renewals")
        assert created["renewals"] == renewals.count() > 0
        assert set(renewals.values_list("pipeline_stage__pipeline__name", flat=True)) == {"Renewals"}
        assert renewals.values("pipeline_stage").distinct().count() > 1
        assert Lead.objects.filter(converted_at__isnull=False).exists()
        open_tasks = Task.objects.filter(status=TaskStatus.OPEN)
        assert open_tasks.filter(due_at__lt=now).exists()  # overdue
        assert Task.objects.filter(status=TaskStatus.DONE).exists()
        # time in stage is not all zero: stages were entered on many different days
        moved = Lead.objects.exclude(stage=Stage.NEW).values_list("stage_changed_at__date", flat=True)
        assert len(set(moved)) > 10
        span = Activity.objects.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
        assert span["last"] - span["first"] > timedelta(days=90)
        emails = Activity.objects.filter(type=ActivityType.EMAIL)
        threads = Counter(emails.values_list("thread_id", flat=True))
        assert max(threads.values()) >= 2
        assert Activity.objects.filter(account__isnull=False, type=ActivityType.CALL).exists()
        assert Activity.objects.filter(account__isnull=False, type=ActivityType.NOTE).exists()
        past_day = timezone.localdate() - timedelta(days=30)
        assert PipelineSnapshot.objects.filter(date=past_day).exists()
        assert Sequence.objects.count() == 1 and Rule.objects.count() == 2
        assert list(Endpoint.objects.values_list("is_active", flat=True)) == [False]
        # every amount the demo shows converts at the rate of its own day: nothing is left unconverted
        assert ExchangeRate.objects.values("valid_from").distinct().count() >= 5
        for currency, created_at in Lead.objects.values_list("currency", "created_at"):
            assert exchange_rate_get(currency=currency, on_date=created_at.date()) is not None
        for currency, created_at in Opportunity.objects.values_list("currency", "created_at"):
            assert exchange_rate_get(currency=currency, on_date=created_at.date()) is not None
        counts = (Account.objects.count(), Task.objects.count(), Activity.objects.count())

    assert set(seed_customers(organization=org).values()) == {0}  # a second run adds nothing
    with schema_context(org.schema_name):
        assert (Account.objects.count(), Task.objects.count(), Activity.objects.count()) == counts


def test_snapshots_are_taken_as_of_today_whatever_moment_the_history_ended_on(org, member, monkeypatch):
    """The seed clock stays wherever the last seeded event put it; the snapshots of past days are taken as
    seen from today (the analytics service refuses to back-fill 'days to come' of a clock set in the past)."""
    from tenant_apps.demo import customers

    def history_ending_a_month_ago(rng, *, team, clock, now):  # type: ignore[no-untyped-def]
        clock.set(now - timedelta(days=30))
        return 1

    monkeypatch.setattr(customers, "_accounts", history_ending_a_month_ago)
    member(role=Role.MANAGER)
    created = seed_customers(organization=org)  # raised InvalidInput("date_to", ...) before
    assert created["accounts"] == 1


def test_the_demo_webhook_endpoint_exists_disabled_where_private_urls_are_refused(org, member, settings):
    """Production refuses private URLs and the demo's host need not resolve: the endpoint is stored disabled
    with a public-looking https URL all the same, and being disabled it gets no delivery."""
    from tenant_apps.demo import customers
    from tenant_apps.webhooks.models import Delivery

    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    admin = member(role=Role.ADMIN)
    with schema_context(org.schema_name):
        assert customers._endpoint(admin) == 1
        endpoint = Endpoint.objects.get()
        assert (endpoint.url, endpoint.is_active) == ("https://hooks.example.com/leadpulse", False)
        assert endpoint.disabled_at is not None
        assert not Delivery.objects.exists()


def test_demo_rates_cover_the_history_in_the_base_currency(org):
    from datetime import date
    from decimal import Decimal

    from tenant_apps.demo.rates import seed_rates

    today = date(2026, 6, 30)
    with schema_context(org.schema_name):
        assert org.default_currency == "USD"
        assert seed_rates(base="USD", today=today) == 18  # EUR, GBP, CAD on 6 dates
        first = today - timedelta(days=181)  # before the first seeded record
        eur = list(ExchangeRate.objects.filter(currency="EUR").order_by("valid_from"))
        assert (eur[0].valid_from, eur[0].rate) == (first, Decimal("1.08"))
        assert len({rate.rate for rate in eur}) == 6  # they drift
        assert exchange_rate_get(currency="GBP", on_date=today) == Decimal("1.27") * Decimal("0.989")
        assert seed_rates(base="JPY", today=today) == 0  # a base the demo has no rates for
