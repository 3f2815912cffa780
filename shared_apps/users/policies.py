"""Rules other apps add to signing in with a password, without the users app importing them (an organization's
single sign-on may forbid passwords for its members). A rule raises an AppError to refuse; the API answers it,
the sign-in page shows its message."""

from __future__ import annotations

from collections.abc import Callable

from shared_apps.users.models import User

PasswordRule = Callable[[User], None]
_rules: list[PasswordRule] = []


def password_sign_in_rule(rule: PasswordRule) -> PasswordRule:
    """Register `rule` (from an AppConfig.ready); registering it twice keeps one."""
    if rule not in _rules:
        _rules.append(rule)
    return rule


def password_sign_in_check(user: User) -> None:
    """Raise the first refusal of a registered rule for a user whose password was right (password sign-in
    and, when there is one, a password reset ask this)."""
    for rule in _rules:
        rule(user)
