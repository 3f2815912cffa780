"""One level below the isolation suite: inside one organization, rep1 asking with rep2's ids, on every route
and method found by walking the URLconf (API with the bearer token, pages with the session), gets 404 on
reads and 403 or 404 on writes; lists, searches, timelines, exports and counts never carry rep2's hidden
records. A new route fails test_every_route_has_a_rep_case until it has one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from shared_apps.organizations.models import Organization
from tests.isolation.routes import Route, tenant_routes
from tests.isolation.support import Credentials, auth, call, excerpt
from tests.tenant_apps.access.walls.conftest import hide
from tests.tenant_apps.access.walls.registry import EXEMPT, HIDDEN_IDS, LISTS, Look
from tests.tenant_apps.access.walls.support import MARKER, Frame, HiddenRecords

ROUTES = {route.key: route for route in tenant_routes()}
READS = ("GET", "HEAD")


def test_every_route_has_a_rep_case():
    cased = set(HIDDEN_IDS) | set(LISTS)
    missing = [ROUTES[key] for key in ROUTES if key not in cased and key not in EXEMPT]
    stale = sorted((cased | set(EXEMPT)) - set(ROUTES))
    both = sorted(cased & set(EXEMPT))
    message = []
    if missing:
        message.append(
            "Routes without a case in the rep-walls suite: add each to "
            "tests/tenant_apps/access/walls/registry.py, to "
            "HIDDEN_IDS (it names a lead, deal, task or enrolment), LISTS (it lists them or counts them), "
            "or EXEMPT with the reason:\n"
            + "\n".join(f"  {route.key}: {' '.join(route.methods)} {route.pattern}" for route in missing)
        )
    if stale:
        message.append(f"Entries for routes that no longer exist: {', '.join(stale)}")
    if both:
        message.append(f"Both cased and exempt: {', '.join(both)}")
    assert not message, "\n".join(message)


@dataclass(frozen=True)
class Answer:
    """A response read once (a CSV export streams its body)."""

    status_code: int
    content: bytes
    streaming = False

    @classmethod
    def of(cls, response: Any) -> Answer:
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return cls(response.status_code, bytes(body))

    def json(self) -> Any:
        return json.loads(self.content)


def shown(look: Look, response: Any) -> bytes:
    """The answer without the search box echoing the query."""
    content = bytes(response.content)
    if "q" in look.query:
        content = content.replace(f'value="{look.query["q"]}"'.encode(), b"")
    return content


def expected(method: str, in_body: bool) -> tuple[int, ...]:
    if method in READS:
        return (400, 404) if in_body else (404,)
    return (400, 403, 404) if in_body else (403, 404)


@pytest.mark.parametrize("route", [ROUTES[key] for key in HIDDEN_IDS if key in ROUTES], ids=lambda r: r.key)
def test_rep2s_records_are_not_found_by_rep1(
    route: Route, walled: Organization, rep1: Credentials, rep2: Credentials, hidden: HiddenRecords
):
    problems = []
    for aim in HIDDEN_IDS[route.key](hidden):
        for method, path, send in aim.requests(route):
            asked = call(walled, method, path, headers=auth(route, rep1), **send)
            # rep2 sending the same finds the record: the factory aimed right
            control = call(walled, method, path, headers=auth(route, rep2), **send)
            label = f"{method} {path} {aim.body or ''}"
            wanted = expected(method, aim.in_body)
            if asked.status_code not in wanted:
                problems.append(f"{label} by rep1: {excerpt(asked)}, expected {wanted}")
            if control.status_code in (404, 500) or control.status_code >= 500:
                problems.append(f"{label} by rep2 (control): {excerpt(control)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("route", [ROUTES[key] for key in LISTS if key in ROUTES], ids=lambda r: r.key)
def test_lists_and_counts_never_carry_rep2s_hidden_records(
    route: Route,
    walled: Organization,
    admin: Credentials,
    rep1: Credentials,
    hidden: HiddenRecords,
    frame: Frame,
):
    looks = LISTS[route.key](frame)

    def ask(credentials: Credentials) -> list[Answer]:
        return [Answer.of(call(walled, "GET", look.url, headers=auth(route, credentials))) for look in looks]

    before = ask(rep1)
    admin_before = ask(admin)
    hide(hidden, frame)
    after, admin_after = ask(rep1), ask(admin)
    problems = []
    for look, was, now, admin_was, admin_now in zip(
        looks, before, after, admin_before, admin_after, strict=True
    ):
        label = f"GET {look.path} {look.query or ''}"
        if now.status_code != 200:
            problems.append(f"{label} by rep1: {excerpt(now)}")
            continue
        content = shown(look, now)
        if MARKER.encode() in content:
            at = content.index(MARKER.encode())
            problems.append(
                f"{label} by rep1 carries a hidden record: {content[max(0, at - 200) : at + 100]!r}"
            )
        if look.counts is not None:
            if look.counts(was) != look.counts(now):
                problems.append(
                    f"{label} by rep1: counts moved from {look.counts(was)} to {look.counts(now)}"
                )
            if look.counts(admin_was) == look.counts(admin_now):
                problems.append(f"{label} by the admin (control): counts did not move: {excerpt(admin_now)}")
        if look.marker and MARKER.encode() not in shown(look, admin_now):
            problems.append(
                f"{label} by the admin (control) does not show the hidden records: {excerpt(admin_now)}"
            )
    assert not problems, "\n".join(problems)
