"""What the lead list and the deal table share: the header whose columns sort, and a page of rows in a
chosen column's order by page number."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from django.db.models import OrderBy, QuerySet
from django.http import HttpRequest

from tenant_apps.web import selectors

MAX_PAGE = 400


def sort_head(
    request: HttpRequest,
    keys: list[str],
    labels: dict[str, str],
    sorts: Collection[str],
    sort: str,
    *,
    sortable: bool = True,
) -> list[tuple[str, str, str, str]]:
    """The list's header: per shown column its label, the URL sorting by it (ascending, or descending when
    it is the ascending sort already; blank for a column that does not sort) and its direction now."""
    head = []
    for key in keys:
        url = ""
        if sortable and key in sorts:
            query = request.GET.copy()
            for reset in ("page", "cursor"):
                query.pop(reset, None)
            query["sort"] = f"-{key}" if sort == key else key
            url = f"?{query.urlencode()}"
        direction = "ascending" if sort == key else "descending" if sort == f"-{key}" else "none"
        head.append((key, labels[key], url, direction))
    return head


def numbered_page(
    request: HttpRequest, rows: QuerySet[Any], ordering: Sequence[OrderBy | str], page: int
) -> tuple[list[Any], str]:
    """A page of rows in `ordering` by page number, and the next page's URL ("" on the last one)."""
    start = (page - 1) * selectors.PAGE_SIZE
    found = list(rows.order_by(*ordering)[start : start + selectors.PAGE_SIZE + 1])
    if len(found) <= selectors.PAGE_SIZE or page >= MAX_PAGE:
        return found[: selectors.PAGE_SIZE], ""
    query = request.GET.copy()
    query["page"] = str(page + 1)
    return found[: selectors.PAGE_SIZE], f"?{query.urlencode()}"


def sort_choices(keys: list[str], labels: dict[str, str], sorts: Collection[str]) -> list[tuple[str, str]]:
    """The "Sort by" menu: each shown column that sorts, ascending and descending."""
    choices = []
    for key in keys:
        if key in sorts:
            choices += [(key, f"{labels[key]}, ascending"), (f"-{key}", f"{labels[key]}, descending")]
    return choices


def kept(request: HttpRequest, fields: Collection[str]) -> list[tuple[str, str]]:
    """The list's query (its filters) without its order and page: what the "Sort by" form sends along."""
    return [
        (key, str(value))
        for key, value in request.GET.items()
        if key not in ("sort", "page", "cursor") and key in fields
    ]
