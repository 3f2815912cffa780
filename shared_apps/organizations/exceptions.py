from shared_apps.core.errors import AppError, Conflict, NotFound


class MissingOrganizationContext(AppError):
    code = "missing_organization_context"
    message = "This work needs an organization and none is active (or it no longer exists)."


class SlugTaken(Conflict):
    code = "slug_taken"
    message = "An organization with this slug already exists."


class DomainTaken(Conflict):
    code = "domain_taken"
    message = "This domain is already in use."


class OrganizationNotFound(NotFound):
    code = "organization_not_found"
    message = "No such organization."


class DomainNotFound(NotFound):
    code = "domain_not_found"
    message = "No such domain on this organization."


class StatusChangeNotAllowed(Conflict):
    code = "status_change_not_allowed"
    message = "This organization cannot change to the requested status."


class PrimaryDomainRequired(Conflict):
    code = "primary_domain_required"
    message = "The primary domain cannot be removed."


class TemplateMissing(AppError):
    status_code = 503
    code = "template_missing"
    message = "The organization template schema is missing; run `manage.py platform_setup`."


class UsageNotCollected(NotFound):
    code = "usage_not_collected"
    message = "This organization's usage has not been collected yet (the usage job runs hourly)."
