"""Everything an organization keeps outside its schema is namespaced by its id, and removed when it is purged.

Slugs and schema names come back: once an organization is deleted its slug is free, and a new organization
under it gets the same schema name. Its id never comes back. So cache entries (idempotency replays, throttle
counters, cached reads) and export files are filed under the id: a newcomer under an old slug can never read,
replay or collide with what its predecessor left, and the purge finds all of it by one prefix.

Requests, jobs, streams and commands run with the Organization row as the connection's tenant
(shared_apps.organizations.context), so the id is at hand; under django-tenants' `schema_context` (tests, a
shell) the context reads the row once per entry. Nothing is kept per process, so a schema name reused after
a purge is never filed under its predecessor's id."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections
from django_tenants.utils import get_public_schema_name

from shared_apps.organizations.context import current_organization_or_none
from shared_apps.organizations.models import Organization

SCAN_BATCH = 1000


def current_organization_id() -> int | None:
    """The id of the organization whose schema is active; None in the public schema (or a schema no
    organization owns)."""
    organization = current_organization_or_none()
    return int(organization.pk) if organization is not None else None


def _namespace(organization_id: int) -> str:
    return f"o{organization_id}"


def current_namespace() -> str:
    """`o<id>` for an organization, `public` for the platform, `s:<schema>` for a schema no row owns."""
    # every cache key is made here (several per request): the connection is looked up once (each attribute
    # read through django.db.connection looks it up in the thread's connections again)
    wrapper: Any = connections[DEFAULT_DB_ALIAS]  # django-tenants' wrapper (shared_apps.core.db)
    schema_name = wrapper.schema_name
    if schema_name == get_public_schema_name():
        return "public"
    tenant = getattr(wrapper, "tenant", None)
    if isinstance(tenant, Organization):  # entered through the organization context: the row is at hand
        return _namespace(tenant.pk)
    organization_id = current_organization_id()
    return _namespace(organization_id) if organization_id is not None else f"s:{schema_name}"


def cache_key(key: str, key_prefix: str, version: int) -> str:
    """The default cache's KEY_FUNCTION: `<prefix>:<namespace>:<version>:<key>`."""
    return f"{key_prefix}:{current_namespace()}:{version}:{key}"


def exports_dir(organization_id: int | None = None) -> Path:
    """The directory of an organization's export files (the current organization's by default)."""
    organization_id = organization_id if organization_id is not None else current_organization_id()
    if organization_id is None:
        raise RuntimeError("Export files belong to an organization; none is active.")
    return Path(settings.EXPORTS_DIR) / str(organization_id)


def organization_cache_key(organization_id: int, key: str, cache: Any) -> str:
    """The Redis key of `key` in an organization's namespace of `cache` (the default cache or one built
    from its settings), whatever schema is active now: what cache_key gives inside that organization."""
    return f"{cache.key_prefix}:{_namespace(organization_id)}:{cache.version}:{key}"


def _escape_glob(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


def cache_forget(organization_id: int) -> int:
    """Delete every default-cache entry of an organization (SCAN by its prefix, never KEYS, which blocks
    Redis while it walks every key); returns how many were deleted."""
    cache: Any = caches["default"]
    prefix = cache.key_prefix
    client = cache._cache.get_client(write=True)
    pattern = f"{_escape_glob(prefix)}:{_namespace(organization_id)}:*"
    deleted = 0
    batch: list[Any] = []
    for key in client.scan_iter(match=pattern, count=SCAN_BATCH):
        batch.append(key)
        if len(batch) >= SCAN_BATCH:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def leftovers_remove(organization_id: int) -> None:
    """Remove what an organization left outside its schema: its cache entries, its export files and its
    mail files (raw inbound messages, attachments)."""
    from shared_apps.mailroute.files import mail_files_remove  # the mail app builds on this one

    cache_forget(organization_id)
    shutil.rmtree(exports_dir(organization_id), ignore_errors=True)
    mail_files_remove(organization_id)
