from django.urls import path

from shared_apps.console import views

app_name = "console"

urlpatterns = [
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("", views.organizations, name="organizations"),
    path("organizations/", views.provision, name="provision"),
    path("organizations/<slug:slug>/status/", views.set_status, name="status"),
    path("audit-log/", views.audit_log, name="audit-log"),
]
