"""The create/edit forms of accounts, contacts, opportunities and tasks, the lead conversion form and the
record composer. They type what a page posts; every rule (names, domains, accounts, owners, stages) stays in
the services, whose InvalidInput errors are shown under the field they name (`show_error`)."""

from __future__ import annotations

from typing import Any

from django import forms

from shared_apps.core.errors import AppError, InvalidInput
from tenant_apps.accounts.models import Account, AccountSize
from tenant_apps.activities.models import ActivityType
from tenant_apps.opportunities.models import OpportunityStage
from tenant_apps.web import custom_values, selectors

MAX_ID = 2**63 - 1
CHOICE_LIMIT = 500  # accounts offered in a select; more are reached by id (?account=)
OPEN_STAGES = [
    (value, label)
    for value, label in OpportunityStage.choices
    if value not in (OpportunityStage.CLOSED_WON, OpportunityStage.CLOSED_LOST)
]
# what the composer logs (an email sent for real goes through the send form)
COMPOSER_TYPES = [
    (ActivityType.CALL.value, "Call"),
    (ActivityType.MEETING.value, "Meeting"),
    (ActivityType.NOTE.value, "Note"),
    (ActivityType.EMAIL.value, "Email (already sent elsewhere)"),
]


def _member_choices(empty: str) -> list[tuple[str, str]]:
    return [("", empty)] + [(str(user.pk), user.full_name or user.email) for user in selectors.members()]


def _account_choices(empty: str, current: int | None = None) -> list[tuple[str, str]]:
    accounts = list(Account.objects.alive().order_by("name", "id").values_list("pk", "name")[:CHOICE_LIMIT])
    if current is not None and current not in {pk for pk, _ in accounts}:
        accounts += list(Account.objects.alive().filter(pk=current).values_list("pk", "name"))
    return [("", empty)] + [(str(pk), name) for pk, name in accounts]


