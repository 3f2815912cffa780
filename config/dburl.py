"""Database URLs to Django settings dicts. Its own module, free of side effects, so that tools (devenv,
benches) can parse a URL without importing the settings module, which reads DATABASE_URL and
DATABASES_EXTRA once, when first imported."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlsplit


def database_from_url(url: str) -> dict:
    """Parse DATABASE_URL, including a Unix-socket host given as `?host=/path` (the embedded server)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return {
        "ENGINE": "shared_apps.core.postgresql",  # django-tenants' backend, see its docstring
        "NAME": parts.path.lstrip("/") or "leadpulse",
        "USER": parts.username or "postgres",
        "PASSWORD": parts.password or "",
        "HOST": query.pop("host", None) or parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": query,
        # Recycle connections: each schema touched grows the connection's catalog cache.
        "CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", "300")),
        "CONN_HEALTH_CHECKS": True,
    }


def databases_extra(value: str) -> dict[str, dict]:
    """DATABASES_EXTRA: `alias=postgres://...` pairs, separated by spaces or commas."""
    extra = {}
    for pair in value.replace(",", " ").split():
        alias, _, url = pair.partition("=")
        if not alias.isidentifier() or not url or alias in ("default", "primary"):
            raise ValueError(f"DATABASES_EXTRA: expected alias=postgres://..., got {pair!r}")
        extra[alias] = database_from_url(url)
    return extra
