"""Small cache entries of an organization that most requests read, fetched in the routing round trip.

A lead list page reads the stage labels and the custom field definitions; a lead write reads which events
webhooks and automation rules subscribe to: each was one Redis round trip of its own (~0.1 ms apiece here).
Keys registered with `cached_with_route` are read in the routing MGET (organizations.routing
`read_with_route`) for every request to a known organization, and `cache_get` serves them from it; outside a
request, or when the route was cold, it reads the cache as before. A request that changes such a key calls
`cache_read_forget`, so it never reads back what its own change replaced.

Values cached under a generation (`<what>:<generation>`, a new generation for every change) never change, so
each process also keeps the latest ones it read (`generation_memo`): with the generation read in the routing
round trip, such a value costs no round trip at all once warm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.core.cache import caches

from shared_apps.organizations.namespace import organization_cache_key
from shared_apps.organizations.routing import read_with_route, route_forget, route_read

MEMO_MAX = 4096
_cache_object: Any = None
_memo: dict[str, Any] = {}
_memo_lock = threading.Lock()


def _cache() -> Any:
    # one process-wide cache object over the shared pool (`caches[...]` is per request context under ASGI)
    global _cache_object
    if _cache_object is None:
        _cache_object = caches.create_connection("default")
    return _cache_object


def cached_with_route(key: str) -> None:
    """Read `key` of the organization's namespace of the default cache in every request's routing round
    trip (call once, at import)."""
    read_with_route(lambda organization_id: organization_cache_key(organization_id, key, _cache()))


def cache_get(key: str, default: Any = None) -> Any:
    """`caches["default"].get(key, default)` in the current organization, from the routing round trip when
    it read the key."""
    cache = _cache()
    read, raw = route_read(cache.make_key(key))
    if read:
        return default if raw is None else cache._cache._serializer.loads(raw)
    return cache.get(key, default)


def cache_read_forget(key: str) -> None:
    """The current request changed `key` (call it where the key is set or deleted)."""
    route_forget(_cache().make_key(key))


def generation_memo(key: str, load: Callable[[], Any]) -> Any:
    """The value of `key` (a key carrying a generation: its value never changes), from this process's memo,
    else `load()` (which reads or fills the shared cache), kept for the next request of any thread."""
    full = _cache().make_key(key)
    try:
        return _memo[full]
    except KeyError:
        pass
    value = load()
    with _memo_lock:
        if len(_memo) >= MEMO_MAX:
            _memo.clear()  # more generations in use than the bound: start over rather than grow
        _memo[full] = value
    return value
