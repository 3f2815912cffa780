from django.urls import path

from tenant_apps.accounts.api import views

urlpatterns = [
    path("accounts/", views.AccountListView.as_view(), name="accounts"),
    path("accounts/<int:account_id>/", views.AccountDetailView.as_view(), name="account"),
    path("accounts/<int:account_id>/restore/", views.AccountRestoreView.as_view(), name="account-restore"),
    path("accounts/<int:account_id>/purge/", views.AccountPurgeView.as_view(), name="account-purge"),
    path("accounts/<int:account_id>/status/", views.AccountStatusView.as_view(), name="account-status"),
    path(
        "accounts/<int:account_id>/status-history/",
        views.AccountStatusHistoryView.as_view(),
        name="account-status-history",
    ),
    path("accounts/<int:account_id>/notes/", views.AccountNotesView.as_view(), name="account-notes"),
    path(
        "accounts/<int:account_id>/activities/",
        views.AccountActivitiesView.as_view(),
        name="account-activities",
    ),
]
