from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tenant_apps.tasks"
    label = "tasks"
    api_key_resources = ("tasks",)  # see LeadsConfig
