"""Customer records read from the database are built without Model.__init__ (CustomerRecord.from_db), into
the very instances Django's own path builds; deferred fields and init signal receivers take Django's path."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model
from django.db.models.signals import post_init

from tenant_apps.accounts.models import Account
from tenant_apps.contacts.models import Contact
from tenant_apps.leads import selectors
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.opportunities.services import opportunity_create


def _as_django_builds(model: type[Model], instance: Model) -> Model:
    values = [getattr(instance, field.attname) for field in model._meta.concrete_fields]
    names = [field.attname for field in model._meta.concrete_fields]
    return Model.from_db.__func__(model, instance._state.db, names, values)  # type: ignore[attr-defined]


def _same(one: Model, other: Model) -> None:
    assert type(one) is type(other)
    assert list(vars(one)) == list(vars(other))
    assert {k: v for k, v in vars(one).items() if k != "_state"} == {
        k: v for k, v in vars(other).items() if k != "_state"
    }
    assert (one._state.adding, one._state.db) == (other._state.adding, other._state.db) == (False, "default")


@pytest.fixture
def records(in_org, make_lead, admin):
    make_lead(name="Owned", owner_id=admin.pk, tags=["a"], value="12.50", email="o@example.test")
    make_lead(name="Unowned")
    account = Account.objects.create(name="Initech")
    Contact.objects.create(name="Peter", account=account)
    opportunity_create(actor=admin, name="Deal", account_id=account.pk, amount="100")


@pytest.mark.parametrize("model", [Lead, Account, Contact, Opportunity])
def test_a_record_read_is_the_instance_django_builds(records, model):
    for instance in model._default_manager.all():
        _same(instance, _as_django_builds(model, instance))


def test_a_page_of_leads_is_built_without_model_init(records, admin, monkeypatch):
    calls: list[Any] = []
    init = Lead.__init__

    def counting(self: Lead, *args: Any, **kwargs: Any) -> None:
        calls.append(args)
        init(self, *args, **kwargs)

    monkeypatch.setattr(Lead, "__init__", counting)
    page = list(selectors.lead_list(actor=admin, filters={}).order_by("-created_at", "-id"))
    assert len(page) == 2 and calls == []
    owned = next(lead for lead in page if lead.name == "Owned")
    assert owned.owner == admin and owned.tags == ["a"] and str(owned.value) == "12.50"
    owned.name = "Renamed"  # an instance read this way saves, refreshes and defers like any other
    owned.save(update_fields=["name"])
    owned.refresh_from_db()
    assert owned.name == "Renamed"


def test_deferred_fields_and_init_receivers_take_djangos_path(records, monkeypatch):
    deferred = Lead.objects.only("id", "name").get(name="Unowned")
    assert deferred.get_deferred_fields() >= {"email", "tags"} and deferred.email == ""
    seen: list[Model] = []

    def receiver(sender: Any, instance: Model, **kwargs: Any) -> None:
        seen.append(instance)

    post_init.connect(receiver, sender=Lead)
    try:
        read = Lead.objects.get(name="Unowned")
    finally:
        post_init.disconnect(receiver, sender=Lead)
    assert seen == [read]
