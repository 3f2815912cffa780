"""Normalization of record fields, shared by create, update, import and duplicate detection."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from shared_apps.core.errors import InvalidInput
from shared_apps.organizations.context import current_organization

# ISO 4217 active codes.
CURRENCIES = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VED",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_TAGS = 20
POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE
# A North American number written with its country code: "+1", then ten ASCII digits, the first 2-9, with
# only ASCII punctuation around them. libphonenumber's answer for it is always "+1" and the ten digits
# (country code 1 reads the US's metadata: no national prefix to strip before a 2-9, ten digits its one
# possible length), so it is given without parsing (libphonenumber costs ~18 us a number: an import of 1M
# leads spent 18 s of CPU there).
NANP_PLUS = re.compile(r"\+1[ ().\-/]*[2-9](?:[ ().\-/]*[0-9]){9}[ ().\-/]*", re.ASCII)


def email(value: str) -> str:
    value = (value or "").strip().lower()
    if value and (len(value) > 254 or not EMAIL_RE.match(value)):
        raise InvalidInput("email", "Enter a valid email address.")
    return value


def phone(value: str, region: str | None = None) -> str:
    """E.164 when the number is complete for `region` (the organization's, by default): '+1 (555) 010-7777',
    '15550107777' and '(555) 010-7777' are all '+15550107777' in the US. A number phonenumbers cannot place
    (too short for the region, or in no region) keeps its digits with the leading + (7 to 15 digits), so
    that it is still found and compared as before."""
    value = (value or "").strip()
    if not value:
        return ""
    if re.search(r"[^\d\s()+.\-/]", value) or "+" in value[1:]:
        raise InvalidInput(
            "phone", "A phone number holds digits, spaces, dashes, dots, parentheses and a leading +."
        )
    digits = re.sub(r"\D", "", value)
    if not 7 <= len(digits) <= 15:
        raise InvalidInput("phone", "A phone number has 7 to 15 digits.")
    if NANP_PLUS.fullmatch(value):
        return "+" + digits
    try:
        number = phonenumbers.parse(value, region or phone_region())
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number_with_reason(number) == POSSIBLE:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ("+" if value.startswith("+") else "") + digits


def phone_or_blank(value: str, region: str) -> str:
    """normalize.phone, '' for a number it refuses (imports report those rows instead of raising)."""
    try:
        return phone(value, region)
    except InvalidInput:
        return ""


def phone_region() -> str:
    """The organization's default region for numbers written without a country code."""
    return current_organization().phone_region


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


COMPANY_SUFFIXES = {
    "inc",
    "llc",
    "ltd",
    "gmbh",
    "corp",
    "co",
    "sa",
    "ag",
    "bv",
    "plc",
    "limited",
    "corporation",
}


def identity_key(name: str, company: str) -> str:
    """Normalized company + name ('ACME, Inc.' + 'Jane  Doe' -> 'acme|jane doe'); empty without a company."""
    company_words = [word for word in _fold(company).split() if word not in COMPANY_SUFFIXES]
    if not company_words:
        return ""
    return f"{' '.join(company_words)}|{_fold(name)}"[:420]


def currency(value: str) -> str:
    value = (value or "").strip().upper()
    if value not in CURRENCIES:
        raise InvalidInput("currency", "Use an ISO 4217 currency code such as USD or EUR.")
    return value


def tags(values: list[str]) -> list[str]:
    cleaned: list[str] = []
    for value in values or []:
        tag = " ".join(str(value).split()).lower()
        if not tag or len(tag) > 50:
            raise InvalidInput("tags", "Tags are 1 to 50 characters.")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput("tags", f"At most {MAX_TAGS} tags.")
    return cleaned
