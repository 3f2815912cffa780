"""Imports (upload, status, errors.csv, cancel, revert) and exports (streamed, or as a job with a file).

Imports write in bulk and see every record of a type (their duplicate checks do): managers and admins only.
Exports are reads: every member exports what the matching list shows them (a rep's hidden leads stay
hidden)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import InvalidInput
from shared_apps.http.api import ERRORS, ErrorSerializer, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from shared_apps.http.renderers import JSONRenderer
from shared_apps.http.streaming import CSVRenderer
from shared_apps.organizations.context import exports_dir
from shared_apps.users.models import Role
from tenant_apps.imports import selectors, services
from tenant_apps.imports.api.parsers import ApplicationCSVUploadParser, CSVUploadParser, RawUpload
from tenant_apps.imports.api.serializers import (
    ActivityExportFilterSerializer,
    ExportCreateSerializer,
    ExportFilterSerializer,
    ExportSerializer,
    ImportOptionsSerializer,
    ImportSerializer,
    options_from_query,
    parse_json,
)
from tenant_apps.imports.api.streaming import csv_response, file_chunks
from tenant_apps.imports.exceptions import BadFile, ExportNotReady, FileTooLarge
from tenant_apps.imports.models import ExportStatus, ExportType
from tenant_apps.records.api.filters import (
    AccountFilterSerializer,
    ContactFilterSerializer,
    LeadFilterSerializer,
    OpportunityFilterSerializer,
    TaskFilterSerializer,
)

CSV = {(200, "text/csv"): OpenApiTypes.BINARY}
FILTERS: dict[str, type[serializers.Serializer]] = {
    ExportType.LEADS: LeadFilterSerializer,
    ExportType.CONTACTS: ContactFilterSerializer,
    ExportType.ACCOUNTS: AccountFilterSerializer,
    ExportType.OPPORTUNITIES: OpportunityFilterSerializer,
    ExportType.TASKS: TaskFilterSerializer,
    ExportType.ACTIVITIES: ActivityExportFilterSerializer,
}
# multipart framing around the file: an upload this much over the limit is refused before it is read
MULTIPART_SLACK = 1 << 20


class ImportCursor(Cursor):
    pass


class ImportView(OrganizationView):
    read_role = Role.MANAGER
    write_role = Role.MANAGER
    resource = "imports"


def _refuse_oversized(request: Request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.IMPORT_MAX_BYTES
    if length > limit + (MULTIPART_SLACK if request.content_type.startswith("multipart/") else 0):
        raise FileTooLarge(f"At most {limit} bytes.", max_bytes=limit)


class ImportListView(ImportView):
    pagination_class = ImportCursor
    parser_classes = [MultiPartParser, FormParser, CSVUploadParser, ApplicationCSVUploadParser]

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
        responses={200: ImportSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Imports, newest first."""
        return self.paginated(selectors.import_list(), ImportSerializer)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "options": {"type": "string", "description": "ImportOptions as JSON"},
                },
                "required": ["file", "options"],
            },
            "text/csv": OpenApiRequest(OpenApiTypes.BINARY),
        },
        parameters=[ImportOptionsSerializer],
        responses={202: ImportSerializer, 413: ErrorSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        """Upload a CSV file of leads, contacts or accounts: multipart (`file`, and `options` as JSON) or
        the file itself as a text/csv body with the options in the query string. 202: the import runs as
        a job; poll GET /api/imports/<id>/. 413 over IMPORT_MAX_BYTES; 400 naming `file` for what is not
        a readable CSV file (binary, empty, no rows, over IMPORT_MAX_ROWS rows)."""
        _refuse_oversized(request)
        if request.content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            upload = request.FILES.get("file")
            form: Any = request.data
            options = parse(ImportOptionsSerializer, parse_json(form.get("options", "{}"), field="options"))
            if upload is None:
                raise InvalidInput("file", "Upload the CSV file in the `file` field.", code="required")
            stream: Any = upload
            options.setdefault("file_name", upload.name or "")
        else:
            data = request.data  # an unsupported content type is a 415 before anything else
            options = parse(ImportOptionsSerializer, options_from_query(request.query_params))
            if not isinstance(data, RawUpload):
                raise BadFile("The file is empty.", code="empty_file")
            stream = data.stream
        run = services.import_create(
            actor=self.member, file=stream, request=request._request, **_service_options(options)
        )
        return Response(ImportSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _service_options(options: dict[str, Any]) -> dict[str, Any]:
    options = dict(options)
    if "owner" in options:
        options["owner_id"] = options.pop("owner")
    return options


class ImportDetailView(ImportView):
    @extend_schema(responses={200: ImportSerializer, **ERRORS})
    def get(self, request: Request, import_id: int) -> Response:
        """Status (queued, running, done, failed, cancelled, reverting, reverted), counts and progress."""
        return Response(ImportSerializer(selectors.import_get(import_id=import_id)).data)


class ImportErrorsView(ImportView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(responses={**CSV, **ERRORS})
    def get(self, request: Request, import_id: int) -> Any:
        """Every row not written (failed or skipped), with its line, code, field, reason and values."""
        run = selectors.import_get(import_id=import_id)
        return csv_response(
            request, lambda: selectors.import_errors_csv(run=run), f"import-{run.pk}-errors.csv"
        )


class ImportCancelView(ImportView):
    @extend_schema(request=None, responses={200: ImportSerializer, **ERRORS})
    def post(self, request: Request, import_id: int) -> Response:
        """Cancel: at once when queued, after the current batch when running (see cancel_requested)."""
        run = services.import_cancel(import_id=import_id, actor=self.member)
        return Response(ImportSerializer(selectors.import_get(import_id=run.pk)).data)


class ImportRevertView(ImportView):
    @extend_schema(request=None, responses={202: ImportSerializer, **ERRORS})
    def post(self, request: Request, import_id: int) -> Response:
        """Undo a done or cancelled import (a job): the records it created are soft-deleted (restorable);
        the ones it updated get their previous values back where nobody changed them since."""
        run = services.import_revert(import_id=import_id, actor=self.member)
        return Response(ImportSerializer(run).data, status=status.HTTP_202_ACCEPTED)


# --- exports ---------------------------------------------------------------------------------------------


class ExportView(OrganizationView):
    resource = "exports"
    write_role = Role.VIEWER  # an export job changes no record: whoever may read the list may export it


def export_filters(record_type: str, data: Any) -> dict[str, Any]:
    """The list's filters (its own serializer, so the same 400s) plus `segment`."""
    filters = parse(FILTERS[record_type], data)
    segment = parse(ExportFilterSerializer, data).get("segment")
    if segment is not None:
        if record_type in (ExportType.ACTIVITIES, ExportType.TASKS):
            raise InvalidInput("segment", f"{ExportType(record_type).label} have no segments.")
        filters["segment"] = segment
    return filters


class ExportCSVView(ExportView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[
            LeadFilterSerializer,
            ExportFilterSerializer,
            OpenApiParameter("type", str, description="activities: comma-separated types"),
        ],
        responses={**CSV, **ERRORS},
    )
    def get(self, request: Request, record_type: str) -> Any:
        """The rows of the list with the same query parameters (leads, contacts, accounts, opportunities,
        tasks; activities by type and creation time), streamed as CSV in id order, formula-like cells
        escaped."""
        query = selectors.export_query(
            record_type=record_type,
            actor=self.member,
            filters=export_filters(record_type, request.query_params),
        )
        filters = {key: str(value)[:200] for key, value in request.query_params.items()}
        audit_record(
            "export.downloaded",
            request=request,
            target_type="export",
            target_repr=record_type,
            changes={"record_type": record_type, "filters": filters},
        )
        return csv_response(request, lambda: iter(selectors.ExportStream(query)), f"{record_type}.csv")


class ExportCursor(Cursor):
    pass


class ExportListView(ExportView):
    pagination_class = ExportCursor

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
        responses={200: ExportSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Your exports (an admin sees everyone's), newest first."""
        return self.paginated(selectors.export_list(actor=self.member), ExportSerializer)

    @extend_schema(request=ExportCreateSerializer, responses={202: ExportSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Run an export as a job producing a file: poll GET /api/exports/<id>/, then download it."""
        data = parse(ExportCreateSerializer, request.data)
        raw = {
            key: ",".join(map(str, value)) if isinstance(value, list) else str(value)
            for key, value in data["filters"].items()
        }
        filters = export_filters(data["record_type"], raw)
        # fail now, not in the job, on a segment of another type or another member's private one
        selectors.export_query(record_type=data["record_type"], actor=self.member, filters=filters)
        export = services.export_create(actor=self.member, record_type=data["record_type"], filters=filters)
        return Response(ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(ExportView):
    @extend_schema(responses={200: ExportSerializer, **ERRORS})
    def get(self, request: Request, export_id: int) -> Response:
        return Response(ExportSerializer(selectors.export_get(export_id=export_id, actor=self.member)).data)


class ExportDownloadView(ExportView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(responses={**CSV, **ERRORS})
    def get(self, request: Request, export_id: int) -> Any:
        """The export's file (409 until it is done)."""
        export = selectors.export_get(export_id=export_id, actor=self.member)
        path = exports_dir() / export.file_name
        if export.status != ExportStatus.DONE or not export.file_name or not path.is_file():
            raise ExportNotReady(status=export.status)
        audit_record(
            "export.downloaded",
            request=request,
            target=export,
            changes={"record_type": export.record_type, "filters": export.filters},
        )
        return csv_response(request, file_chunks(path), f"{export.record_type}-{export.pk}.csv")
