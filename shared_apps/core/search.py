"""Expressions for the stored search vectors and trigram indexes of every searchable record type."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.search import SearchVector, SearchVectorCombinable, SearchVectorField
from django.db.models import F, Func, TextField, Value
from django.db.models.functions import Coalesce


class Unaccent(Func):
    """public.lp_unaccent(): accent folding where the server has unaccent, identity elsewhere (immutable)."""

    function = "public.lp_unaccent"
    output_field = TextField()


def folded(field: str) -> Func:
    return Unaccent(Coalesce(F(field), Value(""), output_field=TextField()))


def weighted_vector(**weights: list[str]) -> Any:
    """setweight(to_tsvector('simple', fields), weight) || ...: weighted_vector(A=["name"], B=["email"])."""
    vectors = [
        SearchVector(*(folded(field) for field in fields), config="simple", weight=weight)
        for weight, fields in sorted(weights.items())
    ]
    combined: Any = vectors[0]
    for vector in vectors[1:]:
        combined = combined + vector
    return combined


class CustomValuesVector(SearchVectorCombinable, Func):
    """The string values of a record's custom fields (its JSONB `custom`: text, long text, emails, URLs,
    phones, dates), at the lowest weight: searchable beside the record's own fields, ranked after them."""

    template = (
        "setweight(jsonb_to_tsvector('simple'::regconfig, %(expressions)s, '[\"string\"]'::jsonb), 'D')"
    )
    output_field = SearchVectorField()
    config = None


def record_vector(**weights: list[str]) -> Any:
    """weighted_vector(...) of the record's own fields, plus its custom values (CustomValuesVector)."""
    return weighted_vector(**weights) + CustomValuesVector(F("custom"))