def _id_or_none(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _tags(value: str) -> list[str]:
    return [tag for tag in (value or "").split(",") if tag.strip()]


INLINE = "inline"  # the field an in-place edit posts


class RecordForm(forms.Form):
    """A create/edit form: `changes()` gives the service's field names for the posted fields only, so an
    inline edit that posts one field changes that field alone."""

    id_fields: tuple[str, ...] = ()  # form field -> service field + "_id"
    tag_fields: tuple[str, ...] = ("tags",)
    options: tuple[str, ...] = ()  # fields that are options of the write, not fields of the record
    record_type = ""  # whose custom fields the form has inputs for (custom.<key>)

    def __init__(self, *args: Any, partial: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.record_type:
            custom_values.add_fields(self, self.record_type)
        self.partial = partial
        if partial and self.data is not None:
            # only what was posted is validated and changed; `inline` names a field posted whole even when
            # its inputs send nothing (an unticked box, no option chosen) or send parts (money: _0, _1)
            named = set(self.data.getlist(INLINE)) if hasattr(self.data, "getlist") else set()
            for name in list(self.fields):
                if name not in self.data and name not in self.options and name not in named:
                    del self.fields[name]

    def changes(self) -> dict[str, Any]:
        own, custom = custom_values.split(self.cleaned_data)
        out: dict[str, Any] = {} if custom is None else {"custom": custom}
        for name, value in own.items():
            if name in self.options:
                continue
            if name in self.id_fields:
                out[f"{name}_id"] = _id_or_none(value)
            elif name in self.tag_fields:
                out[name] = _tags(value)
            else:
                out[name] = value
        return out

    def show_error(self, error: AppError) -> None:
        """A service's error under the field it names (or above the form)."""
        field = getattr(error, "field", None) if isinstance(error, InvalidInput) else None
        field = field.removesuffix("_id") if field else None
        self.add_error(field if field in self.fields else None, error.message)


class LeadCustomForm(RecordForm):
    """A lead page's in-place edit of one custom field (the lead's own fields are edited by LeadForm)."""

    record_type = "lead"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


class AccountForm(RecordForm):
    record_type = "account"
    id_fields = ("owner",)

    name = forms.CharField(max_length=200)
    domain = forms.CharField(max_length=2000, required=False, help_text="Such as acme.com.")
    industry = forms.CharField(max_length=100, required=False)
    size = forms.ChoiceField(choices=[("", "Unknown"), *AccountSize.choices], required=False)
    owner = forms.ChoiceField(choices=(), required=False)
    tags = forms.CharField(max_length=1100, required=False, help_text="Comma-separated.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].choices = _member_choices("Nobody")  # type: ignore[attr-defined]


class ContactForm(RecordForm):
    record_type = "contact"
    id_fields = ("owner", "account")
    options = ("allow_duplicate",)

    name = forms.CharField(max_length=200)
    email = forms.CharField(max_length=254, required=False)
    phone = forms.CharField(max_length=40, required=False)
    title = forms.CharField(max_length=200, required=False)
    account = forms.ChoiceField(choices=(), required=False)
    owner = forms.ChoiceField(choices=(), required=False)
    tags = forms.CharField(max_length=1100, required=False, help_text="Comma-separated.")
    allow_duplicate = forms.BooleanField(
        required=False, label="Save it even if another contact has this email or phone"
    )

    def __init__(self, *args: Any, account_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].choices = _member_choices("Nobody")  # type: ignore[attr-defined]
        if "account" in self.fields:
            self.fields["account"].choices = _account_choices("No account", account_id)  # type: ignore[attr-defined]


class OpportunityForm(RecordForm):
    record_type = "opportunity"
    id_fields = ("owner", "account", "primary_contact")

    name = forms.CharField(max_length=200)
    account = forms.ChoiceField(choices=())
    stage = forms.ChoiceField(choices=OPEN_STAGES, initial=OpportunityStage.QUALIFICATION)
    amount = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    currency = forms.CharField(max_length=3, required=False, help_text="The organization's by default.")
    probability = forms.IntegerField(min_value=0, max_value=100, required=False, help_text="Percent.")
    expected_close_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    owner = forms.ChoiceField(choices=(), required=False)
    tags = forms.CharField(max_length=1100, required=False, help_text="Comma-separated.")

    def __init__(
        self, *args: Any, account_id: int | None = None, editing: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields.pop("stage", None)  # the stage moves through its own form
        if "owner" in self.fields:
            self.fields["owner"].choices = _member_choices("Nobody")  # type: ignore[attr-defined]
        if "account" in self.fields:
            self.fields["account"].choices = _account_choices("Choose an account", account_id)  # type: ignore[attr-defined]

    def changes(self) -> dict[str, Any]:
        data = super().changes()
        for key in ("amount", "currency", "probability"):
            if data.get(key) in ("", None):
                data.pop(key, None)  # the service's default (or the value as it was)
        return data


class TaskEditForm(RecordForm):
    id_fields = ("assignee",)
    tag_fields = ()

    title = forms.CharField(max_length=300)
    description = forms.CharField(max_length=20_000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    due_at = forms.DateTimeField(
        required=False,
        label="Due",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    assignee = forms.ChoiceField(choices=(), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "assignee" in self.fields:
            self.fields["assignee"].choices = _member_choices("Nobody")  # type: ignore[attr-defined]


class ConvertForm(forms.Form):
    """Choose an existing account or name a new one; optionally an opportunity."""

    account = forms.ChoiceField(choices=(), required=False, label="Existing account")
    account_name = forms.CharField(max_length=200, required=False, label="Or a new account named")
    create_opportunity = forms.BooleanField(required=False, label="Create an opportunity")
    opportunity_name = forms.CharField(max_length=200, required=False)
    amount = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    expected_close_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = _account_choices("Create a new account")  # type: ignore[attr-defined]

    def to_service(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["account_id"] = _id_or_none(data.pop("account"))
        if not data["create_opportunity"]:
            for key in ("opportunity_name", "amount", "expected_close_date"):
                data.pop(key)  # ignored unless an opportunity is asked for
        return data

    def show_error(self, error: AppError) -> None:
        field = getattr(error, "field", None) if isinstance(error, InvalidInput) else None
        self.add_error(field if field in self.fields else None, error.message)


class ComposerForm(forms.Form):
    type = forms.ChoiceField(choices=COMPOSER_TYPES, initial=ActivityType.CALL.value)
    subject = forms.CharField(max_length=300, required=False)
    body = forms.CharField(max_length=100_000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    occurred_at = forms.DateTimeField(
        required=False,
        label="When",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("type") == ActivityType.NOTE and not (data.get("body") or "").strip():
            self.add_error("body", "Write the note.")
        return data
