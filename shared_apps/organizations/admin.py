from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from shared_apps.core.errors import AppError
from shared_apps.organizations import services
from shared_apps.organizations.models import Domain, Organization, OrganizationStatus


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    readonly_fields = ["domain", "is_primary", "created_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    """Read-mostly: every change goes through the organization services (provisioning is the API/CLI)."""

    list_display = ["slug", "name", "status", "plan", "created_at"]
    list_filter = ["status", "plan"]
    search_fields = ["slug", "name"]
    # the time zone is the organization admin's (/api/settings/organization/): shown, not edited, here
    readonly_fields = ["slug", "schema_name", "status", "time_zone", "created_at", "deleted_at"]
    fields = [
        "name",
        "slug",
        "schema_name",
        "status",
        "plan",
        "default_currency",
        "time_zone",
        "created_at",
        "deleted_at",
    ]
    inlines = [DomainInline]
    actions = ["suspend", "reactivate"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return super().get_queryset(request).exclude(status=OrganizationStatus.TEMPLATE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Organization, form: object, change: bool) -> None:
        # the form has already set obj's fields: the service compares them with the stored row
        stored = Organization.objects.get(pk=obj.pk)
        services.organization_update(organization=stored, name=obj.name, plan=obj.plan, request=request)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Organization], status: str) -> None:
        for organization in queryset:
            try:
                services.organization_set_status(organization=organization, status=status, request=request)
            except AppError as exc:
                self.message_user(request, f"{organization.slug}: {exc.message}", messages.ERROR)

    @admin.action(description="Suspend selected organizations")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        self._set_status(request, queryset, OrganizationStatus.SUSPENDED)

    @admin.action(description="Reactivate selected organizations")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        self._set_status(request, queryset, OrganizationStatus.ACTIVE)
