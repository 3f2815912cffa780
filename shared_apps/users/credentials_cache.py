"""Bearer tokens and API keys looked up from the cache: a warm request costs no SQL query to authenticate.

Each entry (in the organization's namespace of the default cache) holds the credential's row and its user's
row, stamped with the organization's credentials generation; the entry and the generation are read together
in one MGET, and an entry stamped with an older generation is ignored. The generation is raised whenever a
user, a token or a key of the organization changes or goes (revocation, deletion, deactivation, a new role,
password or session epoch): at once, and again when the transaction commits, so a request that read the old
rows while the change was uncommitted cannot leave them cached. New tokens and keys change nothing cached.
Bulk updates that bypass model signals call `credentials_changed()` themselves (api_key_revoke's cascade).
The user's password hash is not cached: reading it from a cached user loads it from the database.

Each process keeps the generation it read (shared_apps.core.nearcache: raising it drops every process's
copy) and its own copy of recent entries (LOCAL_TTL seconds, at most LOCAL_MAX), used only under the
generation it holds: a warm request reads nothing from Redis to authenticate. A change is seen at once by
the process that made it, and by the others as soon as its message reaches them (a fraction of a
millisecond on one host).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import caches
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save

from shared_apps.core import nearcache
from shared_apps.users.models import ApiKey, AuthToken, User

ENTRY_TTL = 300
LOCAL_TTL = 5.0
LOCAL_MAX = 4096
_GENERATION = "auth:generation"
_USER_FIELDS = tuple(field.attname for field in User._meta.concrete_fields if field.attname != "password")

_M = TypeVar("_M", AuthToken, ApiKey)
_cache_object: Any = None


def _cache() -> Any:
    # one process-wide cache object over the shared pool (`caches[...]` is per request context under ASGI)
    global _cache_object
    if _cache_object is None:
        _cache_object = caches.create_connection("default")
    return _cache_object


def _row(instance: models.Model, attnames: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(instance, name) for name in attnames)


def _attnames(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


# entry key -> (the time it was kept, the entry): this process's copies, each valid under its generation only
_local: dict[str, tuple[float, tuple[Any, ...]]] = {}


def credential_lookup(model: type[_M], digest: str, load: Callable[[], _M | None]) -> tuple[_M, User] | None:
    """The credential with this digest and its user (`user` on a token, `created_by` on a key), from the
    cache when current, else from `load()` (then cached). None if there is none."""
    cache = _cache()
    entry_key = f"auth:{model._meta.model_name}:{digest}"
    # every write of the generation is followed by nearcache.forget (credentials_changed): its absence too
    # may be kept
    generation = int(nearcache.read([cache.make_key(_GENERATION)], keep_missing=True)[0] or 0)
    entry = _local_entry(entry_key, generation)
    if entry is None:
        entry = cache.get(entry_key)
        if entry is not None and entry[0] == generation:
            _keep(entry_key, entry)
    if entry is not None and entry[0] == generation:
        credential = model.from_db("default", _attnames(model), entry[1])
        user = User.from_db("default", _USER_FIELDS, entry[2])
        credential._state.fields_cache["user" if model is AuthToken else "created_by"] = user
    else:
        loaded = load()
        if loaded is None:
            return None
        credential = loaded
        user = credential.user if isinstance(credential, AuthToken) else credential.created_by
        _store(entry_key, generation, credential, user)
    credential._cached_generation = generation  # type: ignore[attr-defined]
    return credential, user


def _local_entry(entry_key: str, generation: int) -> tuple[Any, ...] | None:
    kept = _local.get(_local_key(entry_key))
    if kept is None or time.monotonic() - kept[0] > LOCAL_TTL or kept[1][0] != generation:
        return None
    return kept[1]


def _keep(entry_key: str, entry: tuple[Any, ...]) -> None:
    if len(_local) >= LOCAL_MAX:
        _local.clear()  # more credentials in use than the bound: start over rather than grow
    _local[_local_key(entry_key)] = (time.monotonic(), entry)


def _local_key(entry_key: str) -> str:
    # the namespaced key: the same digest in two organizations (or a reused schema) are two entries
    return str(_cache().make_key(entry_key))


def _store(entry_key: str, generation: int, credential: models.Model, user: User) -> None:
    row = (generation, _row(credential, _attnames(type(credential))), _row(user, _USER_FIELDS))
    _cache().set(entry_key, row, ENTRY_TTL)
    _keep(entry_key, row)


def credential_touched(credential: AuthToken | ApiKey, user: User) -> None:
    """The credential's last use was written (`last_used_at` set on it): keep the entry current, under the
    generation it was read with (a change since then has raised it, so the entry is ignored anyway)."""
    generation = getattr(credential, "_cached_generation", None)
    if generation is not None:
        _store(f"auth:{credential._meta.model_name}:{credential.digest}", generation, credential, user)


def credentials_changed() -> None:
    """Every cached credential of the current organization (or of the platform) is stale."""
    cache = _cache()
    key = cache.make_key(_GENERATION)
    client = cache._cache.get_client(write=True)

    def raise_generation() -> None:
        client.incr(key)
        nearcache.forget([key])

    raise_generation()
    transaction.on_commit(raise_generation)


def _changed(sender: type, instance: models.Model, created: bool = False, **kwargs: Any) -> None:
    if not created:
        credentials_changed()


for _model in (User, AuthToken, ApiKey):
    post_save.connect(_changed, sender=_model, dispatch_uid=f"credentials_cache.{_model.__name__}.save")
    post_delete.connect(_changed, sender=_model, dispatch_uid=f"credentials_cache.{_model.__name__}.delete")
