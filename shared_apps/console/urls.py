from django.urls import path

from shared_apps.console import directory, two_factor, views

app_name = "console"

urlpatterns = [
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("sign-in/two-factor/", two_factor.sign_in_second_step, name="sign-in-two-factor"),
    path("settings/two-factor/", two_factor.two_factor_settings, name="two-factor"),
    path("", directory.organizations, name="organizations"),
    path("dashboard/", directory.platform_dashboard, name="dashboard"),
    path("organizations/", views.provision, name="provision"),
    path("bulk/", directory.bulk_review, name="bulk-review"),
    path("bulk/confirm/", directory.bulk_apply, name="bulk-apply"),
    path("bulk/<int:operation_id>/", directory.bulk_operation, name="bulk-operation"),
    path("organizations/<slug:slug>/", directory.organization_page, name="organization"),
    path("organizations/<slug:slug>/status/", views.set_status, name="status"),
    path("organizations/<slug:slug>/usage/", directory.organization_page, name="usage"),
    path("organizations/<slug:slug>/support/", directory.support_open, name="support"),
    path("plans/", views.plan_list, name="plans"),
    path("plans/move/", views.organization_plan, name="organization-plan"),
    path("plans/<slug:slug>/", views.plan_update, name="plan"),
    path("audit-log/", views.audit_log, name="audit-log"),
]
