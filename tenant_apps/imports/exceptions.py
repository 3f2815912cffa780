from shared_apps.core.errors import AppError, Conflict, InvalidInput, NotFound


class ImportNotFound(NotFound):
    code = "import_not_found"
    message = "No such import."


class ExportNotFound(NotFound):
    code = "export_not_found"
    message = "No such export."


class ImportNotCancellable(Conflict):
    code = "import_finished"
    message = "This import has finished: there is nothing to cancel."


class ImportNotRevertible(Conflict):
    code = "import_not_revertible"
    message = "Only a finished (done or cancelled) import that wrote records can be reverted, once."


class ExportNotReady(Conflict):
    code = "export_not_ready"
    message = "This export has no file to download (yet)."


class FileTooLarge(AppError):
    status_code = 413
    code = "file_too_large"
    message = "The file is too large."


class BadFile(InvalidInput):
    """The upload is not a CSV file we can read: 400 naming `file`, with a specific code."""

    def __init__(self, message: str, *, code: str = "invalid_file", **details: object) -> None:
        super().__init__("file", message, code=code, **details)


class ImportFileError(Exception):
    """A problem with the file found while the job reads it (the import fails with this message)."""
