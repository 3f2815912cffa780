"""Signals of the users app, for apps that must react without being imported by it."""

from __future__ import annotations

from django.dispatch import Signal

# Sent (user_id=...) in the transaction that deactivates a member, changes their password or revokes one of
# their tokens, in the organization's schema: open real-time streams of that member check their credentials
# again at once.
credentials_revoked = Signal()
