"""Every field type: valid values are stored as the contract says, invalid ones are a 400 naming
custom.<key>."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import User
from tenant_apps.currency.services import exchange_rate_set
from tenant_apps.customfields.values import definitions, serialize_values, validate_values

VALID = [
    ("text", "  Blue  ", "Blue"),
    ("long_text", "line one\nline two", "line one\nline two"),
    ("number", 12.5, "12.5"),
    ("number", "-3", "-3"),
    ("number", "1000.000100", "1000.0001"),
    ("date", "2026-03-01", "2026-03-01"),
    ("datetime", "2026-03-01T10:00:00+02:00", "2026-03-01T08:00:00.000000Z"),
    ("boolean", False, False),
    ("url", "https://example.com/a?b=1", "https://example.com/a?b=1"),
    ("email", "Jane@Example.COM", "jane@example.com"),
    ("phone", "(555) 010-7777", "+15550107777"),
]
INVALID = [
    ("text", 5),
    ("text", "x" * 256),
    ("text", "nul\x00"),
    ("long_text", "x" * 10_001),
    ("number", "twelve"),
    ("number", True),
    ("number", "NaN"),
    ("number", "1.0000001"),
    ("number", "1e30"),
    ("date", "2026-02-30"),
    ("date", 20260101),
    ("datetime", "yesterday"),
    ("boolean", "true"),
    ("boolean", 1),
    ("url", "javascript:alert(1)"),
    ("url", "not a url"),
    ("email", "not-an-email"),
    ("phone", "call me"),
    ("member", 2**62),
    ("member", "me"),
]


@pytest.mark.parametrize(("kind", "given", "stored"), VALID)
def test_valid_values_are_stored_as_the_contract_says(org, make_field, kind, given, stored):
    make_field("field", kind)
    with schema_context(org.schema_name):
        assert validate_values("lead", {"field": given}, partial=False) == {"field": stored}


@pytest.mark.parametrize(("kind", "given"), INVALID)
def test_invalid_values_name_the_field(org, make_field, kind, given):
    make_field("field", kind)
    with schema_context(org.schema_name), pytest.raises(InvalidInput) as caught:
        validate_values("lead", {"field": given}, partial=False)
    assert caught.value.field == "custom.field"


def test_money_takes_the_organizations_currencies(org, make_field):
    make_field("budget", "money")
    with schema_context(org.schema_name):
        assert validate_values("lead", {"budget": {"amount": 10}}, partial=False) == {
            "budget": {"amount": "10.00", "currency": org.default_currency.upper()}
        }
        with pytest.raises(InvalidInput) as caught:
            validate_values("lead", {"budget": {"amount": "1", "currency": "JPY"}}, partial=False)
        assert caught.value.field == "custom.budget"
        exchange_rate_set(
            currency="JPY",
            rate=Decimal("0.007"),
            valid_from=date(2026, 1, 1),
        )
        assert validate_values("lead", {"budget": {"amount": "1", "currency": "jpy"}}, partial=False) == {
            "budget": {"amount": "1.00", "currency": "JPY"}
        }
        for bad in ({"amount": "1.001"}, {"currency": "EUR"}, "10", {"amount": 1, "extra": 2}):
            with pytest.raises(InvalidInput):
                validate_values("lead", {"budget": bad}, partial=False)


def test_selects_store_option_ids_from_ids_or_labels(org, make_field):
    single = make_field("tier", "single_select", options=["Gold", "Silver"])
    multi = make_field("topics", "multi_select", options=["A", "B", "C"])
    gold, silver = (option["id"] for option in single.options)
    a, _b, c = (option["id"] for option in multi.options)
    with schema_context(org.schema_name):
        stored = validate_values("lead", {"tier": "silver", "topics": ["C", a, "c"]}, partial=False)
        assert stored == {"tier": silver, "topics": [a, c]}
        assert validate_values("lead", {"tier": gold}, partial=False) == {"tier": gold}
        for bad in ({"tier": "Bronze"}, {"tier": ["Gold"]}, {"topics": "A"}, {"topics": ["Z"]}):
            with pytest.raises(InvalidInput) as caught:
                validate_values("lead", bad, partial=False)
            assert caught.value.field == f"custom.{next(iter(bad))}"


def test_member_must_be_an_active_member_of_this_organization(org, member, make_field):
    make_field("reviewer", "member")
    here, gone = member(), member()
    with schema_context(org.schema_name):
        User.objects.filter(pk=gone.pk).update(is_active=False)
        assert validate_values("lead", {"reviewer": here.pk}, partial=False) == {"reviewer": here.pk}
        missing = User.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
        for bad in (gone.pk, missing):
            with pytest.raises(InvalidInput) as caught:
                validate_values("lead", {"reviewer": bad}, partial=False)
            assert caught.value.field == "custom.reviewer"


def test_required_on_create_and_cannot_be_cleared(org, make_field):
    make_field("region", "text", required=True)
    make_field("note", "text")
    with schema_context(org.schema_name):
        with pytest.raises(InvalidInput) as caught:
            validate_values("lead", {"note": "x"}, partial=False)
        assert caught.value.field == "custom.region"
        record = type("R", (), {"custom": {"region": "EU", "note": "x"}})()
        assert validate_values("lead", {"note": None}, partial=True, instance=record) == {"region": "EU"}
        with pytest.raises(InvalidInput) as caught:
            validate_values("lead", {"region": ""}, partial=True, instance=record)
        assert caught.value.field == "custom.region"


def test_unknown_keys_and_non_objects_are_refused(org, make_field):
    make_field("known", "text")
    with schema_context(org.schema_name):
        with pytest.raises(InvalidInput) as caught:
            validate_values("lead", {"unknown": 1}, partial=False)
        assert caught.value.field == "custom.unknown"
        with pytest.raises(InvalidInput) as caught:
            validate_values("lead", ["known"], partial=False)
        assert caught.value.field == "custom"
        # a lead field is no contact field
        with pytest.raises(InvalidInput):
            validate_values("contact", {"known": "x"}, partial=False)


def test_serialize_shows_only_defined_fields_in_order(org, make_field):
    make_field("second", "text", position=2)
    make_field("first", "number", position=1)
    with schema_context(org.schema_name):
        assert [field.key for field in definitions("lead")] == ["first", "second"]
        record = type("R", (), {"custom": {"second": "b", "gone": "x", "first": "1"}})()
        assert serialize_values("lead", record) == {"first": "1", "second": "b"}
