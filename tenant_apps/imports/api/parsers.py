"""A text/csv request body, handed to the import service as a stream (never read whole into memory)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from rest_framework.parsers import BaseParser


@dataclass
class RawUpload:
    stream: IO[bytes]


class CSVUploadParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        """The stream itself, wrapped (request.data is then a RawUpload, not a mapping)."""
        return RawUpload(stream)


class ApplicationCSVUploadParser(CSVUploadParser):
    media_type = "application/csv"
