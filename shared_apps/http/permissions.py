"""Who may do what, enforced once for every organization endpoint (OrganizationView uses it).

Roles rank viewer < rep < manager < admin. A view declares the least role for reading (`read_role`, default
viewer) and for writing (`write_role`, default rep); so viewers are read-only everywhere and a new endpoint is
safe by default. An API key narrows further: a read-only key cannot write, a key limited to some resources
cannot touch the others (a view's `resource`, by default the first segment of its /api/ path; the names are
those each app declares in `api_key_resources` on its AppConfig), and only a key with the admin scope may
change who and what acts for the organization (views with `manages_access`: members, API keys, webhooks),
whatever its creator's role."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from shared_apps.users.models import ApiKey, ApiKeyScope, Role

RANK: dict[str, int] = {Role.VIEWER: 0, Role.REP: 1, Role.MANAGER: 2, Role.ADMIN: 3}


def has_role(user: Any, role: str) -> bool:
    return RANK.get(str(getattr(user, "role", "")), -1) >= RANK[role]


class RolePermission(permissions.BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        safe = request.method in permissions.SAFE_METHODS
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None:
            if not safe and key.scope == ApiKeyScope.READ:
                self.message = "This API key is read-only."
                return False
            if not safe and getattr(view, "manages_access", False) and key.scope != ApiKeyScope.ADMIN:
                self.message = (
                    "Managing members, API keys and webhooks needs a member's own sign-in or an API key "
                    "with the admin scope."
                )
                return False
            # the view's resource, else the API path's first segment: /api/leads/7/ -> "leads"
            segments = request.path.strip("/").split("/")
            resource = getattr(view, "resource", None) or (segments[1] if len(segments) > 1 else None)
            if key.resources and resource not in key.resources:
                self.message = f"This API key does not cover {resource or 'this endpoint'}."
                return False
        needed = getattr(view, "read_role", Role.VIEWER) if safe else getattr(view, "write_role", Role.REP)
        if not has_role(request.user, needed):
            self.message = f"This needs the {needed} role or higher."
            return False
        return True
