from shared_apps.core.errors import Conflict, Forbidden, NotFound


class EndpointNotFound(NotFound):
    code = "webhook_not_found"
    message = "No such webhook endpoint."


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"
    message = "No such delivery for this webhook endpoint."


class WebhooksAdminOnly(Forbidden):
    code = "webhooks_admin_only"
    message = "Only an admin can see or change webhook endpoints."


class EndpointDisabled(Conflict):
    code = "webhook_disabled"
    message = "The endpoint is disabled; enable it first."


class DeliveryInProgress(Conflict):
    code = "delivery_in_progress"
    message = "This delivery is being sent right now."
