"""Reads of the mail app: the organization's email settings, attachments as their records' visibility
allows, bouncing addresses."""

from __future__ import annotations

from shared_apps.mailroute.addresses import dropbox_address
from shared_apps.organizations.context import current_organization
from shared_apps.users.models import User
from tenant_apps.mail.exceptions import AttachmentNotFound
from tenant_apps.mail.models import Attachment, BouncedAddress, ImapMailbox, MailSettings
from tenant_apps.records.visibility import activities_for


def mail_settings_get() -> MailSettings:
    """The organization's settings; the defaults (unsaved) until an admin first changes them."""
    return MailSettings.objects.select_related("updated_by").filter(pk=1).first() or MailSettings()


def inbound_address() -> str:
    """The current organization's dropbox address (made on first use)."""
    return dropbox_address(current_organization())


def attachment_get(*, actor: User | None, attachment_id: int) -> Attachment:
    """An attachment whose email the actor may see (visible exactly when its activity's record is); a
    hidden one answers like a missing one."""
    attachment = (
        Attachment.objects.filter(pk=attachment_id, activity__in=activities_for(actor).values("pk"))
        .select_related("activity")
        .first()
    )
    if attachment is None:
        raise AttachmentNotFound(id=attachment_id)
    return attachment


def imap_mailbox_get(*, actor: User) -> ImapMailbox | None:
    """The member's own IMAP mailbox, if they connected one."""
    return ImapMailbox.objects.filter(user=actor).first()


def address_bouncing(address: str) -> bool:
    return BouncedAddress.objects.filter(address=(address or "").strip().lower()).exists()
