"""Custom field values in the web app: one form input per active field of a record type (named
`custom.<key>`, so a service's InvalidInput naming `custom.<key>` lands under it), the posted values as the
services take them (`custom`), and each value in human form for the record pages, the board's cards and the
lead list's columns (option labels, member names, money with its currency, times in the member's zone).
The rules (types, options, required) stay in tenant_apps.customfields.values: the inputs only type them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import User
from tenant_apps.customfields import values
from tenant_apps.customfields.models import CustomField, FieldKind

PREFIX = "custom."
CARD_FIELDS = 3  # a card stays small: the first few on-card fields by position
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def _currency_choices() -> list[tuple[str, str]]:
    return [(code, code) for code in sorted(values.currencies())]


class MoneyWidget(forms.MultiWidget):
    def __init__(self, currencies: list[tuple[str, str]]) -> None:
        super().__init__(
            widgets=[
                forms.TextInput(attrs={"inputmode": "decimal", "aria-label": "Amount"}),
                forms.Select(choices=currencies, attrs={"aria-label": "Currency"}),
            ]
        )

    def decompress(self, value: Any) -> list[Any]:
        if isinstance(value, dict):
            return [value.get("amount"), value.get("currency")]
        return [None, None]


class MoneyField(forms.MultiValueField):
    """An amount and a currency -> {"amount", "currency"} (or None when no amount is given)."""

    def __init__(self, **kwargs: Any) -> None:
        currencies = _currency_choices()
        fields = (forms.CharField(required=False), forms.ChoiceField(choices=currencies, required=False))
        super().__init__(fields, require_all_fields=False, widget=MoneyWidget(currencies), **kwargs)

    def compress(self, data_list: list[Any]) -> Any:
        if not data_list or not (data_list[0] or "").strip():
            return None
        return {"amount": data_list[0].strip(), "currency": data_list[1] or None}


def _member_choices() -> list[tuple[str, str]]:
    members = User.objects.filter(is_active=True).only("id", "email", "full_name")
    members = members.order_by("full_name", "email")
    return [("", "Nobody")] + [(str(user.pk), user.full_name or user.email) for user in members]


def _text_input(input_type: str, **attrs: Any) -> forms.Widget:
    return forms.TextInput(attrs={"type": input_type, **attrs})


def form_field(field: CustomField) -> forms.Field:
    """The input of one field (never required by the form: the service says so, naming the field)."""
    common: dict[str, Any] = {"label": field.label, "required": False}
    kind = FieldKind(field.type)
    if field.required and kind != FieldKind.BOOLEAN:
        common["help_text"] = "Required."
    if kind == FieldKind.LONG_TEXT:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    if kind == FieldKind.NUMBER:
        return forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common)
    if kind == FieldKind.MONEY:
        return MoneyField(**common)
    if kind == FieldKind.DATE:
        return forms.CharField(widget=_text_input("date"), **common)
    if kind == FieldKind.DATETIME:
        return forms.CharField(widget=_text_input("datetime-local"), **common)
    if kind == FieldKind.BOOLEAN:
        return forms.BooleanField(**common)
    if kind == FieldKind.SINGLE_SELECT:
        choices = [("", "—")] + [(option["id"], option["label"]) for option in field.options]
        return forms.ChoiceField(choices=choices, **common)
    if kind == FieldKind.MULTI_SELECT:
        choices = [(option["id"], option["label"]) for option in field.options]
        return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)
    if kind == FieldKind.URL:
        return forms.CharField(widget=_text_input("url"), **common)
    if kind == FieldKind.EMAIL:
        return forms.CharField(widget=_text_input("email"), **common)
    if kind == FieldKind.PHONE:
        return forms.CharField(widget=_text_input("tel"), **common)
    if kind == FieldKind.MEMBER:
        return forms.ChoiceField(choices=_member_choices(), **common)
    return forms.CharField(**common)  # text


MARKER = "custom_inputs"  # posted by every form that shows the custom inputs


def add_fields(form: forms.BaseForm, record_type: str) -> None:
    """One input per active field of `record_type`, after the form's own. A bound form without the marker
    (a quick add that shows no custom inputs) gets none, so its post leaves the values as they are (an
    unchecked box or no chosen option posts nothing)."""
    fields = values.definitions(record_type)
    if not fields or (form.is_bound and MARKER not in form.data):
        return
    form.fields[MARKER] = forms.CharField(widget=forms.HiddenInput, initial="1", required=False)
    for field in fields:
        form.fields[PREFIX + field.key] = form_field(field)


def posted(cleaned: dict[str, Any]) -> dict[str, Any] | None:
    """{"<key>": value} of the custom inputs in `cleaned` (a blank one clears its value), None if none."""
    found = {name.removeprefix(PREFIX): value for name, value in cleaned.items() if name.startswith(PREFIX)}
    if MARKER not in cleaned and not found:
        return None
    if not found:
        return None
    out: dict[str, Any] = {}
    for key, value in found.items():
        if isinstance(value, str):
            value = value.strip()
        out[key] = None if value in ("", [], None) else value
    return out


def split(cleaned: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The form's own fields, and the custom values apart."""
    own = {name: value for name, value in cleaned.items() if not name.startswith(PREFIX) and name != MARKER}
    return own, posted(cleaned)


