from __future__ import annotations

from typing import Any

from shared_apps.core.errors import Conflict, InvalidInput, NotFound


class TaskNotFound(NotFound):
    code = "task_not_found"
    message = "No such task."


class TaskTransitionNotAllowed(Conflict):
    code = "task_transition_not_allowed"

    def __init__(self, *, current: str, requested: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"A {current} task cannot become {requested}; allowed: {', '.join(allowed) or 'none'}.",
            current=current,
            requested=requested,
            allowed=list(allowed),
        )


class TaskAnchorInvalid(InvalidInput):
    """A task is on exactly one record: the error names every field involved (all four when none was given,
    each one given when several were)."""

    code = "task_anchor"

    def __init__(self, fields: list[str], message: str, **details: Any) -> None:
        super().__init__(fields[0], message, code=self.code, **details)
        self.fields = fields

    def as_body(self) -> dict[str, Any]:
        return {**super().as_body(), "errors": {field: [self.message] for field in self.fields}}
