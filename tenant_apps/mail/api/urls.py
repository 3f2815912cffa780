from django.urls import path

from tenant_apps.mail.api import views

urlpatterns = [
    path("settings/email/", views.EmailSettingsView.as_view(), name="email-settings"),
    path("attachments/<int:attachment_id>/", views.AttachmentDownloadView.as_view(), name="attachment"),
]
