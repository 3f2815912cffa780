from __future__ import annotations

from shared_apps.core.errors import NotFound


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"
    message = "No such attachment."
