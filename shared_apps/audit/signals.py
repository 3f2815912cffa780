"""Sign-ins recorded in the log of the schema they happen in: a member's in their organization's, an
operator's (console, admin, platform API) in the platform's. Every session sign-in goes through Django's
login() and every refused password through authenticate(), so the receivers see them all, whatever page or
flow (password, 2FA, SSO: those flows set `request.auth_method` first); the API's token sign-in records its
success itself (shared_apps.users.api.views), as it opens no session."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from shared_apps.audit.services import audit_record, sign_in_method


@receiver(user_logged_in, dispatch_uid="audit_sign_in_succeeded")
def _signed_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if request is None:  # login() is always given one; a stray send() of the signal is no sign-in
        return
    audit_record(
        "sign_in.succeeded", request=request, actor=user, changes={"method": sign_in_method(request)}
    )


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def _sign_in_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # the credentials come cleansed (the password masked); only the email tried is kept, never the password
    email = str(credentials.get("username") or credentials.get("email") or "")[:254]
    audit_record(
        "sign_in.failed",
        request=request,
        changes={"email": email, "method": sign_in_method(request)},
    )
