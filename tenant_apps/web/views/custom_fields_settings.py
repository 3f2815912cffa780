"""Settings, custom fields: admins list each record type's fields, create one, change its label, options,
required / filterable / on-card flags and position, and delete it, through the customfields services (which
write the audit log and queue the index work), as through /api/custom-fields/. A refusal (a key taken, an
option records still hold, a type change with values present) is the page's message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from shared_apps.core.errors import AppError, Forbidden
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.customfields import selectors, services
from tenant_apps.customfields.models import SELECTS, CustomField, FieldKind, RecordType
from tenant_apps.web.views.base import is_fetch, member, member_required, parse

ADMINS_ONLY = "Custom fields are set by admins."
MAX_OPTIONS_TEXT = 20_000


class FieldFlagsForm(forms.Form):
    label = forms.CharField(max_length=100)
    options = forms.CharField(
        max_length=MAX_OPTIONS_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Select fields: one option per line.",
    )
    required = forms.BooleanField(required=False)
    filterable = forms.BooleanField(required=False, help_text="Indexed, for filters in lists and the API.")
    on_card = forms.BooleanField(
        required=False, label="On board cards", help_text="Lead fields: shown on the lead board's cards."
    )


class FieldCreateForm(FieldFlagsForm):
    record_type = forms.ChoiceField(choices=RecordType.choices, label="Record type")
    key = forms.CharField(
        max_length=50, help_text="Lower-case letters, digits and _, starting with a letter; it never changes."
    )
    type = forms.ChoiceField(choices=FieldKind.choices)

    field_order = ["record_type", "label", "key", "type", "options", "required", "filterable", "on_card"]


class FieldEditForm(FieldFlagsForm):
    op = forms.ChoiceField(choices=[("save", "save"), ("delete", "delete")])
    position = forms.IntegerField(min_value=0, max_value=10_000, required=False)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def options_from_lines(field: CustomField | None, text: str) -> list[dict[str, str]]:
    """The options a textarea (one label per line) asks for. A line naming an existing option keeps it;
    the other lines take the places of the existing options no line names, in order (a renamed option
    keeps its id, so its values are relabelled); lines left over are new options, options left over go."""
    lines = _lines(text)
    current = list(field.options) if field else []
    by_label = {option["label"].casefold(): option for option in current}
    kept_ids = {by_label[line.casefold()]["id"] for line in lines if line.casefold() in by_label}
    unnamed = [option for option in current if option["id"] not in kept_ids]
    out: list[dict[str, str]] = []
    for line in lines:
        option = by_label.get(line.casefold())
        if option is None and unnamed:
            option = unnamed.pop(0)
        out.append({"id": option["id"], "label": line} if option else {"label": line})
    return out


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "web/forbidden.html", {"what": ADMINS_ONLY}, status=403)


@member_required
@require_GET
def custom_field_settings(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.ADMIN):
        return _forbidden(request)
    fields = list(selectors.custom_field_list())
    groups = []
    for record_type, label in RecordType.choices:
        rows = [
            (
                field,
                FieldEditForm(
                    auto_id=f"f{field.pk}-%s",
                    initial={
                        "label": field.label,
                        "options": "\n".join(option["label"] for option in field.options),
                        "required": field.required,
                        "filterable": field.filterable,
                        "on_card": field.on_card,
                        "position": field.position,
                    },
                ),
            )
            for field in fields
            if field.record_type == record_type
        ]
        groups.append({"record_type": record_type, "label": label, "rows": rows})
    context = {
        "groups": groups,
        "create": FieldCreateForm(auto_id="new-%s", initial={"record_type": request.GET.get("type", "lead")}),
        "selects": list(SELECTS),
        "nav": "settings",
    }
    return render(request, "web/custom_field_settings.html", context)


def _act(request: HttpRequest, change: Callable[[], str]) -> HttpResponse:
    """Admins only; an error is the flash (JSON with its status for scripts)."""
    try:
        if not has_role(request.user, Role.ADMIN):
            raise Forbidden(ADMINS_ONLY, code="admin_only")
        message = change()
    except AppError as error:
        if is_fetch(request):
            return JsonResponse(error.as_body(), status=error.status_code)
        if isinstance(error, Forbidden):
            return _forbidden(request)
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("web:custom-field-settings"))
    if is_fetch(request):
        return JsonResponse({"message": message})
    messages.success(request, message)
    return HttpResponseRedirect(reverse("web:custom-field-settings"))


@member_required
@require_POST
def custom_field_add(request: HttpRequest) -> HttpResponse:
    def change() -> str:
        data = parse(FieldCreateForm, request.POST)
        kind = data["type"]
        field = services.custom_field_create(
            actor=member(request),
            request=request,
            record_type=data["record_type"],
            key=data["key"].strip(),
            label=data["label"],
            type=kind,
            required=data["required"],
            filterable=data["filterable"],
            on_card=data["on_card"],
            options=options_from_lines(None, data["options"]) if kind in SELECTS else [],
        )
        return f"Field {field.label} added to {field.get_record_type_display().lower()}s."

    return _act(request, change)


@member_required
@require_POST
def custom_field_edit(request: HttpRequest, field_id: int) -> HttpResponse:
    def change() -> str:
        field = selectors.custom_field_get(field_id=field_id)
        if request.POST.get("op") == "delete":
            services.custom_field_delete(field_id=field_id, actor=member(request), request=request)
            return f"Field {field.label} deleted; its values are being removed."
        data = parse(FieldEditForm, request.POST)
        changes: dict[str, Any] = {
            "label": data["label"],
            "required": data["required"],
            "filterable": data["filterable"],
            "on_card": data["on_card"],
        }
        if data["position"] is not None:
            changes["position"] = data["position"]
        if field.type in SELECTS:
            changes["options"] = options_from_lines(field, data["options"])
        field = services.custom_field_update(
            field_id=field_id, actor=member(request), changes=changes, request=request
        )
        return f"Field {field.label} saved."

    return _act(request, change)
