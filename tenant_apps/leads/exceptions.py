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


class LeadConverted(Conflict):
    code = "lead_converted"

    def __init__(self, *, lead_id: int, stage: str, opportunity_id: int | None) -> None:
        super().__init__(
            "The lead was converted: it has left the lead pipeline (move its opportunity instead).",
            lead_id=lead_id,
            stage=stage,
            opportunity_id=opportunity_id,
        )


class DuplicateLead(DuplicateRecord):
    code = "duplicate_lead"
    noun = "lead"


class LeadNotDeleted(Conflict):
    code = "lead_not_deleted"
    message = "Only a deleted lead can be restored or purged."
