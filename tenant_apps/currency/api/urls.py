from django.urls import path

from tenant_apps.currency.api import views

urlpatterns = [
    path("settings/exchange-rates/", views.ExchangeRateListView.as_view(), name="exchange-rates"),
    path(
        "settings/exchange-rates/import/",
        views.ExchangeRateImportView.as_view(),
        name="exchange-rates-import",
    ),
    path(
        "settings/exchange-rates/<int:rate_id>/", views.ExchangeRateDetailView.as_view(), name="exchange-rate"
    ),
]
