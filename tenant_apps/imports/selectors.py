# ruff: noqa: S608  (SQL is built from model table names and constant columns; values are parameters)
"""Reads of imports and exports, and the export queries: the rows a record list shows the member with the
same filters (the list selectors themselves build the filtered set), as CSV, read through a server-side
cursor so that memory stays flat whatever the size."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from shared_apps.core.db import connection
from shared_apps.core.errors import InvalidInput
from shared_apps.http.streaming import csv_chunks, escape_cell
from shared_apps.users.models import Role, User
from tenant_apps.accounts.models import Account
from tenant_apps.accounts.selectors import account_list
from tenant_apps.activities.models import Activity
from tenant_apps.contacts.models import Contact
from tenant_apps.contacts.selectors import contact_list
from tenant_apps.imports import csvio
from tenant_apps.imports import custom as custom_fields
from tenant_apps.imports.exceptions import ExportNotFound, ImportNotFound
from tenant_apps.imports.models import Export, ExportType, Import, ImportRowError
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.leads.selectors import lead_list
from tenant_apps.opportunities.models import LeadStageLabel, LostReason, Opportunity, Pipeline, PipelineStage
from tenant_apps.opportunities.selectors import opportunity_list
from tenant_apps.records import visibility
from tenant_apps.tasks.models import Task
from tenant_apps.tasks.selectors import task_list

FETCH_ROWS = 5000
CHUNK_BYTES = 256 * 1024


def import_list() -> QuerySet[Import]:
    return Import.objects.select_related("created_by", "default_owner")


def import_get(*, import_id: int) -> Import:
    run = import_list().filter(pk=import_id).first()
    if run is None:
        raise ImportNotFound(id=import_id)
    return run


def import_errors_csv(*, run: Import) -> Iterator[bytes]:
    """errors.csv: every row the import did not write, in file order, with its line, whether it failed or
    was skipped (or was written with a warning), why, and the row's values under the file's own column
    names (formula-escaped)."""
    fields = [name for name, _ in sorted(run.mapping.items(), key=lambda item: item[1])]
    header = [
        "line",
        "outcome",
        "code",
        "field",
        "message",
        *(run.header[run.mapping[name]] for name in fields),
    ]
    errors = (
        ImportRowError.objects.filter(import_run=run)
        .order_by("row_number")
        .values_list("line", "skipped", "warning", "code", "field", "message", "values")
    )

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        batch: list[tuple[Any, ...]] = []
        for line, skipped, warning, code, field, message, values in errors.iterator(chunk_size=FETCH_ROWS):
            cells = (escape_cell(str(values.get(name, ""))) for name in fields)
            outcome = "warning" if warning else "skipped" if skipped else "failed"
            batch.append((line, outcome, code, field, message, *cells))
            if len(batch) >= FETCH_ROWS:
                yield batch
                batch = []
        if batch:
            yield batch

    yield from csv_chunks(header, batches())


def export_get(*, export_id: int, actor: User) -> Export:
    """An export the member asked for (admins see every export); others' exports do not exist for them."""
    exports = Export.objects.filter(pk=export_id)
    if actor.role != Role.ADMIN:
        exports = exports.filter(created_by_id=actor.pk)
    export = exports.first()
    if export is None:
        raise ExportNotFound(id=export_id)
    return export


def export_list(*, actor: User) -> QuerySet[Export]:
    exports = Export.objects.all()
    return exports if actor.role == Role.ADMIN else exports.filter(created_by_id=actor.pk)


# --- export queries --------------------------------------------------------------------------------------


def _text(expression: str) -> str:
    return csvio.sql_escaped(expression)


