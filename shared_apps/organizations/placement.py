"""Organizations placed on one of several PostgreSQL databases.

`DATABASES["default"]` is the primary database: it holds the public schema (organizations, domains,
operators) and the organizations placed on it. `DATABASES_EXTRA` adds one alias per further database;
each organization records the alias its schema lives on (`Organization.database`). Every database has
the shared migrations (extensions, `public.lp_unaccent`) and its own template to clone from.

How queries reach the right database without the code that makes them knowing: django-tenants, every
service and every `transaction.atomic()` use the `default` alias. When a request or a job starts, the
routing middleware or the job wrapper *activates* the organization's database: this thread's (like
Django's connections) `default` alias is pointed at the connection to that database, so
the organization's reads, writes, raw SQL and transactions all land there unchanged. The public schema's
own models (organizations, domains) are routed to the `primary` alias, which is the primary's connection
while another database is active. On the primary nothing is swapped: one connection, one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from asgiref.local import Local
from django.apps import apps
from django.conf import settings
from django.core.signals import request_finished
from django.db import connections
from django.db.models import Model
from django.dispatch import receiver

from shared_apps.core.db import connection as tenant_connection
from shared_apps.core.errors import InvalidInput

DEFAULT = "default"
# The primary database's connection while another database is active (a DATABASES entry mirroring
# "default"; it never opens a connection of its own).
PRIMARY = "primary"

# Per thread, exactly like Django's database connections (their Local is thread-critical too).
_state = Local(thread_critical=True)


def database_aliases() -> list[str]:
    """Every database organizations can be placed on, the primary first."""
    return [alias for alias in settings.DATABASES if alias != PRIMARY]


def validate_database(alias: object, *, field: str = "database") -> str:
    if not isinstance(alias, str) or alias not in database_aliases():
        raise InvalidInput(
            field,
            f"Unknown database; expected one of {', '.join(database_aliases())}.",
            code="invalid_choice",
        )
    return alias


def active_database() -> str:
    return getattr(_state, "active", DEFAULT)


def activate(alias: str) -> None:
    """Point this thread's `default` connection at `alias`'s database (the primary for "default").

    For request and job boundaries. Refused inside a transaction: the transaction would end on another
    connection than it began on. Use `using()` to visit another database in the middle of some work."""
    current = active_database()
    if alias == current:
        return
    if alias not in settings.DATABASES or alias == PRIMARY:
        raise ValueError(f"unknown database alias {alias!r}")
    if connections[DEFAULT].in_atomic_block:
        raise RuntimeError("cannot switch databases inside a transaction")
    _switch(alias)


@receiver(request_finished)
def _request_finished(**kwargs: Any) -> None:
    """The response is closed (a streamed one too): whatever the thread does next starts on the primary,
    not on the database of the organization it just served."""
    if active_database() != DEFAULT and not connections[DEFAULT].in_atomic_block:
        _switch(DEFAULT)


def _switch(alias: str) -> None:
    current = active_database()
    if current == DEFAULT:
        _state.primary = connections[DEFAULT]
        # whatever this thread had under `primary` (a never-used wrapper; the test runner may have wrapped
        # its methods), put back when the primary is active again
        _state.primary_slot = getattr(connections._connections, PRIMARY, None)  # type: ignore[attr-defined]
    primary = _state.primary
    if alias == DEFAULT:
        connections[DEFAULT] = primary
        # `primary` names the primary's wrapper only while another database is active: the same object
        # under two names would confuse whatever treats aliases as distinct connections (the test runner)
        slot = getattr(_state, "primary_slot", None)
        if slot is not None:
            connections[PRIMARY] = slot
        else:
            with suppress(AttributeError):
                del connections[PRIMARY]
    else:
        target = _wrapper(alias)
        if not target.in_atomic_block:
            target.close_if_unusable_or_obsolete()  # it sat out requests: CONN_MAX_AGE and health apply
        connections[DEFAULT] = target
        connections[PRIMARY] = primary
    _state.active = alias


def _wrapper(alias: str) -> Any:
    """This thread's connection to `alias`'s database, named "default": Django's migrate and django-tenants'
    router (which only migrates "default"), the test framework and `transaction.atomic()` all see it as
    the default database it stands in for."""
    wrappers = getattr(_state, "wrappers", None)
    if wrappers is None:
        wrappers = _state.wrappers = {}
    if alias not in wrappers:
        wrapper: Any = connections.create_connection(alias)
        wrapper.__class__ = _placed_class(type(wrapper))
        wrapper.placement_alias = alias
        wrapper.alias = DEFAULT
        wrappers[alias] = wrapper
    return wrappers[alias]


_placed_classes: dict[type, type] = {}


def _placed_class(base: type) -> type:
    """The backend's wrapper with one difference: Django keys its psycopg pools (DB_POOL) by alias, and a
    placed wrapper is called "default" but must draw from its own database's pool."""
    if base not in _placed_classes:

        class PlacedDatabaseWrapper(base):
            placement_alias: str
            alias: str

            @property
            def pool(self) -> Any:
                alias: str = self.alias
                self.alias = self.placement_alias
                try:
                    return base.pool.fget(self)  # type: ignore[attr-defined]
                finally:
                    self.alias = alias

            def close_pool(self) -> None:
                alias: str = self.alias
                self.alias = self.placement_alias
                try:
                    base.close_pool(self)  # type: ignore[attr-defined]
                finally:
                    self.alias = alias

        _placed_classes[base] = PlacedDatabaseWrapper
    return _placed_classes[base]


def close_all() -> None:
    """Close this thread's connections to every database, the ones not active now included (before a
    fork, so children never share a socket with their parent)."""
    connections.close_all()
    for wrapper in getattr(_state, "wrappers", {}).values():
        wrapper.close()
    primary = getattr(_state, "primary", None)
    if primary is not None:
        primary.close()


@contextmanager
def using(alias: str) -> Iterator[None]:
    """Run the block with `default` on `alias`'s database, then switch back.

    Allowed inside a transaction on the primary: that transaction stays open on its connection (reachable
    as `primary` meanwhile) and is resumed when the block ends; the block's own transactions are the other
    database's. The block must not leave a transaction of its own open."""
    previous = active_database()
    if alias not in settings.DATABASES or alias == PRIMARY:
        raise ValueError(f"unknown database alias {alias!r}")
    schema = tenant_connection.schema_name
    if alias != previous:
        _switch(alias)
    try:
        yield
    finally:
        if alias != previous:
            if connections[DEFAULT].in_atomic_block:
                raise RuntimeError(f"a transaction on {alias!r} was left open")
            _switch(previous)
            if tenant_connection.schema_name != schema:
                tenant_connection.set_schema(schema)


def public_only_apps() -> frozenset[str]:
    """App labels whose tables exist in the primary's public schema only."""
    configs = apps.get_app_configs()
    shared = {config.label for config in configs if config.name in settings.SHARED_APPS}
    tenant = {config.label for config in configs if config.name in settings.TENANT_APPS}
    return frozenset(shared - tenant)


_public_only: frozenset[str] | None = None


class PlacementRouter:
    """Public-only models (organizations, domains, ...) always read and write the primary database."""

    def _route(self, model: type[Model], **hints: Any) -> str | None:
        global _public_only
        if _public_only is None:
            _public_only = public_only_apps()
        if model._meta.app_label not in _public_only:
            return None
        return DEFAULT if active_database() == DEFAULT else PRIMARY

    db_for_read = _route
    db_for_write = _route

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == PRIMARY else None
