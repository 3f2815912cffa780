from django.urls import path

from tenant_apps.activities.api import views as activity_views

# under a lead, next to the leads app's routes (tenant_apps.leads.api.urls)
urlpatterns = [
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
