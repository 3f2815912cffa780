from django.urls import path

from tenant_apps.mail.api import mailbox, outbound, views

urlpatterns = [
    path("settings/email/", views.EmailSettingsView.as_view(), name="email-settings"),
    path(
        "settings/email/smtp-test/",
        views.EmailSettingsSmtpTestView.as_view(),
        name="email-settings-smtp-test",
    ),
    path("me/mailbox/", mailbox.MailboxView.as_view(), name="me-mailbox"),
    path("attachments/<int:attachment_id>/", views.AttachmentDownloadView.as_view(), name="attachment"),
    path("leads/<int:lead_id>/emails/send/", outbound.LeadEmailSendView.as_view(), name="lead-email-send"),
    path(
        "contacts/<int:contact_id>/emails/send/",
        outbound.ContactEmailSendView.as_view(),
        name="contact-email-send",
    ),
]
