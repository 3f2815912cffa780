"""The settings page for money: admins list the exchange rates with the day each applies from, add one,
import a CSV file of them and change the base currency while no rate is quoted in it; every change is in the
audit log; every other role gets 403 and changes nothing."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role
from tenant_apps.currency import services as currency_services
from tenant_apps.currency.models import ExchangeRate

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def rates(org):
    with schema_context(org.schema_name):
        return sorted(ExchangeRate.objects.values_list("currency", "rate", "valid_from"))


def audited(org, action):
    with schema_context(org.schema_name):
        return list(AuditEvent.objects.filter(action=action).values("actor_email", "via", "changes"))


def test_admins_see_the_rates_with_their_days_and_the_settings_link(web, org):
    with schema_context(org.schema_name):
        currency_services.exchange_rate_set(currency="EUR", rate=Decimal("1.08"), valid_from=date(2026, 1, 1))
        currency_services.exchange_rate_set(currency="EUR", rate=Decimal("1.1"), valid_from=date(2026, 3, 1))
    page = web(Role.ADMIN).get("/settings/currency/")
    assert page.status_code == 200
    text = page.content.decode()
    assert '<span id="base-currency">USD</span>' in text
    assert "<td>EUR</td><td>1.1</td><td>2026-03-01</td>" in text
    assert "<td>EUR</td><td>1.08</td><td>2026-01-01</td>" in text
    assert 'href="/settings/"' in text  # the nav's one settings link, whose index lists the page
    assert 'href="/settings/currency/"' in web(Role.ADMIN).get("/settings/").content.decode()
    assert 'href="/settings/currency/"' not in web(Role.MANAGER).get("/settings/").content.decode()


def test_an_admin_adds_a_rate_and_it_is_audited(web, org):
    client = web(Role.ADMIN)
    response = client.post(
        "/settings/currency/rates/", {"currency": "gbp", "rate": "1.27", "valid_from": "2026-02-01"}
    )
    assert (response.status_code, response["Location"]) == (302, "/settings/currency/")
    assert rates(org) == [("GBP", Decimal("1.27"), date(2026, 2, 1))]
    [event] = audited(org, "exchange_rate.created")
    assert event["via"] == "web" and event["actor_email"] == client.user.email
    assert event["changes"] == {"currency": "GBP", "rate": "1.27", "valid_from": "2026-02-01"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "GBP", "rate": "0", "valid_from": "2026-02-01"}, "rate"),
        ({"currency": "GBP", "rate": "abc", "valid_from": "2026-02-01"}, "rate"),
        ({"currency": "GB", "rate": "1.2", "valid_from": "2026-02-01"}, "currency"),
        ({"currency": "USD", "rate": "1.2", "valid_from": "2026-02-01"}, "currency"),  # the base
        ({"currency": "GBP", "rate": "1.2", "valid_from": "someday"}, "valid_from"),
        ({"currency": "GBP", "rate": "1.2"}, "valid_from"),
    ],
)
def test_a_bad_rate_is_a_400_naming_the_field_and_nothing_is_written(web, org, body, field):
    client = web(Role.ADMIN)
    response = client.post("/settings/currency/rates/", body, **FETCH)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    shown = client.post("/settings/currency/rates/", body, follow=True)  # a browser: the flash message
    assert shown.status_code == 200 and b'class="msg error"' in shown.content
    assert rates(org) == [] and audited(org, "exchange_rate.created") == []


def test_an_admin_imports_a_rates_file(web, org):
    client = web(Role.ADMIN)
    csv = b"currency,rate,valid_from\nEUR,1.08,2026-01-01\nCAD,0.73,2026-01-01\n"
    response = client.post(
        "/settings/currency/import/", {"file": SimpleUploadedFile("rates.csv", csv, "text/csv")}, follow=True
    )
    assert b"2 exchange rates imported." in response.content
    assert rates(org) == [
        ("CAD", Decimal("0.73"), date(2026, 1, 1)),
        ("EUR", Decimal("1.08"), date(2026, 1, 1)),
    ]
    assert audited(org, "exchange_rate.imported")[0]["changes"] == {"imported": 2, "file_name": "rates.csv"}


def test_a_bad_rates_file_names_the_line_and_writes_nothing(web, org):
    client = web(Role.ADMIN)
    csv = b"currency,rate,valid_from\nEUR,1.08,2026-01-01\nCAD,-1,2026-01-01\n"
    response = client.post(
        "/settings/currency/import/", {"file": SimpleUploadedFile("rates.csv", csv, "text/csv")}, **FETCH
    )
    assert response.status_code == 400 and "line 3: rate" in response.json()["errors"]
    missing = client.post("/settings/currency/import/", {}, **FETCH)
    assert missing.status_code == 400 and "file" in missing.json()["errors"]
    assert rates(org) == []


def test_the_base_currency_changes_while_no_rate_is_quoted_in_it(web, org):
    client = web(Role.ADMIN)
    response = client.post("/settings/currency/base/", {"base_currency": "eur"}, follow=True)
    assert b"The base currency is EUR." in response.content
    assert Organization.objects.get(pk=org.pk).default_currency == "EUR"
    assert audited(org, "settings.changed")[0]["changes"] == {"base_currency": ["USD", "EUR"]}
    assert '<span id="base-currency">EUR</span>' in client.get("/settings/currency/").content.decode()

    client.post("/settings/currency/rates/", {"currency": "USD", "rate": "0.93", "valid_from": "2026-01-01"})
    refused = client.post("/settings/currency/base/", {"base_currency": "GBP"}, **FETCH)
    assert refused.status_code == 400 and "base_currency" in refused.json()["errors"]
    assert Organization.objects.get(pk=org.pk).default_currency == "EUR"
    bad = client.post("/settings/currency/base/", {"base_currency": "E1"}, **FETCH)
    assert bad.status_code == 400 and "base_currency" in bad.json()["errors"]


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.VIEWER])
def test_other_roles_get_403_and_change_nothing(web, org, role):
    client = web(role)
    assert client.get("/settings/currency/").status_code == 403
    csv = SimpleUploadedFile("rates.csv", b"currency,rate,valid_from\nEUR,1.08,2026-01-01\n", "text/csv")
    for path, body in (
        ("/settings/currency/rates/", {"currency": "GBP", "rate": "1.27", "valid_from": "2026-02-01"}),
        ("/settings/currency/import/", {"file": csv}),
        ("/settings/currency/base/", {"base_currency": "EUR"}),
    ):
        assert client.post(path, body).status_code == 403
        assert client.post(path, body, **FETCH).status_code == 403
    assert rates(org) == []
    assert Organization.objects.get(pk=org.pk).default_currency == "USD"
