from django.urls import path

from shared_apps.organizations.api import views

urlpatterns = [
    path("dashboard/", views.DashboardView.as_view(), name="platform-dashboard"),
    path("organizations-bulk/", views.OrganizationBulkView.as_view(), name="platform-organizations-bulk"),
    path(
        "organizations-bulk/<int:operation_id>/",
        views.BulkOperationView.as_view(),
        name="platform-organizations-bulk-operation",
    ),
    path("plans/", views.PlanListView.as_view(), name="platform-plans"),
    path("plans/<str:slug>/", views.PlanDetailView.as_view(), name="platform-plan"),
    path("organizations/", views.OrganizationListView.as_view(), name="platform-organizations"),
    path("organizations/<str:slug>/", views.OrganizationDetailView.as_view(), name="platform-organization"),
    path(
        "organizations/<str:slug>/purge/",
        views.OrganizationPurgeView.as_view(),
        name="platform-organization-purge",
    ),
    path(
        "organizations/<str:slug>/usage/",
        views.OrganizationUsageView.as_view(),
        name="platform-organization-usage",
    ),
    path(
        "organizations/<str:slug>/support-sessions/",
        views.SupportSessionListView.as_view(),
        name="platform-support-sessions",
    ),
    path(
        "organizations/<str:slug>/support-sessions/<int:session_id>/",
        views.SupportSessionDetailView.as_view(),
        name="platform-support-session",
    ),
    path("organizations/<str:slug>/domains/", views.DomainListView.as_view(), name="platform-domains"),
    path(
        "organizations/<str:slug>/domains/<str:domain>/",
        views.DomainDetailView.as_view(),
        name="platform-domain",
    ),
]
