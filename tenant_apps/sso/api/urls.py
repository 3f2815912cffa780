from django.urls import path

from tenant_apps.sso.api import views

urlpatterns = [
    path("settings/sso/", views.SsoSettingsView.as_view(), name="sso-settings"),
]
