"""A member's own time zone: the one their pages, days, reports and 06:00 follow-ups follow."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from shared_apps.core import localtime
from shared_apps.organizations.context import organization_zone
from shared_apps.users.profile import member_time_zone_set
from tenant_apps.web.views.base import member, member_required


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(required=False, label="Time zone")

    def __init__(self, *args: object, organization_zone_name: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", f"The organization's ({organization_zone_name})"),
            *((name, name) for name in localtime.zone_names()),
        ]


@member_required
@require_http_methods(["GET", "POST"])
def time_zone(request: HttpRequest) -> HttpResponse:
    user = member(request)
    form = TimeZoneForm(
        request.POST or None,
        initial={"time_zone": user.time_zone},
        organization_zone_name=organization_zone().key,
    )
    if request.method == "POST" and form.is_valid():
        member_time_zone_set(user=user, time_zone=form.cleaned_data["time_zone"])
        messages.success(request, "Your time zone was saved.")
        return redirect("web:time-zone")
    return render(request, "web/time_zone.html", {"form": form}, status=400 if form.errors else 200)
