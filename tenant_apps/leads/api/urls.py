from django.urls import path

from tenant_apps.activities.api import views as activity_views
from tenant_apps.leads.api import conversion_views, views

urlpatterns = [
    path("leads/", views.LeadListView.as_view(), name="leads"),
    path("leads/<int:lead_id>/", views.LeadDetailView.as_view(), name="lead"),
    path("leads/<int:lead_id>/restore/", views.LeadRestoreView.as_view(), name="lead-restore"),
    path("leads/<int:lead_id>/purge/", views.LeadPurgeView.as_view(), name="lead-purge"),
    path("leads/<int:lead_id>/transition/", views.LeadTransitionView.as_view(), name="lead-transition"),
    path("leads/<int:lead_id>/convert/", conversion_views.LeadConvertView.as_view(), name="lead-convert"),
    path(
        "leads/<int:lead_id>/stage-history/", views.LeadStageHistoryView.as_view(), name="lead-stage-history"
    ),
    path("leads/<int:lead_id>/notes/", views.LeadNotesView.as_view(), name="lead-notes"),
    path(
        "leads/<int:lead_id>/activities/", activity_views.LeadActivitiesView.as_view(), name="lead-activities"
    ),
    path("leads/<int:lead_id>/emails/", activity_views.LeadEmailsView.as_view(), name="lead-emails"),
    path(
        "leads/<int:lead_id>/email-threads/",
        activity_views.LeadEmailThreadsView.as_view(),
        name="lead-email-threads",
    ),
]
