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


KEY = (
    "btrim(regexp_replace(lower(public.lp_unaccent(COALESCE(%(expressions)s, ''))), '[^a-z0-9]+', ' ', 'g'))"
)


class PrefixKey(Func):
    """A field as a type-ahead key: accent-folded, lower case, its words (letters and digits) joined by one
    space, compared byte-wise (COLLATE "C"), so that "what the text begins with" is a b-tree range read in
    key order: `key >= 'summit la' AND key < 'summit lb' ORDER BY key LIMIT k`, whatever the prefix's
    popularity (a GIN index builds the bitmap of every match of a common word before any LIMIT)."""

    template = f'({KEY} COLLATE "C")'
    output_field = TextField()


class FirstWordKey(Func):
    """The key's first word ("mia de la cruz" -> "mia"): a first name as typed."""

    template = f"(split_part({KEY}, ' ', 1) COLLATE \"C\")"
    output_field = TextField()


class RestKey(Func):
    """The key from its second word ("mia de la cruz" -> "de la cruz", "mia" -> ""): a surname as typed.
    Beside FirstWordKey in one index, "sof no" is a range on both columns: the index's own tuples answer
    it (first names from "sof", surnames from "no"), no table row is read to reject one."""

    template = f"(regexp_replace({KEY}, '^[a-z0-9]+ ?', '') COLLATE \"C\")"
    output_field = TextField()


def prefix_key(field: str) -> Func:
    return PrefixKey(F(field))


def first_word_key(field: str) -> Func:
    return FirstWordKey(F(field))


def rest_key(field: str) -> Func:
    return RestKey(F(field))
