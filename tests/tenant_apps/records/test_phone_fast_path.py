"""Issue 21: a North American number written with "+1" is normalized without libphonenumber (an import of a
million leads spent 18 s of CPU parsing them), to exactly what libphonenumber gives, in every region."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from tenant_apps.records import normalize

PUNCTUATION = " ().-/"


def libphonenumber(value: str, region: str) -> str:
    """normalize.phone's answer by way of libphonenumber alone (the path before the fast one)."""
    number = phonenumbers.parse(value, region)
    assert phonenumbers.is_possible_number_with_reason(number) == normalize.POSSIBLE
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def written(rng: random.Random, digits: str) -> str:
    """'+1' and the digits with random punctuation around them, as people write numbers."""
    text = ""
    for piece in ["+1", *digits]:
        text += piece + "".join(rng.choice(PUNCTUATION) for _ in range(rng.choice([0, 0, 0, 1, 2])))
    return text.strip()


def test_north_american_numbers_with_plus_one_skip_libphonenumber(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("libphonenumber called")

    monkeypatch.setattr(phonenumbers, "parse", refuse)
    for value in ("+1 (555) 010-7777", "+15550107777", "+1-800-555-0199", "+1 212.555.0101 "):
        assert normalize.phone(value, "US") == "+1" + "".join(c for c in value if c.isdigit())[1:]
    assert normalize.phone("+1 (555) 010-7777", "GB") == "+15550107777"


@pytest.mark.parametrize("region", ["US", "CA", "GB", "DE", "IN"])
def test_the_fast_path_gives_what_libphonenumber_gives(region: str) -> None:
    rng = random.Random(region)
    for _ in range(3000):
        digits = rng.choice("23456789") + "".join(rng.choice("0123456789") for _ in range(9))
        value = written(rng, digits)
        assert normalize.NANP_PLUS.fullmatch(value), value
        assert normalize.phone(value, region) == libphonenumber(value, region) == "+1" + digits, value


@pytest.mark.parametrize(
    "value",
    [
        "+1 (155) 010-7777",  # a national number beginning with 1: libphonenumber decides
        "+1 555 010 777",  # nine digits
        "+1 555 010 77777",  # eleven
        "+44 20 7946 0958",
        "+1\t555 010 7777",  # whitespace libphonenumber does not treat as punctuation
        "+1 \u0665\u0665\u0665 010 7777",  # digits that are not ASCII (Arabic-Indic fives)
    ],
)
def test_other_forms_still_go_through_libphonenumber(value: str) -> None:
    assert not normalize.NANP_PLUS.fullmatch(value)
