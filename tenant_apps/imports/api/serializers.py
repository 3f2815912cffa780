from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shared_apps.core import parsers
from shared_apps.http.api import StrictCharField
from tenant_apps.imports import csvio
from tenant_apps.imports.models import DuplicatePolicy, Export, ExportType, Import, RecordType
from tenant_apps.records.api.serializers import ActivityFilterSerializer, IdField, StrictSerializer

DELIMITER_CHOICES = {
    **{name: char for char, name in csvio.DELIMITER_NAMES.items()},
    **{c: c for c in csvio.DELIMITERS},
}
MAX_MAPPING = 500


# Plain strings in the schema: segments' record_type enum holds other values, and drf-spectacular names
# every enum after its field, so one more record_type enum would collide with it.
@extend_schema_field({"type": "string", "description": f"one of {', '.join(RecordType.values)}"})
class ImportRecordTypeField(serializers.ChoiceField):
    pass


@extend_schema_field({"type": "string", "description": f"one of {', '.join(ExportType.values)}"})
class ExportRecordTypeField(serializers.ChoiceField):
    pass


class ImportOptionsSerializer(StrictSerializer):
    """An import's options: the multipart `options` field (JSON) or the query string of a text/csv upload."""

    record_type = ImportRecordTypeField(choices=RecordType.choices)
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="check and count, write nothing"
    )
    duplicate_policy = serializers.ChoiceField(
        choices=DuplicatePolicy.choices,
        required=False,
        default=DuplicatePolicy.SKIP,
        help_text="a row matching an existing record (leads: email, phone, or company + name; contacts: "
        "email or phone; accounts: domain or name; opportunities: name on the same account) is skipped, "
        "updates it, or is created anyway",
    )
    owner = IdField(required=False, allow_null=True, help_text="owner of the rows without one (a member id)")
    tags = serializers.ListField(
        child=StrictCharField(max_length=50),
        max_length=20,
        required=False,
        default=list,
        help_text="added to every row",
    )
    mapping = serializers.DictField(
        child=serializers.CharField(allow_null=True, allow_blank=True, max_length=40),
        required=False,
        allow_empty=False,
        help_text='{"<column header or 1-based number>": "<field>" or null}; headers are matched to fields '
        "when absent",
    )
    has_header = serializers.BooleanField(required=False, default=True)
    delimiter = serializers.ChoiceField(
        choices=sorted(DELIMITER_CHOICES), required=False, help_text="detected when absent"
    )
    encoding = serializers.ChoiceField(
        choices=csvio.ENCODINGS, required=False, help_text="detected when absent"
    )
    file_name = StrictCharField(max_length=255, required=False, allow_blank=True)

    def validate_mapping(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_MAPPING:
            raise serializers.ValidationError(f"At most {MAX_MAPPING} columns.")
        if any("\x00" in key or len(key) > 200 for key in value):
            raise serializers.ValidationError("Column names are up to 200 characters, without NUL.")
        return value

    def validate_delimiter(self, value: str) -> str:
        return DELIMITER_CHOICES[value]


def options_from_query(query: Any) -> dict[str, Any]:
    """The options of a text/csv upload, from its query string (tags comma-separated, mapping as JSON)."""
    options: dict[str, Any] = {key: query.get(key) for key in query}
    if "tags" in options:
        options["tags"] = [tag for tag in str(options["tags"]).split(",") if tag.strip()]
    if "mapping" in options:
        options["mapping"] = parse_json(options["mapping"], field="mapping")
    return options


def parse_json(value: Any, *, field: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return parsers.loads(value)
    except parsers.InvalidJSON as exc:
        raise serializers.ValidationError({field: [f"Invalid JSON: {exc}"]}) from None


class ImportSerializer(serializers.ModelSerializer):
    record_type = ImportRecordTypeField(choices=RecordType.choices, read_only=True)
    progress = serializers.FloatField(help_text="0 to 1")
    mapping = serializers.SerializerMethodField(help_text="field -> the file's column")
    owner = serializers.IntegerField(source="default_owner_id", allow_null=True)
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = Import
        fields = [
            "id",
            "record_type",
            "status",
            "phase",
            "dry_run",
            "duplicate_policy",
            "owner",
            "tags",
            "mapping",
            "header",
            "has_header",
            "delimiter",
            "encoding",
            "file_name",
            "file_size",
            "rows_read",
            "imported",
            "updated",
            "skipped",
            "failed",
            "warnings",
            "progress",
            "checkpoint",
            "attempts",
            "cancel_requested",
            "error",
            "reverted",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "reverted_at",
            "errors_url",
        ]
        read_only_fields = fields

    def get_mapping(self, run: Import) -> dict[str, str]:
        return {field: run.header[index] for field, index in run.mapping.items() if index < len(run.header)}

    def get_errors_url(self, run: Import) -> str:
        return reverse("import-errors", args=[run.pk])


class ExportFilterSerializer(serializers.Serializer):
    segment = IdField(required=False, help_text="a saved segment of the same record type")


class ActivityExportFilterSerializer(ActivityFilterSerializer):
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class ExportCreateSerializer(serializers.Serializer):
    record_type = ExportRecordTypeField(choices=ExportType.choices)
    filters = serializers.DictField(
        required=False, default=dict, help_text="the list's query parameters, as strings (and segment)"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs


class ExportSerializer(serializers.ModelSerializer):
    record_type = ExportRecordTypeField(choices=ExportType.choices, read_only=True)
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "record_type",
            "filters",
            "status",
            "rows",
            "size_bytes",
            "error",
            "created_by",
            "created_at",
            "finished_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, export: Export) -> str | None:
        return reverse("export-download", args=[export.pk]) if export.status == "done" else None
