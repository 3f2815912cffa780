from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from shared_apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The platform's audit log (the admin lives on the root domain, in the public schema): read-only, as the
    table itself is append-only."""

    list_display = ["at", "action", "actor_email", "via", "ip", "target_type", "target_repr"]
    list_filter = ["action", "via"]
    search_fields = ["action", "actor_email", "target_repr"]
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
