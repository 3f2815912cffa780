"""Errors every record type shares."""

from __future__ import annotations

from shared_apps.core.errors import Conflict


class DuplicateRecord(Conflict):
    """Another live record has the same email, phone (or company + name, for leads). Each record type names
    itself (`noun`) and its code."""

    code = "duplicate_record"
    noun = "record"

    def __init__(self, *, existing_id: int | None, matched_on: str) -> None:
        if existing_id is None:  # a record the member may not see: neither its id nor its fields are told
            super().__init__(
                f"A {self.noun} you cannot see has the same {matched_on}; "
                'send "allow_duplicate": true to save this one anyway.',
                matched_on=matched_on,
            )
            return
        super().__init__(
            f"A {self.noun} with the same {matched_on} exists (id {existing_id}); "
            'send "allow_duplicate": true to save it anyway.',
            existing_id=existing_id,
            matched_on=matched_on,
        )
