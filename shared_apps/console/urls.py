from django.urls import path

from shared_apps.console import two_factor, views

app_name = "console"

urlpatterns = [
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("sign-in/two-factor/", two_factor.sign_in_second_step, name="sign-in-two-factor"),
    path("settings/two-factor/", two_factor.two_factor_settings, name="two-factor"),
    path("", views.organizations, name="organizations"),
    path("organizations/", views.provision, name="provision"),
    path("organizations/<slug:slug>/status/", views.set_status, name="status"),
    path("organizations/<slug:slug>/usage/", views.organization_usage, name="usage"),
    path("plans/", views.plan_list, name="plans"),
    path("plans/move/", views.organization_plan, name="organization-plan"),
    path("plans/<slug:slug>/", views.plan_update, name="plan"),
    path("audit-log/", views.audit_log, name="audit-log"),
]
