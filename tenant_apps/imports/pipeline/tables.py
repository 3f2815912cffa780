"""One import's tables (staging and plan) and what every step needs: the record type's spec, the mapped
fields, the context of its SQL."""

from __future__ import annotations

from shared_apps.core.db import connection
from tenant_apps.activities.models import Activity
from tenant_apps.imports import custom as custom_fields
from tenant_apps.imports.expressions import NUMBER_FORMATS, quote
from tenant_apps.imports.fields import SPECS, Context, Spec
from tenant_apps.imports.models import Import, RecordType
from tenant_apps.imports.pipeline.sql import ANCHORS, ident, insert_columns


class Tables:
    """The import's run, its record type's spec and the names of its staging and plan tables."""

    def __init__(self, run: Import, *, currency: str, number_format: str = NUMBER_FORMATS[0]) -> None:
        self.run = run
        self.spec: Spec = SPECS[run.record_type]
        self.fields = [name for name in self.spec.fields if name in run.mapping]
        self.custom = custom_fields.mapped(run.record_type, run.mapping)
        self.ctx = Context(
            import_id=run.pk,
            mapped=set(self.fields),
            default_owner_id=run.default_owner_id,
            tags=list(run.tags),
            currency=currency,
            actor_id=run.created_by_id,
            number_format=number_format,
            custom=self.custom,
        )
        schema = ident(connection.schema_name)
        self.staging = f"{schema}.{ident(f'imports_{run.pk}_staging')}"
        self.plan = f"{schema}.{ident(f'imports_{run.pk}_plan')}"

    def activity(
        self,
        *,
        record: str,
        account: str | None,
        type: str,
        subject: str,
        metadata: str,
        now: str,
        actor_id: int | None = None,
    ) -> tuple[str, str]:
        """(columns, values) inserting one activity per row on the record `record`."""
        anchor = ANCHORS[RecordType(self.run.record_type)]
        provided = {
            anchor: record,
            "type": quote(type),
            "subject": f"left({subject}, 300)",
            "body": "''",
            "metadata": metadata,
            "actor_id": quote(actor_id if actor_id is not None else self.ctx.actor_id),
            "occurred_at": now,
            "created_at": now,
            "message_id": "''",
            "thread_id": "''",
        }
        if account is not None:
            provided["account_id"] = account
        return insert_columns(Activity, provided)
