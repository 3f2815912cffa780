from django.urls import path

from tenant_apps.dedupe.api import views

urlpatterns = [
    path("leads/merge/", views.LeadMergeView.as_view(), name="lead-merge"),
    path("contacts/merge/", views.ContactMergeView.as_view(), name="contact-merge"),
    path("accounts/merge/", views.AccountMergeView.as_view(), name="account-merge"),
    path("leads/<int:lead_id>/duplicates/", views.LeadDuplicatesView.as_view(), name="lead-duplicates"),
    path(
        "contacts/<int:contact_id>/duplicates/",
        views.ContactDuplicatesView.as_view(),
        name="contact-duplicates",
    ),
    path(
        "accounts/<int:account_id>/duplicates/",
        views.AccountDuplicatesView.as_view(),
        name="account-duplicates",
    ),
]
