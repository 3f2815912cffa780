from django.urls import path

from tenant_apps.contacts.api import views

urlpatterns = [
    path("contacts/", views.ContactListView.as_view(), name="contacts"),
    path("contacts/<int:contact_id>/", views.ContactDetailView.as_view(), name="contact"),
    path("contacts/<int:contact_id>/restore/", views.ContactRestoreView.as_view(), name="contact-restore"),
    path("contacts/<int:contact_id>/purge/", views.ContactPurgeView.as_view(), name="contact-purge"),
    path("contacts/<int:contact_id>/notes/", views.ContactNotesView.as_view(), name="contact-notes"),
    path(
        "contacts/<int:contact_id>/activities/",
        views.ContactActivitiesView.as_view(),
        name="contact-activities",
    ),
]
