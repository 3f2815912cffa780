"""Notifying members: in-app rows, plus an email through Django's email framework when asked."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from shared_apps.core.events import DomainEvent, subscribe
from shared_apps.organizations.context import current_organization, organization_context
from shared_apps.users.models import Role, User
from tenant_apps.notifications.models import Notification

logger = logging.getLogger(__name__)


def notify(
    *,
    recipient: User,
    kind: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    key: str = "",
    email: bool = False,
) -> Notification:
    """Notify a member once per `key` (when given): calling again with the same key returns the first
    notification and sends nothing. With `email`, the member also gets an email after the row commits
    (sent at most once: `emailed_at` is set under a row lock)."""
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                recipient=recipient, kind=kind, title=title[:300], body=body, data=data or {}, key=key[:200]
            )
    except IntegrityError:
        return Notification.objects.get(recipient=recipient, key=key[:200])
    if email and recipient.email:
        organization = current_organization()  # the callback may run after another one was entered

        def send() -> None:
            with organization_context(organization):
                notification_email(notification_id=notification.pk)

        transaction.on_commit(send)
    return notification


def notification_email(*, notification_id: int) -> bool:
    """Email a notification to its recipient unless already emailed. Returns whether an email went out."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .select_related("recipient")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or notification.emailed_at is not None:
            return False
        send_mail(
            subject=f"[LeadPulse] {notification.title}",
            message=notification.body or notification.title,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notification.recipient.email],
        )
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
    return True


def notifications_mark_read(*, recipient: User, ids: list[int] | None = None) -> int:
    """Mark the member's notifications read (all unread ones when `ids` is None); returns how many."""
    unread = Notification.objects.filter(recipient=recipient, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


PLAN_LIMIT_LABELS = {
    "members": "members",
    "records": "records",
    "storage_mb": "MB of storage",
    "api_requests_per_minute": "API requests per minute",
    "imports_per_day": "imports per day",
    "webhook_endpoints": "webhook endpoints",
}


def plan_limit_nearing(event: DomainEvent) -> None:
    """Warn the organization's admins that it reached 80% of a plan limit: once per limit, maximum and period
    (the event's `key`), however often the event comes."""
    data = event.data
    label = PLAN_LIMIT_LABELS.get(data["limit"], data["limit"])
    with organization_context(event.schema_name):
        for admin in User.objects.filter(role=Role.ADMIN, is_active=True):
            notify(
                recipient=admin,
                kind="plan_limit",
                title=f"Your plan's limit is nearly reached: {data['current']} of {data['max']} {label}",
                body="Ask your account manager or an operator for a larger plan before it is reached.",
                data={"limit": data["limit"], "max": data["max"], "current": data["current"]},
                key=data["key"],
            )


def subscribe_to_events() -> None:
    subscribe("plan.limit_nearing", plan_limit_nearing)
