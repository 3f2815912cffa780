from __future__ import annotations

from django.db import models

from shared_apps.organizations.models import Organization


class InboundMailbox(models.Model):
    """An organization's dropbox address, `<local_part>@<INBOUND_DOMAIN>`: members BCC or forward mail to
    it. The random part keeps the address from being guessed from the slug; the local part is unique over
    the platform and never reused (a purged organization's row goes with it, its address does not return
    because the random part is new)."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="inbound_mailbox"
    )
    local_part = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.local_part
