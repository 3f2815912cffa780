"""Host → organization resolution, cached so a warm request costs no SQL query and no Redis round trip.

Entries live in the `platform` cache (not namespaced per schema: routing happens before any schema is
chosen), and each process keeps a copy of those it read (shared_apps.core.nearcache): a warm request reads
its route from memory. They are dropped whenever an organization or one of its domains is saved or deleted,
in Redis and in every process (nearcache.forget): at once, and again when the transaction commits, so a
concurrent request cannot re-cache the state being replaced. A suspended organization is refused by the
process that suspended it at its next request, and by the others as soon as the change's message reaches
them (pub/sub on the same Redis, a fraction of a millisecond here).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from shared_apps.core import nearcache
from shared_apps.organizations.models import Domain, Organization

ROUTE_TTL = 3600
MISSING_TTL = 30  # unknown hosts are cached briefly so a flood of them cannot hammer the database
_MISSING = "missing"


_route_cache: Any = None


def _cache() -> Any:
    # One process-wide client: under ASGI `caches[...]` is per request context, and a fresh client per
    # request would open a new Redis connection for every request.
    global _route_cache
    if _route_cache is None:
        _route_cache = caches.create_connection("platform")
    return _route_cache


def _key(host: str) -> str:
    return f"route:{host}"


def organization_for_host(host: str) -> Organization | None:
    """The organization served at `host` (None if none): a fresh instance for each call."""
    cache = _cache()
    raw = nearcache.read([cache.make_key(_key(host))])[0]
    if raw is not None:
        cached = cache._cache._serializer.loads(raw)
        return None if cached == _MISSING else cached
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    if domain is None:
        cache.set(_key(host), _MISSING, MISSING_TTL)
        return None
    cache.set(_key(host), domain.tenant, ROUTE_TTL)
    return domain.tenant


def forget_hosts(hosts: Iterable[str]) -> None:
    keys = [_key(host) for host in hosts]
    if not keys:
        return

    def forget() -> None:
        cache = _cache()
        cache.delete_many(keys)
        nearcache.forget(cache.make_key(key) for key in keys)

    forget()
    transaction.on_commit(forget)


@receiver([post_save, post_delete], sender=Organization)
def _organization_changed(sender: type, instance: Organization, **kwargs: Any) -> None:
    forget_hosts(Domain.objects.filter(tenant_id=instance.pk).values_list("domain", flat=True))


@receiver([post_save, post_delete], sender=Domain)
def _domain_changed(sender: type, instance: Domain, **kwargs: Any) -> None:
    forget_hosts([instance.domain])
