"""Every page of the Django admin answers a signed-in operator on the root domain: each registered
ModelAdmin's changelist, add and change page (found by walking admin.site, not listed by hand)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import Model
from django.urls import reverse

from shared_apps.organizations.models import Organization
from shared_apps.users.models import User
from tests.conftest import client_for

URLCONF = "config.urls_public"
REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _admin_url(model: type[Model], page: str, *args: object) -> str:
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}"
    return reverse(name, args=args, urlconf=URLCONF)


@pytest.fixture
def operator_client(operator: User, org: Organization):  # type: ignore[no-untyped-def]
    """Signed in on the root domain, with a row of every registered model to open (the organizations are
    provisioned for the session, the operator is a user)."""
    Group.objects.create(name="support")
    client = client_for(None)
    client.force_login(operator)
    return client


def test_the_admin_index_answers_a_signed_in_operator(operator_client) -> None:  # type: ignore[no-untyped-def]
    response = operator_client.get(reverse("admin:index", urlconf=URLCONF))
    assert response.status_code == 200
    assert b"Organizations" in response.content


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_every_admin_page_answers_a_signed_in_operator(operator_client, model, model_admin) -> None:  # type: ignore[no-untyped-def]
    request = operator_client.get(reverse("admin:index", urlconf=URLCONF)).wsgi_request
    assert operator_client.get(_admin_url(model, "changelist")).status_code == 200

    if not model._meta.managed:
        return  # an admin-only entry without rows (django-rq's queue dashboard): its changelist is the page

    add = operator_client.get(_admin_url(model, "add"))
    assert add.status_code == (200 if model_admin.has_add_permission(request) else 403)

    record = model_admin.get_queryset(request).first()
    assert record is not None, f"no {model._meta.label} to open"
    assert operator_client.get(_admin_url(model, "change", record.pk)).status_code == 200
    assert operator_client.get(_admin_url(model, "history", record.pk)).status_code == 200
