"""Small cache entries of an organization that most requests read, kept in each process.

A lead list page reads the stage labels and the custom field definitions; a lead write reads which events
webhooks and automation rules subscribe to: each was one Redis round trip (~0.2 ms apiece here). Keys
registered with `kept_in_process` are read through shared_apps.core.nearcache: each process keeps the
values it read and serves them from memory until a change drops them. Whoever changes such a key calls
`cache_changed` (at once, and again when the transaction commits), which drops every process's copy; the
request that made the change reads its own change back.

Values cached under a generation (`<what>:<generation>`, a new generation for every change) never change, so
each process also keeps the latest ones it read (`generation_memo`): with the generation kept in the process,
such a value costs no round trip at all once warm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.core.cache import caches

from shared_apps.core import nearcache

MEMO_MAX = 4096
_cache_object: Any = None
_memo: dict[str, Any] = {}
_memo_lock = threading.Lock()
_kept: set[str] = set()


def _cache() -> Any:
    # one process-wide cache object over the shared pool (`caches[...]` is per request context under ASGI)
    global _cache_object
    if _cache_object is None:
        _cache_object = caches.create_connection("default")
    return _cache_object


def kept_in_process(key: str) -> None:
    """Keep `key` of the organization's namespace of the default cache in each process (call once, at import;
    every change of it must call `cache_changed`)."""
    _kept.add(key)


def cache_get(key: str, default: Any = None) -> Any:
    """`caches["default"].get(key, default)` in the current organization; from the process's copy for a key
    registered with kept_in_process."""
    cache = _cache()
    if key not in _kept:
        return cache.get(key, default)
    raw = nearcache.read([cache.make_key(key)])[0]
    return default if raw is None else cache._cache._serializer.loads(raw)


def cache_changed(key: str) -> None:
    """The current organization's `key` changed in the cache (call after setting or deleting it): every
    process drops its copy."""
    nearcache.forget([_cache().make_key(key)])


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
