from django.urls import path, register_converter

from tenant_apps.tasks.models import TaskStatus
from tenant_apps.web import views


class IdConverter:
    """A record id: at most 18 digits, so no lookup can overflow a bigint."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class KindConverter:
    regex = "accounts|contacts|opportunities"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IdConverter, "web_id")
register_converter(KindConverter, "web_kind")

app_name = "web"

urlpatterns = [
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("password/", views.password_change, name="password"),
    path("", views.dashboard, name="dashboard"),
    path("pipeline/", views.pipeline, name="pipeline"),
    path("pipeline/summary/", views.pipeline_summary, name="pipeline-summary"),
    path("pipeline/cards/<web_id:lead_id>/", views.pipeline_card, name="pipeline-card"),
    path("leads/", views.lead_list, name="leads"),
    path("leads/new/", views.lead_create, name="lead-create"),
    path("leads/<web_id:lead_id>/", views.lead_detail, name="lead"),
    path("leads/<web_id:lead_id>/timeline/", views.lead_timeline, name="lead-timeline"),
    path("leads/<web_id:lead_id>/edit/", views.lead_edit, name="lead-edit"),
    path("leads/<web_id:lead_id>/move/", views.lead_move, name="lead-move"),
    path("leads/<web_id:lead_id>/notes/", views.lead_note, name="lead-note"),
    path("leads/<web_id:lead_id>/calls/", views.lead_call, name="lead-call"),
    path("leads/<web_id:lead_id>/assign/", views.lead_assign, name="lead-assign"),
    path("leads/<web_id:lead_id>/tasks/", views.lead_task, name="lead-task"),
    path("imports/", views.import_list, name="imports"),
    path("imports/upload/", views.import_upload, name="import-upload"),
    path("tasks/", views.task_list, name="tasks"),
    path(
        "tasks/<web_id:task_id>/complete/",
        views.task_status,
        {"to_status": TaskStatus.DONE},
        name="task-complete",
    ),
    path(
        "tasks/<web_id:task_id>/reopen/",
        views.task_status,
        {"to_status": TaskStatus.OPEN},
        name="task-reopen",
    ),
    path("<web_kind:kind>/", views.record_list, name="records"),
    path("<web_kind:kind>/<web_id:record_id>/", views.record_detail, name="record"),
    path("<web_kind:kind>/<web_id:record_id>/timeline/", views.record_timeline, name="record-timeline"),
    path("<web_kind:kind>/<web_id:record_id>/notes/", views.record_note, name="record-note"),
]
