"""CSV imports (with what they rejected and what they changed, for errors.csv and revert) and exports.

The uploaded file is kept in the organization's schema as ImportChunk rows until the import finishes, so the
job (on any worker host) reads exactly what was uploaded, and a rolled-back upload leaves nothing behind.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class RecordType(models.TextChoices):
    LEAD = "lead", "Lead"
    CONTACT = "contact", "Contact"
    ACCOUNT = "account", "Account"
    OPPORTUNITY = "opportunity", "Opportunity (deal)"
    TASK = "task", "Task"


class DuplicatePolicy(models.TextChoices):
    SKIP = "skip", "Skip rows matching an existing record"
    UPDATE = "update", "Update the existing record"
    CREATE = "create", "Create anyway"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    REVERTING = "reverting", "Reverting"
    REVERTED = "reverted", "Reverted"


# Where a running import is; the checkpoint (last row number written) says how far "writing" got.
class ImportPhase(models.TextChoices):
    PENDING = "pending", "Not started"
    PREPARING = "preparing", "Reading the file, checking rows"
    WRITING = "writing", "Writing rows"
    # a bulk import (pipeline/bulk.py) building the indexes it deferred: every row written, not yet searchable
    INDEXING = "indexing", "Building the search indexes"
    FINISHED = "finished", "Finished"


class Import(models.Model):
    record_type = models.CharField(max_length=16, choices=RecordType.choices)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    phase = models.CharField(max_length=16, choices=ImportPhase.choices, default=ImportPhase.PENDING)
    dry_run = models.BooleanField(default=False)
    duplicate_policy = models.CharField(
        max_length=16, choices=DuplicatePolicy.choices, default=DuplicatePolicy.SKIP
    )
    default_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    # field -> the file's column (its header, or its 1-based number in a file without a header)
    mapping = models.JSONField(default=dict)
    header = models.JSONField(default=list)  # the file's header row (or column numbers)
    has_header = models.BooleanField(default=True)
    delimiter = models.CharField(max_length=1, default=",")
    encoding = models.CharField(max_length=16, default="utf-8")
    file_name = models.CharField(max_length=255, blank=True, default="")
    file_size = models.BigIntegerField(default=0)

    rows_read = models.BigIntegerField(null=True, blank=True)
    imported = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    # rows imported or updated despite a problem (an unknown owner); counted in imported/updated too
    warnings = models.BigIntegerField(default=0)
    # the last row number (1-based, header excluded) whose outcome is written and counted
    checkpoint = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")

    revert_checkpoint = models.BigIntegerField(default=0)  # the last ImportChange id reverted
    reverted = models.JSONField(default=dict, blank=True)  # {"removed": n, "restored": n, "conflicts": n}

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["-created_at", "-id"], name="import_created_idx")]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.record_type}, {self.status})"

    @property
    def processed(self) -> int:
        return self.imported + self.updated + self.skipped + self.failed

    @property
    def progress(self) -> float:
        """0 to 1: rows whose outcome is written over rows read (0 until the file is read)."""
        if self.status == ImportStatus.DONE:
            return 1.0
        if not self.rows_read:
            return 0.0
        return round(min(1.0, self.processed / self.rows_read), 4)


class ImportChunk(models.Model):
    """A piece of the uploaded file (1 MiB), kept until the import finishes."""

    import_run = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["import_run", "seq"], name="import_chunk_seq_unique")]

    def __str__(self) -> str:
        return f"chunk {self.seq} of import {self.import_run_id}"


class ImportRowError(models.Model):
    """A row the import did not write: failed (invalid) or skipped (duplicate, unchanged), and why; or a row
    it wrote despite a problem (a warning: an unknown owner left unset)."""

    import_run = models.ForeignKey(
        Import, on_delete=models.CASCADE, related_name="row_errors", db_index=False
    )
    line = models.BigIntegerField(help_text="the line of the file where the row starts (the header is 1)")
    row_number = models.BigIntegerField()
    skipped = models.BooleanField(
        default=False, help_text="skipped (duplicate, unchanged) rather than failed"
    )
    warning = models.BooleanField(default=False, help_text="written anyway, with a warning")
    code = models.CharField(max_length=40)
    field = models.CharField(max_length=40, blank=True, default="")
    message = models.TextField()
    values = models.JSONField(default=dict, help_text="the row's mapped values as the file had them")

    class Meta:
        indexes = [models.Index(fields=["import_run", "row_number"], name="import_row_error_idx")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.code}"


class ChangeKind(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"


class ImportChange(models.Model):
    """What an import wrote, so that a revert can undo it: the records one batch created (their ids, one row
    per batch), or one record it updated, with the columns it changed, before and after."""

    import_run = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="changes", db_index=False)
    kind = models.CharField(max_length=8, choices=ChangeKind.choices)
    record_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)  # created
    record_id = models.BigIntegerField(null=True, blank=True)  # updated
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["import_run", "id"], name="import_change_idx")]

    def __str__(self) -> str:
        return f"{self.kind} by import {self.import_run_id}"

    @property
    def size(self) -> int:
        return len(self.record_ids) if self.kind == ChangeKind.CREATED else 1


class ExportType(models.TextChoices):
    LEADS = "leads", "Leads"
    CONTACTS = "contacts", "Contacts"
    ACCOUNTS = "accounts", "Accounts"
    OPPORTUNITIES = "opportunities", "Opportunities (deals)"
    TASKS = "tasks", "Tasks"
    ACTIVITIES = "activities", "Activities"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Export(models.Model):
    """A CSV export run as a job; its file lives under settings.EXPORTS_DIR/<organization id>/."""

    record_type = models.CharField(max_length=16, choices=ExportType.choices)
    # the list's query parameters as given (validated again by the job with the same serializer)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows = models.BigIntegerField(default=0)
    size_bytes = models.BigIntegerField(default=0)
    file_name = models.CharField(max_length=255, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["-created_at", "-id"], name="export_created_idx")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.record_type}, {self.status})"
