"""A user's browser sessions and API tokens: listed to their owner, ended one by one or all at once.

Django's session store cannot be searched by user, so sign-in writes a UserSession row naming the session key;
ending a session deletes it from the store (the cookie then signs nobody in) and drops the row."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from shared_apps.core.db import connection
from shared_apps.core.errors import NotFound
from shared_apps.http.throttling import client_address
from shared_apps.users.models import AuthToken, User, UserSession
from shared_apps.users.services import member_sign_out_everywhere
from shared_apps.users.signals import credentials_revoked

# Writing last_seen_at on every request would turn each page into a write; once a minute is enough.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
_SEEN_KEY = "_lp_seen"


def _store(session_key: str | None = None) -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store


def _ip(request: HttpRequest) -> str | None:
    try:
        return str(ipaddress.ip_address(client_address(request)))
    except ValueError:
        return None


def session_record(*, request: HttpRequest, user: User) -> UserSession | None:
    """Remember the request's session as `user`'s (at sign-in, and for a session signed in before rows were
    written). Its key is the one login() cycled to."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    if not session.session_key:
        session.save()
    now = timezone.now()
    row, _ = UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "ip": _ip(request),
            "user_agent": str(request.META.get("HTTP_USER_AGENT", ""))[:300],
            "last_seen_at": now,
        },
    )
    session[_SEEN_KEY] = now.timestamp()
    return row


def session_stay_signed_in(*, request: HttpRequest, user: User) -> None:
    """After a new password: keep the request's session signed in (Django's update_session_auth_hash, which
    gives it a new key) and its row with it."""
    from django.contrib.auth import update_session_auth_hash

    previous = request.session.session_key
    update_session_auth_hash(request, user)
    moved = UserSession.objects.filter(session_key=previous).update(session_key=request.session.session_key)
    if not moved:
        session_record(request=request, user=user)


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # members' sessions only: operators (the public schema) have no security page to list theirs on
    if connection.schema_name == get_public_schema_name():
        return
    if request is not None and isinstance(user, User):
        session_record(request=request, user=user)


def on_user_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        UserSession.objects.filter(session_key=session.session_key).delete()


class SessionSeenMiddleware:
    """After AuthenticationMiddleware: keeps the signed-in session's row (last seen, address) at most a minute
    stale, creating it for a session signed in before rows were written. The session remembers when it
    last wrote, so most requests cost no query."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        # only a request the session itself signed in (not a token or key), still signed in after the view
        if (
            isinstance(user, User)
            and user.is_authenticated
            and session is not None
            and session.session_key
            and getattr(request, "tenant", None) is not None
            and session.get("_auth_user_id") == str(user.pk)
        ):
            seen = session.get(_SEEN_KEY)
            if (
                not isinstance(seen, float)
                or timezone.now().timestamp() - seen > LAST_SEEN_RESOLUTION.seconds
            ):
                session_record(request=request, user=user)  # SessionMiddleware saves the session
        return response


def sessions_of(user: User) -> QuerySet[UserSession]:
    return UserSession.objects.filter(user=user).order_by("-last_seen_at")


def sessions_live(user: User) -> list[UserSession]:
    """The user's sessions that still sign them in: rows of sessions that expired, were signed out, or that a
    new password or a raised session epoch ended are dropped on the way."""
    live: list[UserSession] = []
    dead: list[UserSession] = []
    expected = user.get_session_auth_hash()
    for row in sessions_of(user):
        data = _store(row.session_key).load()  # {} for a session expired or deleted
        signs_in = data.get("_auth_user_id") == str(user.pk) and data.get("_auth_user_hash") == expected
        (live if signs_in else dead).append(row)
    if dead:
        UserSession.objects.filter(pk__in=[row.pk for row in dead]).delete()
    return live


def _end(rows: list[UserSession]) -> int:
    for row in rows:
        _store(row.session_key).delete()
    UserSession.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows)


def session_end(*, user: User, session_id: int) -> UserSession:
    """End one of `user`'s sessions (another user's is NotFound)."""
    row = UserSession.objects.filter(user=user, pk=session_id).first()
    if row is None:
        raise NotFound("No such session.", code="session_not_found")
    _end([row])
    return row


def sessions_end_others(*, user: User, keep_session_key: str | None) -> int:
    """End every session of `user` but the one named (the caller's own); returns how many ended."""
    rows = list(sessions_of(user).exclude(session_key=keep_session_key or ""))
    return _end(rows)


def tokens_of(user: User) -> QuerySet[AuthToken]:
    return AuthToken.objects.filter(user=user).order_by("-created_at")


def token_revoke_own(*, user: User, token_id: int) -> AuthToken:
    token = AuthToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("No such token.", code="token_not_found")
    token.delete()
    credentials_revoked.send(sender=AuthToken, user_id=user.pk)
    return token


def tokens_revoke_others(*, user: User, keep: AuthToken | None) -> int:
    others = tokens_of(user).exclude(pk=keep.pk) if keep is not None else tokens_of(user)
    deleted, _ = others.delete()
    if deleted:
        credentials_revoked.send(sender=AuthToken, user_id=user.pk)
    return deleted


@transaction.atomic
def member_sessions_end(*, member_id: int) -> tuple[User, int, int]:
    """An admin ends every session and token of a member (who stays a member and may sign in again): the
    session epoch is raised too, so a session without a row ends as well. Returns the member and how many
    sessions and tokens ended."""
    user = User.objects.select_for_update().filter(pk=member_id).first()
    if user is None:
        raise NotFound("No such member.", code="member_not_found")
    ended = sessions_end_others(user=user, keep_session_key=None)
    tokens = tokens_of(user).count()
    member_sign_out_everywhere(user=user)
    return user, ended, tokens
