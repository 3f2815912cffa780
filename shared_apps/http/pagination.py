from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class Cursor(CursorPagination):
    """Cursor pagination: stable under inserts, no COUNT(*), a bounded page size.

    `ordering` may be chosen by the client among `orderings` (each given as its leading field; the id
    breaks ties unless the field is unique); a bad cursor or ordering is a 400 naming the parameter, not a
    404."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering: Any = ("-created_at", "-id")
    orderings: tuple[str, ...] = ()

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        requested = request.query_params.get("ordering")
        if not requested:
            return tuple(self.ordering)
        if requested.lstrip("-") not in self.orderings:
            raise exceptions.ValidationError(
                {"ordering": [f"Order by one of {', '.join(self.orderings)} (prefix - for descending)."]}
            )
        field = requested.lstrip("-")
        model = getattr(queryset, "model", None)
        if model is not None and model._meta.get_field(field).unique:
            return (requested,)  # a unique field orders alone: its own index serves the page
        return (requested, "-id" if requested.startswith("-") else "id")

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None
