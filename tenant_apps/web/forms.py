"""Typing of what the pages post; the rules (normalization, membership, transitions) stay in the services,
whose errors the views show next to the form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from tenant_apps.accounts.models import AccountStatus
from tenant_apps.imports.models import DuplicatePolicy
from tenant_apps.imports.models import RecordType as ImportRecordType
from tenant_apps.leads.models import Source, Stage
from tenant_apps.opportunities.models import OpportunityStage
from tenant_apps.tasks.models import TaskStatus
from tenant_apps.web import custom_values
from tenant_apps.web.models import LISTS

MAX_ID = 2**63 - 1
# the lead list's sortable columns ("-" before one sorts descending)
LEAD_SORTS = (
    "name",
    "company",
    "stage",
    "value",
    "owner",
    "source",
    "created_at",
    "stage_changed_at",
    "last_contacted_at",
)

# the deal table's sortable columns: the name and its own columns but the contact and the tags
DEAL_SORTS = ("name", *(key for key in LISTS["deals"] if key not in ("primary_contact", "tags")))


def _id_field(**kwargs: Any) -> forms.IntegerField:
    return forms.IntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_ID)], **kwargs)


class NoteForm(forms.Form):
    body = forms.CharField(max_length=20_000, widget=forms.Textarea(attrs={"rows": 3}))


class CallForm(forms.Form):
    subject = forms.CharField(max_length=300, required=False)
    body = forms.CharField(max_length=100_000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MoveForm(forms.Form):
    stage = forms.ChoiceField(choices=Stage.choices)
    reason = forms.CharField(max_length=1000, required=False)


class AssignForm(forms.Form):
    """An empty owner unassigns."""

    owner = _id_field(required=False)


class LeadForm(forms.Form):
    name = forms.CharField(max_length=200)
    company = forms.CharField(max_length=200, required=False)
    email = forms.CharField(max_length=254, required=False)
    phone = forms.CharField(max_length=40, required=False)
    source = forms.ChoiceField(choices=Source.choices, required=False)
    value = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    currency = forms.CharField(max_length=3, required=False)
    tags = forms.CharField(max_length=1100, required=False, help_text="Comma-separated.")
    allow_duplicate = forms.BooleanField(
        required=False, label="Save it even if another lead has this email or phone"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        custom_values.add_fields(self, "lead")

    def changes(self) -> dict[str, Any]:
        """The service's field names and values for what was posted (blank optional fields are cleared,
        a blank value, source or currency left as it was; custom values under "custom")."""
        data, custom = custom_values.split(self.cleaned_data)
        if custom is not None:
            data["custom"] = custom
        data.pop("allow_duplicate", None)  # an option of the write, not a field of the lead
        for key in ("source", "currency", "value"):
            if data.get(key) in ("", None):
                data.pop(key, None)
        data["tags"] = [tag for tag in (data.get("tags") or "").split(",") if tag.strip()]
        return data


class LeadCreateForm(LeadForm):
    allow_duplicate = forms.BooleanField(required=False, label="Create it even if a similar lead exists")

    def changes(self) -> dict[str, Any]:
        data = super().changes()
        if not data["tags"]:
            data.pop("tags")
        return data


class TaskForm(forms.Form):
    title = forms.CharField(max_length=300)
    due_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )


class BoardFilterForm(forms.Form):
    """The board's owner and tag filters (the lead list has them too): unknown values are a field error."""

    owner = forms.CharField(max_length=20, required=False)
    tag = forms.CharField(max_length=50, required=False)

    def filters(self) -> dict[str, Any]:
        """The lead selector's filters for what was asked (nothing for what was left blank)."""
        data = self.cleaned_data
        return {"owner": data.get("owner"), "tag": data.get("tag") or None}

    def clean_owner(self) -> str | int | None:
        value = self.cleaned_data["owner"]
        if value in ("", None):
            return None
        if value in ("me", "none"):
            return str(value)
        if not str(value).isdigit() or len(str(value)) > 18:
            raise forms.ValidationError('Use "me", "none" or a member id.')
        return int(value)

    def clean_tag(self) -> str:
        return " ".join(str(self.cleaned_data["tag"]).split()).lower()


