"""One bounded Redis connection pool per process, shared by every client the product makes.

Django's Redis cache builds a client, and with it a connection pool, per cache object; under ASGI
`caches[...]` is per request context, so every request opened Redis connections of its own, and redis-py's
default pool raises `MaxConnectionsError` past 100 instead of waiting. Here every cache (the default cache,
the `platform` cache of host routing, throttling and idempotency keys) and rq's connection (through
`RQ_QUEUES[...]["USE_REDIS_CACHE"]`) draw from one `BlockingConnectionPool` per URL and options: at most
REDIS_POOL_MAX_CONNECTIONS connections per process. A caller finding them all busy waits up to
REDIS_POOL_TIMEOUT seconds, then gets redis' `ConnectionError`, which the error handlers answer with 503 and
Retry-After (shared_apps.core.errors.unavailable_reason).
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

_pools: dict[tuple[str, str], SharedBlockingConnectionPool] = {}
_lock = threading.Lock()


class SharedBlockingConnectionPool(redis.BlockingConnectionPool):
    """`from_url` hands out the process's one pool for the URL and options (created on first use; after a
    fork redis-py replaces its connections in the child)."""

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SharedBlockingConnectionPool:
        key = (url, repr(sorted(kwargs.items())))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = super().from_url(url, **kwargs)
        return pool


def shared_pools() -> list[SharedBlockingConnectionPool]:
    """The pools this process made (for tests and benches)."""
    with _lock:
        return list(_pools.values())


class RedisCache(DjangoRedisCache):
    """Django's Redis cache, which django-rq can also take its connection from (`USE_REDIS_CACHE`): rq then
    enqueues over the same bounded pool instead of opening a new connection per `get_queue()`."""

    @property
    def _client(self) -> redis.Redis:
        return self._cache.get_client(write=True)
