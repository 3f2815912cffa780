"""Members' URLs, under /api/me/two-factor/ on an organization's host."""

from django.urls import path

from shared_apps.mfa.api import views

urlpatterns = [
    path("", views.TwoFactorStatusView.as_view(), name="two-factor"),
    path("setup/", views.TwoFactorSetupView.as_view(), name="two-factor-setup"),
    path("confirm/", views.TwoFactorConfirmView.as_view(), name="two-factor-confirm"),
    path("recovery-codes/", views.RecoveryCodesView.as_view(), name="two-factor-recovery-codes"),
    path("disable/", views.TwoFactorDisableView.as_view(), name="two-factor-disable"),
]
