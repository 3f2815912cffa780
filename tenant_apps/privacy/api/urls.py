from django.urls import path

from tenant_apps.privacy.api import views

urlpatterns = [
    path("privacy/export/", views.PrivacyExportView.as_view(), name="privacy-export"),
    path("privacy/erase/", views.PrivacyEraseView.as_view(), name="privacy-erase"),
    path("do-not-contact/", views.DoNotContactListView.as_view(), name="do-not-contact"),
    path(
        "do-not-contact/<int:entry_id>/", views.DoNotContactDetailView.as_view(), name="do-not-contact-entry"
    ),
]