def _time(expression: str) -> str:
    return f"""to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


_BUILTIN_LABEL = (
    "CASE r.stage " + " ".join(f"WHEN '{value}' THEN '{label}'" for value, label in Stage.choices) + " END"
)
_OWNER = f"LEFT JOIN {User._meta.db_table} u ON u.id = r.owner_id"
# record type -> (columns: header and SQL over the record `r` and its joins, joins)
COLUMNS: dict[str, tuple[list[tuple[str, str]], str]] = {
    ExportType.LEADS: (
        [
            ("id", "r.id"),
            ("name", _text("r.name")),
            ("email", _text("r.email")),
            ("phone", _text("r.phone")),
            ("company", _text("r.company")),
            ("source", "r.source"),
            ("stage", "r.stage"),
            ("value", "r.value"),
            ("currency", "r.currency"),
            ("owner", _text("u.email")),
            ("tags", _text("array_to_string(r.tags, ';')")),
            ("score", "r.score"),
            ("created_at", _time("r.created_at")),
            ("updated_at", _time("r.updated_at")),
            ("stage_changed_at", _time("r.stage_changed_at")),
            ("last_contacted_at", _time("r.last_contacted_at")),
            # the stage as the organization calls it (tenant_apps.opportunities.stage_labels)
            ("stage_label", _text(f"COALESCE(sl.label, {_BUILTIN_LABEL})")),
        ],
        f"{_OWNER} LEFT JOIN {LeadStageLabel._meta.db_table} sl ON sl.stage = r.stage",
    ),
    ExportType.CONTACTS: (
        [
            ("id", "r.id"),
            ("name", _text("r.name")),
            ("email", _text("r.email")),
            ("phone", _text("r.phone")),
            ("title", _text("r.title")),
            ("account", _text("a.name")),
            ("account_id", "r.account_id"),
            ("owner", _text("u.email")),
            ("tags", _text("array_to_string(r.tags, ';')")),
            ("created_at", _time("r.created_at")),
            ("updated_at", _time("r.updated_at")),
            ("last_contacted_at", _time("r.last_contacted_at")),
        ],
        f"{_OWNER} LEFT JOIN {Account._meta.db_table} a ON a.id = r.account_id",
    ),
    ExportType.ACCOUNTS: (
        [
            ("id", "r.id"),
            ("name", _text("r.name")),
            ("domain", _text("r.domain")),
            ("industry", _text("r.industry")),
            ("size", "r.size"),
            ("status", "r.status"),
            ("owner", _text("u.email")),
            ("tags", _text("array_to_string(r.tags, ';')")),
            ("last_activity_at", _time("r.last_activity_at")),
            ("created_at", _time("r.created_at")),
            ("updated_at", _time("r.updated_at")),
        ],
        _OWNER,
    ),
    ExportType.OPPORTUNITIES: (
        [
            ("id", "r.id"),
            ("name", _text("r.name")),
            ("account", _text("a.name")),
            ("account_id", "r.account_id"),
            ("primary_contact_id", "r.primary_contact_id"),
            ("stage", "r.stage"),
            ("amount", "r.amount"),
            ("currency", "r.currency"),
            ("probability", "r.probability"),
            ("expected_close_date", "r.expected_close_date"),
            ("closed_at", _time("r.closed_at")),
            ("close_reason", _text("r.close_reason")),
            ("owner", _text("u.email")),
            ("tags", _text("array_to_string(r.tags, ';')")),
            ("created_at", _time("r.created_at")),
            ("updated_at", _time("r.updated_at")),
            ("pipeline", _text("p.name")),
            ("stage_name", _text("ps.name")),
            ("lost_reason", _text("lr.name")),
        ],
        f"{_OWNER} LEFT JOIN {Account._meta.db_table} a ON a.id = r.account_id"
        f" LEFT JOIN {Pipeline._meta.db_table} p ON p.id = r.pipeline_id"
        f" LEFT JOIN {PipelineStage._meta.db_table} ps ON ps.id = r.pipeline_stage_id"
        f" LEFT JOIN {LostReason._meta.db_table} lr ON lr.id = r.lost_reason_id",
    ),
    ExportType.TASKS: (
        [
            ("id", "r.id"),
            ("title", _text("r.title")),
            ("description", _text("r.description")),
            ("status", "r.status"),
            ("due_at", _time("r.due_at")),
            ("completed_at", _time("r.completed_at")),
            ("assignee", _text("u.email")),
            ("lead_id", "r.lead_id"),
            ("contact_id", "r.contact_id"),
            ("account_id", "r.account_id"),
            ("opportunity_id", "r.opportunity_id"),
            ("created_at", _time("r.created_at")),
            ("updated_at", _time("r.updated_at")),
        ],
        f"LEFT JOIN {User._meta.db_table} u ON u.id = r.assignee_id",
    ),
    ExportType.ACTIVITIES: (
        [
            ("id", "r.id"),
            ("type", "r.type"),
            ("occurred_at", _time("r.occurred_at")),
            ("created_at", _time("r.created_at")),
            ("lead_id", "r.lead_id"),
            ("contact_id", "r.contact_id"),
            ("account_id", "r.account_id"),
            ("opportunity_id", "r.opportunity_id"),
            ("actor", _text("u.email")),
            ("subject", _text("r.subject")),
            ("body", _text("r.body")),
            ("metadata", "r.metadata::text"),
        ],
        f"LEFT JOIN {User._meta.db_table} u ON u.id = r.actor_id",
    ),
}
MODELS: dict[str, Any] = {
    ExportType.LEADS: Lead,
    ExportType.CONTACTS: Contact,
    ExportType.ACCOUNTS: Account,
    ExportType.OPPORTUNITIES: Opportunity,
    ExportType.TASKS: Task,
    ExportType.ACTIVITIES: Activity,
}
SEGMENT_TYPES = {
    ExportType.LEADS: "lead",
    ExportType.CONTACTS: "contact",
    ExportType.ACCOUNTS: "account",
    ExportType.OPPORTUNITIES: "opportunity",
}


def activity_export_list(*, actor: User | None, filters: dict[str, Any]) -> QuerySet[Activity]:
    """Activities on records the member may see (a rep's hidden leads and deals hide their timelines too;
    records.visibility); `filters`:
    type (list), created_after/before."""
    activities: QuerySet[Activity] = visibility.activities_for(actor)
    if filters.get("type"):
        activities = activities.filter(type__in=filters["type"])
    if filters.get("created_after"):
        activities = activities.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        activities = activities.filter(created_at__lt=filters["created_before"])
    return activities


def export_records(*, record_type: str, actor: User, filters: dict[str, Any]) -> QuerySet[Any]:
    """The records of a list with these filters (the list selectors' own keys, plus `segment`: a saved
    segment's id, whose conditions are added)."""
    filters = dict(filters)
    segment_id = filters.pop("segment", None)
    records: QuerySet[Any]
    if record_type == ExportType.LEADS:
        records = lead_list(actor=actor, filters=filters)
    elif record_type == ExportType.CONTACTS:
        records = contact_list(actor=actor, filters=filters)
    elif record_type == ExportType.ACCOUNTS:
        records = account_list(actor=actor, filters=filters)
    elif record_type == ExportType.OPPORTUNITIES:
        records = opportunity_list(actor=actor, filters=filters)
    elif record_type == ExportType.TASKS:
        records = task_list(actor=actor, filters=filters)
    else:
        records = activity_export_list(actor=actor, filters=filters)
    if segment_id is not None:
        from tenant_apps.segments.selectors import segment_get, segment_results

        segment = segment_get(actor=actor, segment_id=segment_id)
        if SEGMENT_TYPES.get(ExportType(record_type)) != segment.record_type:
            raise InvalidInput("segment", f"This segment is of {segment.record_type}s, not {record_type}.")
        records = records.filter(pk__in=segment_results(segment=segment, actor=actor).values("pk"))
    return records


@dataclass(frozen=True)
class ExportQuery:
    header: list[str]
    sql: str
    params: tuple[Any, ...]


def export_query(*, record_type: str, actor: User, filters: dict[str, Any]) -> ExportQuery:
    """The SQL of an export: its columns (text cells formula-escaped) for the ids the list selector picks."""
    records = export_records(record_type=record_type, actor=actor, filters=filters)
    ids_sql, params = records.order_by().values("pk").query.sql_with_params()
    columns, joins = COLUMNS[record_type]
    columns = [*columns, *custom_fields.export_columns(record_type)]
    table = MODELS[record_type]._meta.db_table
    select = ", ".join(f'{sql} AS "{name}"' for name, sql in columns)
    sql = f"SELECT {select} FROM {table} r {joins} WHERE r.id IN ({ids_sql}) ORDER BY r.id"
    return ExportQuery(header=[name for name, _ in columns], sql=sql, params=tuple(params))


class ExportStream:
    """The export's CSV (header first), as PostgreSQL writes it with COPY ... TO STDOUT, chunk by chunk as
    the rows arrive: memory stays flat whatever the size, and no row becomes a Python object. `rows` holds
    the count once the stream is exhausted."""

    def __init__(self, query: ExportQuery) -> None:
        self.query = query
        self.rows = 0

    def __iter__(self) -> Iterator[bytes]:
        with connection.cursor() as cursor:
            statement = f"COPY ({self.query.sql}) TO STDOUT (FORMAT csv, HEADER)"
            # psycopg's own cursor: Django's debug wrapper has a copy() without parameters
            with cursor.cursor.copy(statement, self.query.params) as copy:
                # PostgreSQL sends a message per row: gather them into chunks of about CHUNK_BYTES
                parts: list[bytes] = []
                size = 0
                for data in copy:
                    parts.append(bytes(data))
                    size += len(data)
                    if size >= CHUNK_BYTES:
                        yield b"".join(parts)
                        parts, size = [], 0
                if parts:
                    yield b"".join(parts)
            self.rows = max(0, cursor.rowcount)
