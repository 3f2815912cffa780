from shared_apps.core.errors import Conflict, NotFound


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


class DuplicateLead(Conflict):
    code = "duplicate_lead"

    def __init__(self, *, existing_id: int | None, matched_on: str) -> None:
        if existing_id is None:  # a lead the member may not see: neither its id nor its fields are told
            super().__init__(
                f'A lead you cannot see has the same {matched_on}; send "allow_duplicate": true to create '
                "this one anyway.",
                matched_on=matched_on,
            )
            return
        super().__init__(
            f'A lead with the same {matched_on} exists (id {existing_id}); send "allow_duplicate": true to '
            "create it anyway.",
            existing_id=existing_id,
            matched_on=matched_on,
        )


class LeadNotDeleted(Conflict):
    code = "lead_not_deleted"
    message = "Only a deleted lead can be restored or purged."
