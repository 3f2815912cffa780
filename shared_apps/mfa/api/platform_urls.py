"""Operators' URLs, under /api/platform/me/two-factor/ on the root domain: the members' views, for
operators."""

from django.urls import path

from shared_apps.http.api import IsOperator
from shared_apps.mfa.api import views

OPERATORS = {"permission_classes": [IsOperator, views.OwnCredentials], "throttle_classes": []}

urlpatterns = [
    path("", views.TwoFactorStatusView.as_view(**OPERATORS), name="platform-two-factor"),
    path("setup/", views.TwoFactorSetupView.as_view(**OPERATORS), name="platform-two-factor-setup"),
    path("confirm/", views.TwoFactorConfirmView.as_view(**OPERATORS), name="platform-two-factor-confirm"),
    path(
        "recovery-codes/",
        views.RecoveryCodesView.as_view(**OPERATORS),
        name="platform-two-factor-recovery-codes",
    ),
    path("disable/", views.TwoFactorDisableView.as_view(**OPERATORS), name="platform-two-factor-disable"),
]
