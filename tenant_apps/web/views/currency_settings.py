"""Settings, money: the base currency and the exchange rates into it (admins only, as for the rates API),
through the currency app's services; every change lands in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import AppError, Forbidden, InvalidInput
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.currency import audit as currency_audit
from tenant_apps.currency import selectors as currency_selectors
from tenant_apps.currency import services as currency_services
from tenant_apps.web.views.base import is_fetch, member_required, parse

ADMINS_ONLY = "Exchange rates and the base currency are set by admins."
RATES_SHOWN = 500


class RateForm(forms.Form):
    currency = forms.CharField(min_length=3, max_length=3)
    rate = forms.DecimalField(max_digits=24, decimal_places=10, min_value=Decimal("0.0000000001"))
    valid_from = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


class RatesFileForm(forms.Form):
    file = forms.FileField(label="CSV file (currency,rate,valid_from)")


class BaseCurrencyForm(forms.Form):
    base_currency = forms.CharField(min_length=3, max_length=3)


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "web/forbidden.html", {"what": ADMINS_ONLY}, status=403)


@member_required
@require_GET
def currency_settings(request: HttpRequest) -> HttpResponse:
    """The base currency and every rate with the day it applies from, newest first per currency."""
    if not has_role(request.user, Role.ADMIN):
        return _forbidden(request)
    rates = list(currency_selectors.exchange_rate_list()[:RATES_SHOWN])
    context = {
        "base_currency": currency_selectors.base_currency(),
        "rates": [(rate, f"{rate.rate.normalize():f}") for rate in rates],
        "rate_form": RateForm(),
        "file_form": RatesFileForm(),
        "can_change_base": not rates,
        "nav": "settings",
    }
    return render(request, "web/currency_settings.html", context)


def _settings_action(request: HttpRequest, change: Callable[[], str]) -> HttpResponse:
    """Admins only; the change and its audit entry commit together; a domain or form error comes back as the
    flash message (JSON for scripts)."""
    try:
        if not has_role(request.user, Role.ADMIN):
            raise Forbidden(ADMINS_ONLY, code="admin_only")
        with transaction.atomic():
            message = change()
    except AppError as error:
        if is_fetch(request):
            return JsonResponse(error.as_body(), status=error.status_code)
        if isinstance(error, Forbidden):
            return _forbidden(request)
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("web:currency-settings"))
    if is_fetch(request):
        return JsonResponse({"message": message})
    messages.success(request, message)
    return HttpResponseRedirect(reverse("web:currency-settings"))


@member_required
@require_POST
def rate_add(request: HttpRequest) -> HttpResponse:
    def change() -> str:
        data = parse(RateForm, request.POST)
        rate = currency_services.exchange_rate_set(**data)
        currency_audit.rate_created(request, rate)
        base = currency_selectors.base_currency()
        return f"{rate.currency} is worth {rate.rate.normalize():f} {base} from {rate.valid_from}."

    return _settings_action(request, change)


@member_required
@require_POST
def rates_import(request: HttpRequest) -> HttpResponse:
    def change() -> str:
        form = RatesFileForm(request.POST, request.FILES)
        if not form.is_valid():
            raise InvalidInput("file", "Choose a CSV file.")
        upload = form.cleaned_data["file"]
        count = currency_services.exchange_rates_import(text=currency_audit.rates_file_text(upload))
        currency_audit.rates_imported(request, count=count, file_name=upload.name or "")
        return f"{count} exchange rate{'' if count == 1 else 's'} imported."

    return _settings_action(request, change)


@member_required
@require_POST
def base_currency_change(request: HttpRequest) -> HttpResponse:
    def change() -> str:
        code = parse(BaseCurrencyForm, request.POST)["base_currency"]
        previous, current = currency_services.base_currency_set(currency=code)
        if previous != current:
            audit_record("settings.changed", request=request, changes={"base_currency": [previous, current]})
        return f"The base currency is {current}."

    return _settings_action(request, change)
