"""The web app's own writes: a member's list preferences."""

from __future__ import annotations

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import User
from tenant_apps.web.models import LISTS, ListColumns
from tenant_apps.web.selectors import offered_columns


def list_columns_set(*, member: User, list_name: str, columns: list[str]) -> ListColumns:
    """Remember the columns a member shows in a list (known columns only, in the list's order; none at all
    is refused: the name is always shown, a list of names alone is one column)."""
    if list_name not in LISTS:
        raise InvalidInput("list", "No such list.")
    known = offered_columns(list_name)
    unknown = [column for column in columns if column not in known]
    if unknown:
        raise InvalidInput("columns", f"Unknown column: {unknown[0]}.")
    ordered = [column for column in known if column in set(columns)]
    choice, _created = ListColumns.objects.update_or_create(
        member=member, list_name=list_name, defaults={"columns": ordered}
    )
    return choice
