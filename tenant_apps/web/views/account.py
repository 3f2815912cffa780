"""A member's account lifecycle in the browser: accepting an invitation, forgetting a password, confirming a
new email (pages anyone with the link may open), the security page (sessions, tokens, email) and the admins'
members page (invite, resend, revoke, end a member's sessions)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import AppError, Forbidden, NotFound
from shared_apps.http.permissions import has_role
from shared_apps.http.throttling import sign_in_wait
from shared_apps.organizations.context import current_organization, support_sessions_of
from shared_apps.users import email_change, invitations, passwords, sessions
from shared_apps.users.models import Invitation, Role, User
from tenant_apps.web.views.base import member, member_required

UNUSABLE = {
    "accepted": "This invitation was already used. Sign in with the password you chose.",
    "revoked": "This invitation was revoked by an admin of the organization.",
    "expired": "This invitation has expired. Ask an admin of the organization to send a new one.",
    "invalid": "This invitation link is not valid. Check that you copied all of it.",
}


def _page(
    request: HttpRequest, *, title: str, form: forms.Form | None = None, status: int = 200, **context: object
) -> HttpResponse:
    return render(request, "web/account_page.html", {"title": title, "form": form, **context}, status=status)


def _add_errors(form: forms.Form, error: AppError) -> None:
    field = getattr(error, "field", None)
    form.add_error(field if field in form.fields else None, error.message)


class AcceptForm(forms.Form):
    full_name = forms.CharField(max_length=200, label="Your name")
    password = forms.CharField(
        max_length=200, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the form (or why the link no longer works); POST: create the member and sign them in."""
    invitation = invitations.invitation_for_token(token)
    status = invitation.status() if invitation is not None else "invalid"
    if status != "pending":
        return _page(request, title="Invitation", message=UNUSABLE[status], status=410)
    assert invitation is not None
    form = AcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                invitation, user = invitations.invitation_accept(raw_token=token, **form.cleaned_data)
                audit_record(
                    "invitation.accepted",
                    request=request,
                    actor=user,
                    target=invitation,
                    changes={"email": user.email, "role": user.role},
                )
        except invitations.InvitationUnusable as exc:
            return _page(request, title="Invitation", message=UNUSABLE[exc.details["status"]], status=410)
        except AppError as exc:
            _add_errors(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to {request.tenant.name}.")  # type: ignore[attr-defined]
            return redirect("web:dashboard")
    return _page(
        request,
        title=f"Join {request.tenant.name}",  # type: ignore[attr-defined]
        form=form,
        intro=f"You were invited as {invitation.get_role_display()} with {invitation.email}.",
        button="Join",
        status=400 if form.errors else 200,
    )


class EmailForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    """Forgot password: the same answer for every email; counted with the sign-in attempts."""
    form = EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        wait = sign_in_wait(request, form.cleaned_data["email"])
        if wait is not None:
            form.add_error(None, f"Too many attempts. Try again in {int(wait)} seconds.")
            return _page(request, title="Forgot your password?", form=form, button="Send link", status=429)
        passwords.password_reset_ask(request=request, email=form.cleaned_data["email"])
        return _page(
            request,
            title="Check your email",
            message="If this email belongs to an active member, a link to reset the password is on its way.",
        )
    return _page(
        request,
        title="Forgot your password?",
        form=form,
        intro="Enter your email: we send you a link to choose a new password.",
        button="Send link",
        status=400 if form.errors else 200,
    )


class NewPasswordForm(forms.Form):
    new_password = forms.CharField(
        max_length=200, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


@require_http_methods(["GET", "POST"])
def password_reset_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    if passwords.reset_user(uidb64, token) is None:
        return _page(
            request, title="Reset your password", message=passwords.ResetLinkInvalid.message, status=400
        )
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = passwords.password_reset_confirm(uidb64=uidb64, token=token, **form.cleaned_data)
        except AppError as exc:
            _add_errors(form, exc)
        else:
            audit_record("password.reset", request=request, actor=user, target=user)
            messages.success(request, "Your password was changed. Sign in with it.")
            return redirect("web:sign-in")
    return _page(
        request,
        title="Choose a new password",
        form=form,
        button="Set password",
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (a mail scanner following the link changes nothing); POST applies the new email."""
    if request.method == "POST":
        try:
            user, previous = email_change.email_change_confirm(token=token)
        except AppError as exc:
            return _page(request, title="Confirm your email", message=exc.message, status=400)
        audit_record(
            "email.changed",
            request=request,
            actor=user,
            target=user,
            changes={"from": previous, "to": user.email},
        )
        return _page(request, title="Email changed", message=f"Your email is now {user.email}.")
    return _page(
        request,
        title="Confirm your new email",
        form=forms.Form(),
        intro="Confirm that this address becomes the email you sign in with.",
        button="Confirm",
    )


# --- the security page --------------------------------------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def security(request: HttpRequest) -> HttpResponse:
    """Your sessions and tokens (end them), your email (change it), and a link to change your password."""
    user = member(request)
    form = EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new_email = email_change.email_change_request(user=user, new_email=form.cleaned_data["email"])
        except AppError as exc:
            _add_errors(form, exc)
        else:
            audit_record("email.change_requested", request=request, target=user, changes={"to": new_email})
            messages.success(request, f"A confirmation link was sent to {new_email}.")
            return redirect("web:security")
    context = {
        "sessions": sessions.sessions_live(user),
        "current_session": request.session.session_key,
        "tokens": sessions.tokens_of(user),
        "email_form": form,
        "nav": "security",
    }
    return render(request, "web/security.html", context, status=400 if form.errors else 200)


@member_required
@require_POST
def security_session_end(request: HttpRequest, session_id: int) -> HttpResponse:
    user = member(request)
    try:
        row = sessions.session_end(user=user, session_id=session_id)
    except AppError:
        return render(request, "web/not_found.html", {"what": "session"}, status=404)
    audit_record("session.ended", request=request, target=user, changes={"session": row.pk})
    messages.success(request, "The session was ended.")
    return redirect("web:security")


@member_required
@require_POST
def security_sessions_end_others(request: HttpRequest) -> HttpResponse:
    user = member(request)
    ended = sessions.sessions_end_others(user=user, keep_session_key=request.session.session_key)
    if ended:
        audit_record("session.ended", request=request, target=user, changes={"sessions": ended})
    messages.success(request, f"{ended} other session(s) ended.")
    return redirect("web:security")


@member_required
@require_POST
def security_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    user = member(request)
    try:
        sessions.token_revoke_own(user=user, token_id=token_id)
    except AppError:
        return render(request, "web/not_found.html", {"what": "token"}, status=404)
    audit_record("token.revoked", request=request, target=user, changes={"token": token_id})
    messages.success(request, "The token was revoked.")
    return redirect("web:security")


# --- the admins' members page -------------------------------------------------------------------------------


def _admin(request: HttpRequest) -> User:
    user = member(request)
    if not has_role(user, Role.ADMIN):
        raise Forbidden("Only admins manage members.")
    return user


class InviteForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput())
    role = forms.ChoiceField(choices=Role.choices, initial=Role.REP)


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "web/forbidden.html", {"what": "Only admins manage members."}, status=403)


@member_required
@require_http_methods(["GET", "POST"])
def members_page(request: HttpRequest) -> HttpResponse:
    """Members and invitations; the invite form (POST) sends an invitation."""
    try:
        admin = _admin(request)
    except Forbidden:
        return _forbidden(request)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                invitation = invitations.invitation_create(invited_by=admin, **form.cleaned_data)
                audit_record(
                    "member.invited",
                    request=request,
                    target=invitation,
                    changes={"email": invitation.email, "role": invitation.role},
                )
        except AppError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"An invitation was sent to {invitation.email}.")
            return redirect("web:members")
    context = {
        "members": User.objects.order_by("email"),
        "invitations": Invitation.objects.select_related("invited_by").order_by("-created_at")[:100],
        "invite_form": form,
        "nav": "members",
        "support_sessions": support_sessions_of(current_organization(), limit=10),
    }
    return render(request, "web/members.html", context, status=400 if form.errors else 200)


@member_required
@require_POST
def invitation_action(request: HttpRequest, invitation_id: int, action: str) -> HttpResponse:
    try:
        admin = _admin(request)
    except Forbidden:
        return _forbidden(request)
    try:
        with transaction.atomic():
            if action == "resent":
                invitation = invitations.invitation_resend(invitation_id=invitation_id, actor=admin)
            else:
                invitation = invitations.invitation_revoke(invitation_id=invitation_id)
            audit_record(
                f"invitation.{action}",
                request=request,
                target=invitation,
                changes={"email": invitation.email},
            )
    except NotFound:
        return render(request, "web/not_found.html", {"what": "invitation"}, status=404)
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The invitation of {invitation.email} was {action}.")
    return redirect("web:members")


@member_required
@require_POST
def member_sessions_end(request: HttpRequest, member_id: int) -> HttpResponse:
    try:
        _admin(request)
    except Forbidden:
        return _forbidden(request)
    try:
        user, ended, tokens = sessions.member_sessions_end(member_id=member_id)
    except NotFound:
        return render(request, "web/not_found.html", {"what": "member"}, status=404)
    audit_record("session.ended", request=request, target=user, changes={"sessions": ended, "tokens": tokens})
    messages.success(request, f"Every session and token of {user.email} was ended.")
    return redirect("web:members")
