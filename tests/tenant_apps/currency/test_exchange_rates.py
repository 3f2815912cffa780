from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.currency import selectors
from tenant_apps.currency.models import ExchangeRate

URL = "/api/settings/exchange-rates/"


def test_an_admin_sets_lists_and_deletes_rates(org, api):
    client = api(Role.ADMIN)
    made = client.post(URL, {"currency": "jpy", "rate": "0.0067", "valid_from": "2026-01-01"}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["currency"] == "JPY"
    again = client.post(URL, {"currency": "JPY", "rate": "0.0070", "valid_from": "2026-01-01"}, format="json")
    assert again.json()["id"] == made.json()["id"]  # the same day is replaced, not duplicated
    listed = client.get(URL).json()
    assert listed["base_currency"] == "USD"
    assert [(r["currency"], r["rate"]) for r in listed["results"]] == [("JPY", "0.0070000000")]
    assert client.delete(f"{URL}{made.json()['id']}/").status_code == 204
    assert client.get(URL).json()["results"] == []


def test_bad_rates_are_400_naming_the_field(org, api):
    client = api(Role.ADMIN)
    for body, field in [
        ({"currency": "JPY", "rate": "0", "valid_from": "2026-01-01"}, "rate"),
        ({"currency": "JPY", "rate": "-1", "valid_from": "2026-01-01"}, "rate"),
        ({"currency": "JPY", "rate": "x", "valid_from": "2026-01-01"}, "rate"),
        ({"currency": "J1Y", "rate": "1", "valid_from": "2026-01-01"}, "currency"),
        ({"currency": "USD", "rate": "2", "valid_from": "2026-01-01"}, "currency"),
        ({"currency": "JPY", "rate": "1", "valid_from": "soon"}, "valid_from"),
    ]:
        response = client.post(URL, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert field in response.json()["errors"], (body, response.json())


def test_only_admins_write_rates(org, api):
    body = {"currency": "JPY", "rate": "0.0067", "valid_from": "2026-01-01"}
    assert api(Role.MANAGER).post(URL, body, format="json").status_code == 403
    assert api(Role.VIEWER).get(URL).status_code == 200


def test_csv_import_is_all_or_nothing(org, api):
    client = api(Role.ADMIN)

    def upload(text: str):
        file = SimpleUploadedFile("rates.csv", text.encode(), content_type="text/csv")
        return client.post(f"{URL}import/", {"file": file}, format="multipart")

    bad = upload("currency,rate,valid_from\nEUR,1.1,2026-01-01\nGBP,0,2026-01-01\n")
    assert bad.status_code == 400
    assert "line 3: rate" in bad.json()["errors"]
    assert client.get(URL).json()["results"] == []
    assert upload("currency,valid_from\n").json()["errors"].keys() == {"file"}
    good = upload("currency,rate,valid_from\nEUR,1.1,2026-01-01\nEUR,1.2,2026-02-01\n")
    assert good.json() == {"imported": 2}, good.content


def test_conversion_uses_the_rate_in_force_on_the_day(org):
    with schema_context(org.schema_name):
        ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.1"), valid_from=date(2026, 1, 1))
        ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.2"), valid_from=date(2026, 2, 1))
        assert selectors.convert(currency="EUR", amount=Decimal(100), on_date=date(2026, 1, 31)) == Decimal(
            "110.0"
        )
        assert selectors.convert(currency="eur", amount=Decimal(100), on_date=date(2026, 2, 1)) == Decimal(
            "120.0"
        )
        assert selectors.convert(currency="EUR", amount=Decimal(100), on_date=date(2025, 12, 31)) is None
        assert selectors.convert(currency="JPY", amount=Decimal(100), on_date=date(2026, 2, 1)) is None
        assert selectors.convert(currency="USD", amount=Decimal(100), on_date=date(2020, 1, 1)) == Decimal(
            100
        )
        rows = (
            ExchangeRate.objects.filter(valid_from=date(2026, 2, 1))
            .annotate(previous=selectors.rate_on(currency_field="currency", on_date=date(2026, 1, 15)))
            .values_list("previous", flat=True)
        )
        assert list(rows) == [Decimal("1.1")]
