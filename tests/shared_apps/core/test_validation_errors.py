"""A 400 body's `errors` is {field: [messages]} (the documented ErrorSerializer shape) however deep the
offending value sits: a list item is named `tags[1]`, an object's key `address.city`, an item of a list of
objects `contacts[1].email`, and a nested object's own errors the object itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from shared_apps.core.errors import exception_handler
from shared_apps.http.api import ErrorSerializer
from shared_apps.users.models import Role


class AddressSerializer(serializers.Serializer):
    city = serializers.CharField(max_length=5)
    zip = serializers.RegexField(r"^\d+$")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["city"] == "Nope":
            raise serializers.ValidationError("No such place.")
        return attrs


class PersonSerializer(serializers.Serializer):
    email = serializers.EmailField()


class RecordSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=10, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=3), required=False)
    matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()), required=False
    )
    weights = serializers.DictField(child=serializers.IntegerField(), required=False)
    address = AddressSerializer(required=False)
    contacts = PersonSerializer(many=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("name") == "both":
            raise serializers.ValidationError("Name and tags disagree.")
        return attrs


def errors_of(data: Any) -> dict[str, list[str]]:
    """The `errors` a view parsing `data` with RecordSerializer answers (checked against the documented
    shape)."""
    serializer = RecordSerializer(data=data)
    with pytest.raises(serializers.ValidationError) as raised:
        serializer.is_valid(raise_exception=True)
    return rendered(raised.value)


def rendered(exc: Exception) -> dict[str, list[str]]:
    response = exception_handler(exc, {})
    assert response is not None and response.status_code == 400
    assert response.data["code"] == "invalid"
    documented = ErrorSerializer(data=response.data)
    assert documented.is_valid(), documented.errors
    errors: dict[str, list[str]] = response.data["errors"]
    assert all(isinstance(messages, list) for messages in errors.values())
    assert all(isinstance(message, str) for messages in errors.values() for message in messages)
    return errors


def test_a_list_items_error_is_named_by_its_index():
    errors = errors_of({"tags": ["ok", "much too long", "no", "also too long"]})
    assert list(errors) == ["tags[1]", "tags[3]"]
    assert "no more than 3 characters" in errors["tags[1]"][0]


def test_a_list_fields_own_error_keeps_the_fields_name():
    assert list(errors_of({"tags": "not a list"})) == ["tags"]


def test_a_list_of_lists_names_both_indexes():
    assert list(errors_of({"matrix": [[1, 2], [3, "x"]]})) == ["matrix[1][1]"]


def test_a_nested_objects_error_is_named_by_its_path():
    errors = errors_of({"address": {"city": "Springfield", "zip": "12a"}})
    assert list(errors) == ["address.city", "address.zip"]


def test_a_dict_fields_value_is_named_by_its_key():
    assert list(errors_of({"weights": {"a": 1, "b": "heavy"}})) == ["weights.b"]


def test_a_list_of_objects_names_the_item_and_its_field():
    errors = errors_of({"contacts": [{"email": "a@example.com"}, {"email": "nope"}, {}]})
    assert list(errors) == ["contacts[1].email", "contacts[2].email"]
    assert errors["contacts[2].email"] == ["This field is required."]


def test_a_nested_objects_own_errors_name_the_object():
    assert errors_of({"address": {"city": "Nope", "zip": "1"}}) == {"address": ["No such place."]}
    assert list(errors_of({"address": "Main Street"})) == ["address"]
    assert list(errors_of({"contacts": {"email": "a@example.com"}})) == ["contacts"]


def test_non_field_errors_stay_non_field_errors():
    assert errors_of({"name": "both"}) == {"non_field_errors": ["Name and tags disagree."]}
    assert rendered(serializers.ValidationError("Whole request.")) == {"non_field_errors": ["Whole request."]}
    assert rendered(DjangoValidationError("From a model.")) == {"non_field_errors": ["From a model."]}
    assert rendered(DjangoValidationError({"email": ["Taken."]})) == {"email": ["Taken."]}


def test_flat_names_already_given_are_kept():
    detail = {"steps[0].subject": ["Unknown merge field."], "custom.region": ["Region is required."]}
    assert rendered(serializers.ValidationError(detail)) == detail


def test_errors_of_several_fields_are_all_named():
    errors = errors_of({"name": "x" * 11, "tags": ["toolong"], "address": {"city": "A", "zip": "z"}})
    assert list(errors) == ["name", "tags[0]", "address.zip"]


@pytest.mark.parametrize("path", ["/api/accounts/", "/api/contacts/", "/api/leads/"])
def test_an_invalid_tag_is_named_by_its_index_through_the_api(api, path):
    response = api(Role.ADMIN).post(path, {"name": "Tagged", "tags": ["fine", 5]}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["tags[1]"]


def test_a_merges_field_choice_is_named_by_its_key_through_the_api(api):
    body = {"survivor": 1, "merged": [2, 0], "fields": {"name": "two"}}
    response = api(Role.MANAGER).post("/api/leads/merge/", body, format="json")
    assert response.status_code == 400, response.content
    assert sorted(response.json()["errors"]) == ["fields.name", "merged[1]"]
