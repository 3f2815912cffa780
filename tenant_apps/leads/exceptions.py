from shared_apps.core.errors import Conflict, NotFound
from tenant_apps.records.exceptions import DuplicateRecord


class LeadNotFound(NotFound):
    code = "lead_not_found"
    message = "No such lead."


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"

    def __init__(self, *, current: str, requested: str, allowed: tuple[str, ...]) -> None:
        targets = ", ".join(allowed) or "none: it is final"
        super().__init__(
            f"A lead in {current} cannot move to {requested}; allowed: {targets}.",
            current=current,
            requested=requested,
            allowed=list(allowed),
        )


class DuplicateLead(DuplicateRecord):
    code = "duplicate_lead"
    noun = "lead"


class LeadNotDeleted(Conflict):
    code = "lead_not_deleted"
    message = "Only a deleted lead can be restored or purged."
