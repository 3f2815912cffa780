from django.urls import path

from tenant_apps.opportunities.api import views

urlpatterns = [
    path("opportunities/", views.OpportunityListView.as_view(), name="opportunities"),
    path("opportunities/<int:opportunity_id>/", views.OpportunityDetailView.as_view(), name="opportunity"),
    path(
        "opportunities/<int:opportunity_id>/restore/",
        views.OpportunityRestoreView.as_view(),
        name="opportunity-restore",
    ),
    path(
        "opportunities/<int:opportunity_id>/stage/",
        views.OpportunityStageView.as_view(),
        name="opportunity-stage",
    ),
    path(
        "opportunities/<int:opportunity_id>/notes/",
        views.OpportunityNotesView.as_view(),
        name="opportunity-notes",
    ),
    path(
        "opportunities/<int:opportunity_id>/activities/",
        views.OpportunityActivitiesView.as_view(),
        name="opportunity-activities",
    ),
]
