from shared_apps.core.errors import Conflict, NotFound
from tenant_apps.records.exceptions import DuplicateRecord


class ContactNotFound(NotFound):
    code = "contact_not_found"
    message = "No such contact."


class ContactNotDeleted(Conflict):
    code = "contact_not_deleted"
    message = "Only a deleted contact can be restored."


class DuplicateContact(DuplicateRecord):
    code = "duplicate_contact"
    noun = "contact"
