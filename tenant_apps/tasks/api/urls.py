from django.urls import path

from tenant_apps.tasks.api import views

urlpatterns = [
    path("tasks/", views.TaskListView.as_view(), name="tasks"),
    path("tasks/overdue/", views.TaskOverdueView.as_view(), name="tasks-overdue"),
    path("tasks/<int:task_id>/", views.TaskDetailView.as_view(), name="task"),
    path("tasks/<int:task_id>/complete/", views.TaskCompleteView.as_view(), name="task-complete"),
    path("tasks/<int:task_id>/cancel/", views.TaskCancelView.as_view(), name="task-cancel"),
    path("tasks/<int:task_id>/reopen/", views.TaskReopenView.as_view(), name="task-reopen"),
]
