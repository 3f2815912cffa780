"""Task imports. Tasks are not customer records (no owner, tags, duplicates or soft delete): each row goes
through the tasks' own service (task_create, then task_complete or task_cancel for a done or cancelled row),
so a task is on exactly one live record, its record's timeline gets its TASK entry and its events go out, as
for a task made by hand. A few thousand rows a minute is plenty for follow-ups; the SQL pipeline is for the
record types imported by the hundred thousand.

Columns (the tasks export's own are understood, so an exported file imports back): title (required),
description, due_at (ISO 8601 date and time, or a day), status (open, done, cancelled), assignee (a
member's email or id: unknown → imported unassigned, with a warning in errors.csv), and the record the task
is on: lead, contact, account or opportunity (its id, or a lead's or contact's email, or a name), exactly
one per row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from shared_apps.core.errors import AppError
from shared_apps.users.models import User
from tenant_apps.accounts.models import Account
from tenant_apps.contacts.models import Contact
from tenant_apps.imports.models import Import, ImportRowError, RecordType
from tenant_apps.imports.pipeline.write import Counts
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.tasks import services as task_services
from tenant_apps.tasks.models import TaskStatus

ANCHORS = ("lead", "contact", "account", "opportunity")


@dataclass(frozen=True)
class TaskColumns:
    """What mapping a file's columns needs (the fields and their aliases), as a record type's Spec gives."""

    record_type: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    aliases: dict[str, str]


TASK_COLUMNS = TaskColumns(
    record_type=RecordType.TASK,
    fields=("title", "description", "due_at", "status", "assignee", *ANCHORS),
    required=("title",),
    aliases={
        "task": "title",
        "subject": "title",
        "name": "title",
        "notes": "description",
        "due": "due_at",
        "due_date": "due_at",
        "due_on": "due_at",
        "owner": "assignee",
        "owner_email": "assignee",
        "assignee_email": "assignee",
        "assigned_to": "assignee",
        **{f"{anchor}_id": anchor for anchor in ANCHORS},
        "lead_email": "lead",
        "contact_email": "contact",
        "account_name": "account",
        "company": "account",
        "deal": "opportunity",
        "opportunity_name": "opportunity",
    },
)


class RowProblem(Exception):
    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


class _DryRun(Exception):
    """Rolls a dry run's row back once it was written."""


@dataclass
class TaskCounts(Counts):
    """A batch's outcome (tasks are only created: none updated or skipped as duplicates) and its errors."""

    errors: list[ImportRowError] = field(default_factory=list)


def _due(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise RowProblem("invalid_date", "due_at", "a date and time (ISO 8601) or a day written YYYY-MM-DD")
    if moment is None:
        assert day is not None
        moment = datetime.combine(day, time(9, 0))  # a day: its morning, in the organization's time zone
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _status(text: str) -> str:
    status = text.strip().lower() or TaskStatus.OPEN
    if status not in TaskStatus.values:
        raise RowProblem("unknown_status", "status", f"one of {', '.join(TaskStatus.values)}")
    return status


def _assignee(text: str) -> int | None:
    """The member a cell names (email or id); None when it names nobody active."""
    members = User.objects.filter(is_active=True)
    found = (
        members.filter(pk=int(text))
        if text.isdigit() and len(text) <= 18
        else members.filter(email__iexact=text)
    )
    return found.values_list("pk", flat=True).first()


def _one(records: QuerySet[Any], anchor: str, text: str) -> Model:
    matches = list(records[:2])
    if not matches:
        raise RowProblem("unknown_record", anchor, f"no live {anchor} has this id, email or name")
    if len(matches) > 1:
        raise RowProblem("ambiguous_record", anchor, f"several {anchor}s match: give the {anchor}'s id")
    return matches[0]


def _record(anchor: str, text: str) -> Model:
    """The live record a cell names: its id; else a lead's or contact's email, or a name (unique)."""
    models: dict[str, Any] = {
        "lead": Lead,
        "contact": Contact,
        "account": Account,
        "opportunity": Opportunity,
    }
    records = models[anchor].objects.filter(deleted_at__isnull=True, merged_into__isnull=True)
    if text.isdigit() and len(text) <= 18:
        return _one(records.filter(pk=int(text)), anchor, text)
    if "@" in text and anchor in ("lead", "contact"):
        return _one(records.filter(email__iexact=text), anchor, text)
    return _one(records.filter(name__iexact=text), anchor, text)


def _anchor(values: dict[str, str]) -> tuple[str, Model]:
    given = [anchor for anchor in ANCHORS if values.get(anchor, "").strip()]
    if not given:
        raise RowProblem(
            "required", "lead", "the record the task is on: a lead, contact, account or opportunity"
        )
    if len(given) > 1:
        raise RowProblem("several_records", given[1], "a task is on one record: give only one of them")
    return given[0], _record(given[0], values[given[0]].strip())


def _write(values: dict[str, str], actor: User | None, default_assignee: int | None) -> bool:
    """Create the row's task (assigned to the import's default owner when the row names nobody); True when
    its assignee was named but is no active member (left unassigned)."""
    name, record = _anchor(values)
    status = _status(values.get("status", ""))
    due_at = _due(values.get("due_at", "").strip())
    named = values.get("assignee", "").strip()
    assignee_id = _assignee(named) if named else default_assignee
    task = task_services.task_create(
        actor=actor,
        title=values.get("title", ""),
        description=values.get("description", ""),
        due_at=due_at,
        assignee_id=assignee_id,
        **{f"{name}_id": record.pk},
    )
    if status != TaskStatus.OPEN:
        task_services.task_transition(task_id=task.pk, to_status=status, actor=actor)
    return bool(named) and assignee_id is None


def task_rows_write(
    run: Import, rows: Iterable[tuple[int, int, str, tuple[str, ...]]], fields: list[str]
) -> TaskCounts:
    """Write the rows (row number, line, problem, values in `fields` order) of one batch; each row alone
    (a failing row rolls back only itself). The caller commits the batch with its checkpoint."""
    counts = TaskCounts()
    for number, line, problem, cells in rows:
        outcome = _row(run, problem, dict(zip(fields, cells, strict=True)))
        if outcome is None:
            counts.imported += 1
            continue
        code, field_name, message, warning = outcome
        counts.errors.append(
            ImportRowError(
                import_run=run,
                line=line,
                row_number=number,
                warning=warning,
                code=code,
                field=field_name,
                message=message,
                values=dict(zip(fields, cells, strict=True)),
            )
        )
        if warning:
            counts.imported += 1
            counts.warnings += 1
        else:
            counts.failed += 1
    ImportRowError.objects.bulk_create(counts.errors)
    return counts


def _row(run: Import, problem: str, cells: dict[str, str]) -> tuple[str, str, str, bool] | None:
    """Write one row: None when written as it is, else (code, field, message, written with a warning)."""
    if problem:
        return ("bad_row", "", problem, False)
    values = {name: cell.strip() for name, cell in cells.items()}
    try:
        with transaction.atomic():
            unknown_assignee = _write(values, run.created_by, run.default_owner_id)
            if run.dry_run:
                raise _DryRun(unknown_assignee)
    except _DryRun as rolled_back:
        unknown_assignee = bool(rolled_back.args[0])
    except RowProblem as wrong:
        return (wrong.code, wrong.field, wrong.message, False)
    except AppError as refused:  # the tasks service's own checks (a title too long, ...)
        return (refused.code, str(getattr(refused, "field", "")), refused.message, False)
    if unknown_assignee:
        message = "no active member has this email or id; the task was imported unassigned"
        return ("unknown_owner", "assignee", message, True)
    return None
