from shared_apps.core.errors import Conflict, NotFound


class OpportunityNotFound(NotFound):
    code = "opportunity_not_found"
    message = "No such opportunity."


class OpportunityNotDeleted(Conflict):
    code = "opportunity_not_deleted"
    message = "Only a deleted opportunity can be restored."


class OpportunityClosed(Conflict):
    """Closed stages are final: a won or lost deal is reopened as a new opportunity."""

    code = "opportunity_closed"

    def __init__(self, *, stage: str, requested: str | None = None) -> None:
        super().__init__(
            f"The opportunity is {stage}, which is final.",
            stage=stage,
            **({"requested": requested} if requested else {}),
        )


class StageUnchanged(Conflict):
    code = "stage_unchanged"

    def __init__(self, *, stage: str) -> None:
        super().__init__(f"The opportunity is already in {stage}.", stage=stage)
