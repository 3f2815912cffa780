"""Host → organization resolution, cached so a warm request costs no SQL query for it.

Entries live in the `platform` cache (not namespaced per schema: routing happens before any schema is
chosen) and are dropped whenever an organization or one of its domains is saved or deleted: at once, and
again when the transaction commits, so a concurrent request cannot re-cache the state being replaced.

The route is read from Redis on every request (a suspended organization is refused at once), and in the same
round trip (one MGET) the keys later steps of the request will need from the organization's namespace
(`read_with_route`: the credentials generation), found by the organization id this process last saw for the
host. The values are kept for the rest of the request (`route_read`) when the route names that organization
still; otherwise those steps read them themselves. Writes that may wait ride the same round trip
(`write_with_route`: the usage counts of earlier requests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

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


_companions: list[Callable[[int], str]] = []
_riders: list[Callable[[Any], None]] = []
# count(request, organization_id, pipeline) -> (commands added, accept(their results)) or None
Counter = Callable[[Any, int, Any], "tuple[int, Callable[[list[Any]], None]] | None"]
_counters: list[Counter] = []
_finishers: list[Callable[[], None]] = []
_LAST_SEEN_MAX = 10_000
_last_seen: dict[str, int] = {}  # host -> the organization id its route last named, in this process
_read: ContextVar[dict[str, Any] | None] = ContextVar("route_read", default=None)


def read_with_route(key_for: Callable[[int], str]) -> None:
    """Read the Redis key `key_for(organization_id)` in each request's routing round trip (see route_read)."""
    _companions.append(key_for)


def write_with_route(add: Callable[[Any], None]) -> None:
    """Call `add(pipeline)` in each request's routing round trip, to add the writes it has waiting."""
    _riders.append(add)


def count_with_route(count: Counter, finish: Callable[[], None]) -> None:
    """Let `count(request, organization_id, pipeline)` add commands to each request's routing round trip,
    for the organization the host named last time in this process (before the route confirms it); its
    `accept(results)` runs only when the route names that organization still (the results are then the
    request's, through route_take). `finish()` runs when the request's response is ready."""
    _counters.append(count)
    _finishers.append(finish)


def route_take(key: str) -> Any:
    """Remove and return what the routing round trip left under `key` for this request (None if nothing)."""
    values = _read.get()
    return None if values is None else values.pop(key, None)


def route_leave(key: str, value: Any) -> None:
    """Leave `value` under `key` for the rest of this request (route_take)."""
    values = _read.get()
    if values is not None:
        values[key] = value


def route_finish() -> None:
    """The request's response is ready: let every counter settle what its request did not use."""
    for finish in _finishers:
        finish()


def route_read(key: str) -> tuple[bool, bytes | None]:
    """(True, raw value) when this request's routing round trip read `key` for the request's organization;
    (False, None) otherwise (outside a request, a cold route, a host that moved to another organization)."""
    values = _read.get()
    if values is None or key not in values:
        return False, None
    return True, values[key]


def route_remember(key: str, raw: bytes | None) -> None:
    """Keep a value read later in the request (another round trip) for route_read, for the rest of it."""
    values = _read.get()
    if values is not None:
        values[key] = raw


def route_forget(key: str) -> None:
    """The request changed `key`: what its routing round trip read of it is stale for the rest of it."""
    values = _read.get()
    if values is not None:
        values.pop(key, None)


@contextmanager
def request_reads() -> Iterator[None]:
    """The request's scope for route_read: nothing read for one request is seen by the next (a thread serves
    many) nor by code running after it."""
    token = _read.set(None)
    try:
        yield
    finally:
        _read.reset(token)


def organization_for_host(host: str, request: Any = None) -> Organization | None:
    cache = _cache()
    route_key = cache.make_key(_key(host))
    expected = _last_seen.get(host)
    companions = [key_for(expected) for key_for in _companions] if expected is not None else []
    pipe = cache._cache.get_client(write=True).pipeline(transaction=False)
    pipe.mget([route_key, *companions])
    for add in _riders:  # before the counters: a count taken back is back before this request counts
        add(pipe)
    first_counted = len(pipe)
    counted: list[tuple[int, Callable[[list[Any]], None]]] = []
    if expected is not None and request is not None:
        for count in _counters:
            added = count(request, expected, pipe)
            if added is not None:
                counted.append(added)
    results = pipe.execute(raise_on_error=False)
    raw = results[0]
    if isinstance(raw, Exception):
        raise raw
    cached = None if raw[0] is None else cache._cache._serializer.loads(raw[0])
    matches = cached is not None and cached != _MISSING and cached.pk == expected
    if matches or counted:
        # a counter's results stay with the request whoever the route names: its finish() settles those its
        # request did not use (counted for an organization this host no longer names, say)
        _read.set(dict(zip(companions, raw[1:], strict=True)) if matches else {})
        position = first_counted
        for size, accept in counted:
            accept(results[position : position + size])
            position += size
    if cached == _MISSING:
        return None
    if cached is not None:
        if cached.pk != expected:
            _remember(host, cached.pk)
        return cached
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    if domain is None:
        cache.set(_key(host), _MISSING, MISSING_TTL)
        return None
    cache.set(_key(host), domain.tenant, ROUTE_TTL)
    _remember(host, domain.tenant.pk)
    return domain.tenant


def _remember(host: str, organization_id: int) -> None:
    if len(_last_seen) >= _LAST_SEEN_MAX:
        _last_seen.clear()  # a flood of hosts: start over rather than grow without bound
    _last_seen[host] = organization_id


def forget_hosts(hosts: Iterable[str]) -> None:
    keys = [_key(host) for host in hosts]
    if not keys:
        return
    _cache().delete_many(keys)
    transaction.on_commit(lambda: _cache().delete_many(keys))


@receiver([post_save, post_delete], sender=Organization)
def _organization_changed(sender: type, instance: Organization, **kwargs: Any) -> None:
    forget_hosts(Domain.objects.filter(tenant_id=instance.pk).values_list("domain", flat=True))


@receiver([post_save, post_delete], sender=Domain)
def _domain_changed(sender: type, instance: Domain, **kwargs: Any) -> None:
    forget_hosts([instance.domain])
