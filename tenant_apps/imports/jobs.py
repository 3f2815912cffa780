"""rq entry points. Functions under tenant_apps run in the schema their job was enqueued for (see
shared_apps.organizations.jobs); each calls one service and is safe to run twice (rq delivers at least
once)."""

from __future__ import annotations

from tenant_apps.imports import services
from tenant_apps.imports.pipeline import bulk


def import_run_job(import_id: int) -> str:
    """Run or resume an import (resumes at its checkpoint when a killed worker's job is retried)."""
    return services.import_run(import_id=import_id).status


def import_revert_job(import_id: int) -> str:
    return services.import_revert_run(import_id=import_id).status


def export_run_job(export_id: int) -> str:
    return services.export_run(export_id=export_id).status


def imports_indexes_sweep() -> list[str]:
    """Every 10 minutes per organization (config/cron.py): the indexes a bulk import that died for good left
    missing are built again (nothing to do, and one catalog query, almost always)."""
    return bulk.indexes_restore()
