"""Everything an organization keeps outside its schema is namespaced by its id, and removed when it is purged.

Slugs and schema names come back: once an organization is deleted its slug is free, and a new organization
under it gets the same schema name. Its id never comes back. So cache entries (idempotency replays, throttle
counters, cached reads) and export files are filed under the id: a newcomer under an old slug can never read,
replay or collide with what its predecessor left, and the purge finds all of it by one prefix.

Inside a request the connection's tenant is the Organization row. Jobs enter the schema by name
(`schema_context`), whose tenant is a stand-in without an id: the id is then looked up by schema name once
per entry into the schema and kept on that stand-in (jobs running with the real Organization as tenant make
the lookup unnecessary). Nothing is kept per process, so a schema name reused after a purge is never filed
under its predecessor's id."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django_tenants.utils import get_public_schema_name

from shared_apps.core.db import connection
from shared_apps.organizations.models import Organization

SCAN_BATCH = 1000
_MEMO = "_leadpulse_organization_id"


def current_organization_id() -> int | None:
    """The id of the organization whose schema is active; None in the public schema (or a schema no
    organization owns)."""
    schema_name = connection.schema_name
    if schema_name == get_public_schema_name():
        return None
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Organization) and tenant.pk is not None and tenant.schema_name == schema_name:
        return int(tenant.pk)
    if tenant is not None and getattr(tenant, "schema_name", None) == schema_name and hasattr(tenant, _MEMO):
        return getattr(tenant, _MEMO)  # type: ignore[no-any-return]
    organization_id = (
        Organization.objects.filter(schema_name=schema_name).values_list("pk", flat=True).first()
    )
    if tenant is not None and getattr(tenant, "schema_name", None) == schema_name:
        setattr(tenant, _MEMO, organization_id)  # schema_context's stand-in lives as long as this entry
    return organization_id


def _namespace(organization_id: int) -> str:
    return f"o{organization_id}"


def current_namespace() -> str:
    """`o<id>` for an organization, `public` for the platform, `s:<schema>` for a schema no row owns."""
    schema_name = connection.schema_name
    if schema_name == get_public_schema_name():
        return "public"
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
    """Remove what an organization left outside its schema: its cache entries and its export files."""
    cache_forget(organization_id)
    shutil.rmtree(exports_dir(organization_id), ignore_errors=True)