def _sort_field(sorts: tuple[str, ...]) -> forms.ChoiceField:
    """A list's `sort`: a sortable column, "-" before it for descending; blank is newest first."""
    choices = [(f"{sign}{key}", f"{sign}{key}") for key in sorts for sign in ("", "-")]
    return forms.ChoiceField(choices=[("", "Newest"), *choices], required=False)


class ListFilterForm(BoardFilterForm):
    """What the lead list and the deal table share: a search text and a page (a cursor when newest first,
    a number when sorted by a column)."""

    q = forms.CharField(max_length=200, required=False, strip=True)
    cursor = forms.CharField(max_length=300, required=False)
    page = forms.IntegerField(min_value=1, max_value=400, required=False)


class LeadFilterForm(ListFilterForm):
    """The lead list's filters: every one optional, unknown values are a field error, never a 500."""

    stage = forms.ChoiceField(choices=[("", "Any stage"), *Stage.choices], required=False)
    source = forms.ChoiceField(choices=[("", "Any source"), *Source.choices], required=False)
    segment = _id_field(required=False)
    preset = forms.CharField(max_length=100, required=False)
    sort = _sort_field(LEAD_SORTS)


class DealFilterForm(ListFilterForm):
    """The deal table's filters (every one optional; an unknown value is a field error, never a 500)."""

    pipeline = _id_field(required=False)
    stage = forms.CharField(max_length=64, required=False)  # a stage id, or a default pipeline's stage key
    amount_min = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    amount_max = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    closing_after = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    closing_before = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = _sort_field(DEAL_SORTS)

    def clean_stage(self) -> int | str | None:
        value = str(self.cleaned_data["stage"] or "").strip()
        if not value:
            return None
        if value.isdigit() and len(value) <= 18:
            return int(value)
        if not value.replace("_", "").isalnum():
            raise forms.ValidationError("Choose a stage.")
        return value.upper()

    def filters(self) -> dict[str, Any]:
        """The opportunity selector's filters (the close dates both inclusive: the selector's upper bound
        is exclusive, so the day after)."""
        data = self.cleaned_data
        before = data.get("closing_before")
        return {
            **super().filters(),
            "pipeline": data.get("pipeline"),
            "stage": [data["stage"]] if data.get("stage") else None,
            "amount_min": data.get("amount_min"),
            "amount_max": data.get("amount_max"),
            "closing_after": data.get("closing_after"),
            "closing_before": before + timedelta(days=1) if before else None,
        }


class RecordFilterForm(forms.Form):
    """Accounts, contacts, opportunities: a search text, an owner and the type's status or stage."""

    q = forms.CharField(max_length=200, required=False, strip=True)
    owner = forms.ChoiceField(choices=[("", "Anyone"), ("me", "Me"), ("none", "No owner")], required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *AccountStatus.choices], required=False)
    stage = forms.ChoiceField(choices=[("", "Any stage"), *OpportunityStage.choices], required=False)
    cursor = forms.CharField(max_length=300, required=False)


class TaskFilterForm(forms.Form):
    mine = forms.ChoiceField(choices=[("1", "Mine"), ("0", "Everyone's")], required=False)
    status = forms.ChoiceField(
        choices=[("", "Any status"), ("overdue", "Overdue"), ("due_today", "Due today"), *TaskStatus.choices],
        required=False,
    )
    cursor = forms.CharField(max_length=300, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file")
    record_type = forms.ChoiceField(choices=ImportRecordType.choices, label="The rows are")
    duplicate_policy = forms.ChoiceField(
        choices=DuplicatePolicy.choices,
        initial=DuplicatePolicy.SKIP,
        label="A row matching an existing record",
    )
    dry_run = forms.BooleanField(required=False, label="Dry run: check and count, write nothing")
    # the page's column mapping preview: {"<column header>": "<field>" | null}; blank = matched by header
    mapping = forms.JSONField(required=False, widget=forms.HiddenInput, max_length=20_000)

    def clean_mapping(self) -> dict[str, Any] | None:
        value = self.cleaned_data.get("mapping")
        if value in (None, "", {}):
            return None
        if not isinstance(value, dict) or len(value) > 500:
            raise forms.ValidationError("A mapping is an object of column → field (at most 500 columns).")
        if not all(isinstance(field, str | None) for field in value.values()):
            raise forms.ValidationError("Each column maps to a field name or null.")
        return value
