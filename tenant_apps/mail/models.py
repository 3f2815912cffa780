from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.files.storage import Storage, storages
from django.db import models
from django.db.models import Q
from django.utils import timezone


def mail_storage() -> Storage:
    """The "mail" storage (settings.STORAGES): raw messages and attachments."""
    return storages["mail"]


class SmtpSecurity(models.TextChoices):
    NONE = "none", "None (plain SMTP)"
    STARTTLS = "starttls", "STARTTLS"
    TLS = "tls", "Implicit TLS (SMTPS)"


class MailSettings(models.Model):
    """The organization's email settings: one row per schema (id 1), made on the first change.

    The organization's own SMTP server (tenant_apps.mail.smtp): when `smtp_enabled`, members' emails and
    sequence steps go through it instead of the platform's. Its password is sealed at rest
    (shared_apps.core.sealed; the column's name keeps it out of organization exports) and never returned."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # A message to the dropbox from an address no lead or contact has makes a lead of its sender.
    create_leads_from_unknown = models.BooleanField(default=False)
    smtp_enabled = models.BooleanField(default=False)
    smtp_host = models.CharField(max_length=253, blank=True, default="")
    smtp_port = models.PositiveIntegerField(default=587)
    smtp_security = models.CharField(
        max_length=16, choices=SmtpSecurity.choices, default=SmtpSecurity.STARTTLS
    )
    smtp_username = models.CharField(max_length=254, blank=True, default="")
    smtp_password_secret = models.TextField(blank=True, default="")  # sealed
    # Domains the server may send From (its SPF/DKIM): a member whose address is elsewhere sends From
    # `smtp_from_address` under their own name. Empty: any address.
    smtp_from_domains = ArrayField(models.CharField(max_length=253), default=list, blank=True)
    smtp_from_address = models.CharField(max_length=254, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="mail_settings_singleton")]

    def __str__(self) -> str:
        return "email settings"


class ReplyThread(models.Model):
    """What a per-message reply address (shared_apps.mailroute.addresses.reply_address) leads to: the record
    and the thread of the message that carried it, so a reply lands there whoever writes it."""

    lead = models.ForeignKey("leads.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message_id = models.CharField(max_length=300)
    thread_id = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | Q(contact__isnull=False), name="reply_thread_on_a_record"
            )
        ]

    def __str__(self) -> str:
        return f"reply thread {self.pk}"


class InboundStatus(models.TextChoices):
    RECEIVED = "received", "Received, not yet processed"
    RECORDED = "recorded", "Recorded on timelines"
    UNMATCHED = "unmatched", "No lead or contact has any of its addresses"
    BOUNCE = "bounce", "A delivery status notification"
    LOOP = "loop", "Our own message, come back"
    MALFORMED = "malformed", "Not a parseable message"


class InboundMessage(models.Model):
    """One message received for this organization, kept as it arrived (`raw_name` in the mail storage).
    The Message-ID is unique: a second delivery of the same message is not processed again."""

    message_id = models.CharField(max_length=300, unique=True)
    raw_name = models.CharField(max_length=300)
    size = models.PositiveIntegerField(default=0)
    mail_from = models.CharField(max_length=254, blank=True, default="")
    recipients = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=300, blank=True, default="")
    status = models.CharField(max_length=16, choices=InboundStatus.choices, default=InboundStatus.RECEIVED)
    # what processing did: activity ids, bounced addresses, the reason it was set aside
    outcome = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["-received_at"], name="inbound_received_idx")]

    def __str__(self) -> str:
        return self.message_id


class Attachment(models.Model):
    """A file that came with an email, on the EMAIL activity it came on (downloaded at
    /api/attachments/<id>/ by members who may see that activity's record). An email recorded on two
    records has a row on each activity, both naming one stored file."""

    # No database constraint, as for SentStep.activity: the timeline's append-only trigger must stay what
    # refuses a TRUNCATE of activities.
    activity = models.ForeignKey(
        "activities.Activity",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    message = models.ForeignKey(InboundMessage, null=True, on_delete=models.SET_NULL, related_name="+")
    # stored by the service under the organization's id (tenant_apps.mail.storage)
    file = models.FileField(storage=mail_storage, max_length=400)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    def as_metadata(self) -> dict[str, Any]:
        return {"id": self.pk, "name": self.name, "content_type": self.content_type, "size": self.size}


class BouncedAddress(models.Model):
    """An address mail to which came back undelivered (an RFC 3464 report, action "failed"): every lead and
    contact with it is bouncing. Sequences skip it and members see it on the record's timeline."""

    address = models.CharField(max_length=254, unique=True)  # lower case
    first_bounced_at = models.DateTimeField(default=timezone.now)
    last_bounced_at = models.DateTimeField(default=timezone.now)
    bounces = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, blank=True, default="")  # e.g. 5.1.1
    diagnostic = models.CharField(max_length=500, blank=True, default="")

    def __str__(self) -> str:
        return self.address


class ImapSecurity(models.TextChoices):
    TLS = "tls", "Implicit TLS (IMAPS)"
    STARTTLS = "starttls", "STARTTLS"
    NONE = "none", "None (plain IMAP)"


class ImapMailbox(models.Model):
    """A member's own IMAP mailbox, polled (tenant_apps.mail.imap): each new message goes through the same
    parsing and threading as mail to the dropbox. `last_uid` is the highest UID processed under
    `uid_validity` (a new UIDVALIDITY starts over; Message-IDs keep that from recording anything twice).
    The password is sealed (shared_apps.core.sealed) and never returned."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(default=993)
    security = models.CharField(max_length=16, choices=ImapSecurity.choices, default=ImapSecurity.TLS)
    username = models.CharField(max_length=254)
    password_secret = models.TextField(blank=True, default="")  # sealed
    folder = models.CharField(max_length=200, default="INBOX")
    enabled = models.BooleanField(default=True)
    uid_validity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    messages_synced = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.username}@{self.host}"