def initial(record_type: str, record: Any) -> dict[str, Any]:
    """The inputs' initial values for an edit form."""
    stored = getattr(record, "custom", None) or {}
    out: dict[str, Any] = {}
    for field in values.definitions(record_type):
        value = stored.get(field.key)
        if value is None:
            continue
        if field.type == FieldKind.DATETIME:
            moment = parse_datetime(value)
            value = timezone.localtime(moment).strftime(INPUT_FORMAT) if moment else value
        elif field.type == FieldKind.MEMBER:
            value = str(value)
        out[PREFIX + field.key] = value
    return out


# ---- shown ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    key: str
    label: str
    text: str


class Names:
    """Member names by id, read once per page (a board of cards or a list page asks many times)."""

    def __init__(self) -> None:
        self._names: dict[int, str] | None = None

    def __call__(self, user_id: int) -> str:
        if self._names is None:
            users = User.objects.only("id", "email", "full_name")
            self._names = {user.pk: user.full_name or user.email for user in users}
        return self._names.get(user_id, f"Former member #{user_id}")


def _options(field: CustomField) -> dict[str, str]:
    return {option["id"]: option["label"] for option in field.options}


def text_of(field: CustomField, value: Any, names: Names | None = None) -> str:
    """One stored value as a person reads it."""
    if value is None:
        return ""
    kind = FieldKind(field.type)
    if kind == FieldKind.BOOLEAN:
        return "Yes" if value else "No"
    if kind == FieldKind.SINGLE_SELECT:
        return _options(field).get(value, "")
    if kind == FieldKind.MULTI_SELECT:
        labels = _options(field)
        return ", ".join(labels[item] for item in value if item in labels)
    if kind == FieldKind.MONEY:
        amount = Decimal(value["amount"])
        return f"{formats.number_format(amount, 2, use_l10n=True, force_grouping=True)} {value['currency']}"
    if kind == FieldKind.NUMBER:
        return formats.number_format(Decimal(value), use_l10n=True, force_grouping=True)
    if kind == FieldKind.DATE:
        return formats.date_format(date.fromisoformat(value), "N j, Y")
    if kind == FieldKind.DATETIME:
        moment = parse_datetime(value)
        if moment is None:
            return str(value)
        local: datetime = timezone.localtime(moment)
        return formats.date_format(local, "N j, Y, H:i") + f" {local.tzname()}"
    if kind == FieldKind.MEMBER:
        return (names or Names())(int(value))
    return str(value)


def shown(record_type: str, record: Any, names: Names | None = None, *, card: bool = False) -> list[Shown]:
    """The record's values of the active fields, by position (on a card: those of the first CARD_FIELDS
    on-card fields)."""
    stored = getattr(record, "custom", None) or {}
    names = names or Names()
    out = []
    for field in card_fields(record_type) if card else values.definitions(record_type):
        if field.key not in stored:
            continue
        out.append(Shown(field.key, field.label, text_of(field, stored[field.key], names)))
    return out


def editable(
    record_type: str, record: Any, names: Names | None = None
) -> list[tuple[Shown, forms.BoundField]]:
    """Every active field of the record's type with its value in human form (blank when unset) and its input
    holding the stored value, for the record page's in-place editor."""
    form = forms.Form(initial=initial(record_type, record), auto_id="inline-%s")
    add_fields(form, record_type)
    stored = getattr(record, "custom", None) or {}
    names = names or Names()
    return [
        (
            Shown(field.key, field.label, text_of(field, stored.get(field.key), names)),
            form[PREFIX + field.key],
        )
        for field in values.definitions(record_type)
    ]


def texts(record_type: str, record: Any) -> dict[str, str]:
    """`custom.<key>` -> the value as the record page shows it, for every active field."""
    stored = getattr(record, "custom", None) or {}
    names = Names()
    return {
        PREFIX + field.key: text_of(field, stored.get(field.key), names)
        for field in values.definitions(record_type)
    }


def card_fields(record_type: str) -> list[CustomField]:
    return [field for field in values.definitions(record_type) if field.on_card][:CARD_FIELDS]


def column_choices(record_type: str) -> list[tuple[str, str]]:
    """A list's extra columns (the lead and deal tables): (`custom.<key>`, label) per active field."""
    return [(PREFIX + field.key, field.label) for field in values.definitions(record_type)]


def cell(record_type: str, record: Any, column: str, names: Names | None = None) -> str:
    """One list cell of a `custom.<key>` column (blank for no value or a field no longer there)."""
    key = column.removeprefix(PREFIX)
    stored = getattr(record, "custom", None) or {}
    for field in values.definitions(record_type):
        if field.key == key:
            return text_of(field, stored.get(key), names)
    return ""


def labelled(record_type: str, error: InvalidInput) -> InvalidInput:
    """A service's error about `custom.<key>` with the field's label in front (pages that show errors as a
    message above the page, not under the input); any other error as it is."""
    if not error.field.startswith(PREFIX):
        return error
    key = error.field.removeprefix(PREFIX)
    label = next((field.label for field in values.definitions(record_type) if field.key == key), key)
    if error.message.startswith(label):
        return error
    return InvalidInput(error.field, f"{label}: {error.message}", code=error.code)
