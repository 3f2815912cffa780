from django.urls import path

from tenant_apps.sequences.api import views

urlpatterns = [
    path("sequences/", views.SequenceListView.as_view(), name="sequences"),
    path("sequences/<int:sequence_id>/", views.SequenceDetailView.as_view(), name="sequence"),
    path("sequences/<int:sequence_id>/enroll/", views.SequenceEnrollView.as_view(), name="sequence-enroll"),
    path(
        "sequences/<int:sequence_id>/enrollments/",
        views.SequenceEnrollmentsView.as_view(),
        name="sequence-enrollments",
    ),
    path(
        "enrollments/<int:enrollment_id>/unenroll/",
        views.EnrollmentUnenrollView.as_view(),
        name="enrollment-unenroll",
    ),
]
