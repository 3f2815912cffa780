from __future__ import annotations

from shared_apps.core.errors import Conflict, NotFound


class RecordNotFound(NotFound):
    """Unknown ids; the code names the record type ("lead_not_found"), as each type's own API does."""

    def __init__(self, *, record_type: str, ids: list[int]) -> None:
        listed = ", ".join(f"#{record_id}" for record_id in ids)
        super().__init__(f"No such {record_type}: {listed}.", code=f"{record_type}_not_found", ids=ids)


class RecordDeleted(Conflict):
    code = "record_deleted"

    def __init__(self, *, record_type: str, ids: list[int]) -> None:
        listed = ", ".join(f"#{record_id}" for record_id in ids)
        super().__init__(f"Deleted {record_type}s cannot be merged; restore {listed} first.", ids=ids)


class AlreadyMerged(Conflict):
    code = "already_merged"

    def __init__(self, *, record_type: str, survivors: dict[int, int]) -> None:
        listed = ", ".join(f"#{record_id} into #{into}" for record_id, into in survivors.items())
        super().__init__(
            f"Already merged {record_type}s cannot be merged again ({listed}); use the survivor.",
            survivors={str(record_id): into for record_id, into in survivors.items()},
        )


class ConversionConflict(Conflict):
    code = "conversion_conflict"
    message = (
        "A converted lead can only be merged into a lead converted into the same account: "
        "choose the converted lead as the survivor."
    )
