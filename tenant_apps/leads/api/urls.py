from django.urls import path

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
]
