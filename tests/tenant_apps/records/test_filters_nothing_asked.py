"""A list request whose query names no filter (page size, cursor, ordering only) gets the filters' defaults
without the filter serializer being built, and exactly what validating would have given."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from shared_apps.http.api import parse
from tenant_apps.records.api.filters import (
    AccountFilterSerializer,
    ContactFilterSerializer,
    LeadFilterSerializer,
    OpportunityFilterSerializer,
)
from tenant_apps.records.api.serializers import RecordFilterSerializer

CLASSES = [
    LeadFilterSerializer,
    AccountFilterSerializer,
    ContactFilterSerializer,
    OpportunityFilterSerializer,
]
UNRELATED = ["", "page_size=50", "page_size=50&cursor=abc&ordering=-created_at", "format=json&q="]


def _validated(cls, query: str) -> dict:
    serializer = cls(data=QueryDict(query))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def test_every_record_filter_class_is_covered():
    assert {c for c in RecordFilterSerializer.__subclasses__()} == set(CLASSES)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("query", UNRELATED)
def test_no_filter_named_gives_what_validating_gives_without_building_the_serializer(cls, query, monkeypatch):
    expected = _validated(cls, query)
    parse(cls, QueryDict(query))  # the defaults are known from now on

    def built(*args, **kwargs):
        raise AssertionError("the serializer was built")

    monkeypatch.setattr(cls, "__init__", built)
    assert parse(cls, QueryDict(query)) == expected
    first = parse(cls, QueryDict(query))
    first["stage"] = ["changed by the caller"]
    assert parse(cls, QueryDict(query)) == expected  # each caller gets its own copy


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, expected",
    [
        ("page_size=50&stage=won", {"stage": ["WON"]}),
        ("owner=me", {"owner": "me"}),
    ],
)
def test_a_named_filter_is_validated(query, expected):
    assert parse(LeadFilterSerializer, QueryDict(query)) == expected


def test_a_bad_filter_is_still_refused_naming_it():
    with pytest.raises(ValidationError) as refused:
        parse(LeadFilterSerializer, QueryDict("page_size=50&value_min=lots"))
    assert "value_min" in refused.value.detail


def test_a_custom_field_parameter_goes_through_validation(monkeypatch):
    seen = []
    monkeypatch.setattr(
        "tenant_apps.records.api.serializers.custom_filter_q", lambda record_type, params: seen.append(1)
    )
    parse(LeadFilterSerializer, QueryDict("custom.size=3"))
    assert seen == [1]
