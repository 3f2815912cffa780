"""Parsing one value of a condition for its field's type. Each parser returns the Python value or raises
BadValue, whose message says what would fit ("a number", "one of NEW, CONTACTED")."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import dateparse, timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import User
from tenant_apps.filtering.fields import Field
from tenant_apps.filtering.periods import PERIODS
from tenant_apps.records import normalize

MAX_LIST = 100
MAX_STRING = 200
MAX_NUMBER = Decimal("1000000000000")  # beyond any amount, value or score a record can hold
MAX_DAYS = 36_500
MAX_ID = 2**63 - 1
# Dates far outside these overflow Python's datetime arithmetic once time zones apply.
MIN_YEAR, MAX_YEAR = 1000, 9998


class BadValue(Exception):
    """A value does not fit its field and operator; the message says what would."""


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_STRING or "\x00" in value:
        raise BadValue(f"a string of at most {MAX_STRING} characters")
    return value


def parse_number(value: Any, *, integer: bool = False, strings: bool = False) -> Decimal:
    """A finite number within ±MAX_NUMBER (an integer if asked); `strings`: also written as a string."""
    what = "an integer" if integer else "a number"
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise BadValue(what)
    if isinstance(value, int | float):
        number = Decimal(str(value))
    elif strings and isinstance(value, str) and len(value) <= 30:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise BadValue(what) from None
        if not number.is_finite():
            raise BadValue(what)
    else:
        raise BadValue(what)
    if abs(number) > MAX_NUMBER:
        raise BadValue(f"{what} between -{MAX_NUMBER} and {MAX_NUMBER}")
    if integer and number != number.to_integral_value():
        raise BadValue(what)
    return number


def parse_choice(field: Field, value: Any, *, ignore_case: bool = False) -> str:
    """One of the field's choices, returned as the field spells it."""
    if isinstance(value, str):
        for choice in field.choices:
            if choice == value or (ignore_case and choice.casefold() == value.casefold()):
                return choice
    raise BadValue(f"one of {', '.join(field.choices)}")


def parse_id(value: Any, *, what: str = "an id (a positive integer)") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise BadValue(what)
    return value


def parse_member(value: Any) -> int:
    """The id of a member of this organization (one query)."""
    parse_id(value, what="a member id")
    if not User.objects.filter(pk=value).exists():
        raise BadValue("the id of a member of this organization")
    return int(value)


def parse_tag(value: Any) -> str:
    """A tag, normalized as records store them."""
    if not isinstance(value, str):
        raise BadValue("a tag (a string)")
    try:
        tags = normalize.tags([value])
    except InvalidInput:
        tags = []
    if len(tags) != 1:
        raise BadValue("a tag of 1 to 50 characters")
    return tags[0]


def parse_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise BadValue(f"a number of days between 0 and {MAX_DAYS}")
    return value


def parse_period(value: Any) -> str:
    """The name of a calendar period relative to today (this_quarter, last_month, today, ...)."""
    if not isinstance(value, str) or value not in PERIODS:
        raise BadValue(f"a period: one of {', '.join(PERIODS)}")
    return value


def parse_date(value: Any) -> date:
    parsed = None
    if isinstance(value, str) and len(value) <= 10:
        try:
            parsed = dateparse.parse_date(value)
        except ValueError:
            parsed = None
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise BadValue("an ISO date (YYYY-MM-DD)")
    return parsed


def parse_date_or_datetime(value: Any) -> date | datetime:
    """An ISO date (compared by calendar day) or an ISO date and time (naive: the current time zone)."""
    if isinstance(value, str) and len(value) <= 10:
        return parse_date(value)
    parsed = None
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = dateparse.parse_datetime(value)
        except ValueError:
            parsed = None
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise BadValue("an ISO date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM:SSZ)")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def parse_flag(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        raise BadValue("true or false (or omitted)")
    return value


def comparable(value: Any) -> Any:
    """A date against a datetime: the date at the start of its day (to order bounds)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return timezone.make_aware(datetime(value.year, value.month, value.day))
    return value
