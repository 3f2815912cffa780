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
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient

_pools: dict[tuple[str, str], SharedBlockingConnectionPool] = {}
_lock = threading.Lock()
_clients: dict[redis.ConnectionPool, redis.Redis] = {}


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


class RedisCacheClient(DjangoRedisCacheClient):
    """Django's cache client, with one `redis.Redis` per pool for the process: Django builds a new one for
    every cache operation (`get_client`), and redis-py's constructor (its table of ~170 response callbacks)
    cost ~100 µs here, more than the round trip it was made for; under ASGI every request context also has
    cache objects of its own. A `redis.Redis` is safe to share between threads: each command checks a
    connection out of the pool and gives it back."""

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = _clients.get(pool)
        if client is None:
            with _lock:
                client = _clients.setdefault(pool, self._client(connection_pool=pool))  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    """Django's Redis cache, which django-rq can also take its connection from (`USE_REDIS_CACHE`): rq then
    enqueues over the same bounded pool instead of opening a new connection per `get_queue()`. Its client is
    kept per pool (RedisCacheClient)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    @property
    def _client(self) -> redis.Redis:
        return self._cache.get_client(write=True)


_background: dict[redis.ConnectionPool, redis.Redis] = {}


def background_client(shared: redis.Redis) -> redis.Redis:
    """A client over its own connection to `shared`'s server, for the process's background senders (plan
    counts sent behind, usage counts on a timer): they never take one of the requests' pooled connections,
    nor make the pool open another when they meet a request in it. One connection per process (a sender
    finding it busy waits for it)."""
    pool = shared.connection_pool
    client = _background.get(pool)
    if client is None:
        with _lock:
            client = _background.get(pool)
            if client is None:
                kwargs = dict(pool.connection_kwargs, connection_class=pool.connection_class)
                own = redis.BlockingConnectionPool(max_connections=1, timeout=None, **kwargs)
                client = _background[pool] = redis.Redis(connection_pool=own)
    return client
