from django.urls import path

from tenant_apps.reminders.api import views

urlpatterns = [
    path("settings/follow-ups/", views.FollowUpSettingsView.as_view(), name="follow-up-settings"),
]
