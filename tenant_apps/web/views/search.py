"""The top bar's type-ahead: a few hits across record types while the member types, each with the page it
opens. It is the search selector (visibility applied there), shaped for the page's script."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from tenant_apps.search.selectors import search
from tenant_apps.web.views.base import member, member_required

SUGGESTIONS = 8
MIN_CHARS = 2
MAX_CHARS = 200
TYPES = ["lead", "contact", "account", "opportunity", "activity"]
LABELS = {
    "lead": "Lead",
    "contact": "Contact",
    "account": "Account",
    "opportunity": "Opportunity",
    "activity": "Activity",
}
KINDS = {"contact": "contacts", "account": "accounts", "opportunity": "opportunities"}


def page_of(record_type: str, record_id: int) -> str:
    """The web page of a record (a lead, or an account, contact or deal page)."""
    if record_type == "lead":
        return reverse("web:lead", args=[record_id])
    return reverse("web:record", args=[KINDS[record_type], record_id])


def _suggestion(hit: dict[str, Any]) -> dict[str, Any] | None:
    anchor = hit.get("record") if hit["type"] == "activity" else {"type": hit["type"], "id": hit["id"]}
    if not anchor or anchor["type"] not in ("lead", *KINDS):
        return None
    return {
        "type": hit["type"],
        "label": LABELS[hit["type"]],
        "id": hit["id"],
        "title": hit["title"],
        "snippet": hit["snippet"],  # escaped by the selector, with <mark> around the matched words
        "url": page_of(anchor["type"], anchor["id"]),
    }


@member_required
@require_GET
def search_suggest(request: HttpRequest) -> JsonResponse:
    """`?q=` → `{"results": [{type, label, title, snippet, url}]}`; fewer than two characters find
    nothing (no scan), longer text is cut to 200 characters. (The text is not echoed back.)"""
    q = (request.GET.get("q") or "").strip()[:MAX_CHARS]
    if len(q) < MIN_CHARS:
        return JsonResponse({"results": []})
    found = search(actor=member(request), q=q, types=TYPES, filters={}, page=1, page_size=SUGGESTIONS)
    results = [item for item in map(_suggestion, found["results"]) if item is not None]
    return JsonResponse({"results": results})
