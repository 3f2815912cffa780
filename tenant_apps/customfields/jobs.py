"""rq entry points (enqueued after commit by tenant_apps.customfields.services; idempotent). They run
outside a transaction: CREATE/DROP INDEX CONCURRENTLY cannot run inside one."""

from __future__ import annotations

from tenant_apps.customfields import services


def index_build_job(field_id: int) -> None:
    services.index_build(field_id=field_id)


def index_rebuild_job(field_id: int, index_name: str) -> None:
    services.index_rebuild(field_id=field_id, index_name=index_name)


def field_purge_job(field_id: int) -> None:
    services.field_purge(field_id=field_id)
