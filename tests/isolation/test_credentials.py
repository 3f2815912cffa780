"""For every route of an organization's host and every method it allows: acme's credentials (bearer token,
API key, session cookie) are refused on globex's host, and no credentials at all get nothing but the public
routes. The routes are found by walking the tenant URLconf, so a new route is checked without being listed."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.http import HttpResponse

from shared_apps.organizations.models import Organization
from tests.isolation.registry import KNOWN_SERVER_ERRORS, PUBLIC
from tests.isolation.routes import Route, tenant_routes
from tests.isolation.support import Credentials, call

ROUTES = tenant_routes()


def _code(response: HttpResponse) -> str:
    try:
        return str(json.loads(response.content).get("code", ""))
    except (ValueError, AttributeError):
        return ""


def _refusal_problem(route: Route, method: str, response: HttpResponse) -> str | None:
    """None when the response refuses the request the way this kind of route should."""
    status = response.status_code
    if status >= 500 and (method, route.key) in KNOWN_SERVER_ERRORS:
        return None  # reported; test_known_server_errors_are_still_there keeps the list honest
    if status == 501 and _code(response) == "asgi_required":
        # an event stream serves nothing under WSGI (this client), credentials or not; under ASGI they are
        # checked: tests/tenant_apps/realtime/test_stream.py
        return None
    if status >= 500:
        return f"server error {status}"
    if route.key in PUBLIC:
        return None
    if route.is_api:
        return None if status in (401, 403) else f"{status} instead of 401/403"
    # a page sends the visitor to the sign-in form; a script's endpoint may answer 401/403 (or 405 to a
    # method it never serves, before looking at credentials)
    location = response.get("Location", "")
    if status == 302 and location.startswith(settings.LOGIN_URL):
        return None
    if status in (401, 403, 405):
        return None
    return f"{status} {location}".strip() + " instead of a redirect to sign-in or 401/403"


def _problems(route: Route, organization: Organization, credentials: dict[str, dict[str, str]]) -> list[str]:
    problems = []
    path = route.path()
    for method in route.methods:
        for kind, headers in credentials.items():
            response = call(organization, method, path, headers=headers, body={})
            problem = _refusal_problem(route, method, response)
            if problem:
                body = b"(a stream)" if response.streaming else response.content[:200]
                problems.append(f"{method} {path} with {kind}: {problem}: {body!r}")
    return problems


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.key)
def test_acme_credentials_are_refused_on_globex_host(route: Route, acme: Credentials, other_org):
    problems = _problems(route, other_org, acme.kinds())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.key)
def test_without_credentials_only_public_routes_answer(route: Route, org):
    problems = _problems(route, org, {"no credentials": {}})
    assert not problems, "\n".join(problems)


def test_the_credentials_used_above_do_work_on_acme_host(org, acme: Credentials):
    """Without this, the refusals above could come from credentials that work nowhere."""
    [me] = [route for route in ROUTES if route.key == "me"]
    for kind, headers in acme.kinds().items():
        response = call(org, "GET", "/api/me/", headers=headers)
        if kind == "session cookie" and not me.accepts_sessions:
            assert response.status_code == 401, response.content  # the API takes no sessions (yet)
        else:
            assert response.status_code == 200, (kind, response.content)
            assert response.json()["email"] == acme.user.email
    page = call(org, "GET", "/", headers=acme.kinds()["session cookie"])
    assert page.status_code == 200, page.get("Location")


def test_public_routes_are_few_and_exist():
    """The allow-list stays explicit: every entry is a route of the host."""
    assert set(PUBLIC) <= {route.key for route in ROUTES}


@pytest.mark.parametrize(("method", "key"), sorted(KNOWN_SERVER_ERRORS))
def test_known_server_errors_are_still_there(method: str, key: str, org):
    """Once fixed, the entry must leave KNOWN_SERVER_ERRORS so the checks above cover it again."""
    [route] = [route for route in ROUTES if route.key == key]
    response = call(org, method, route.path())
    assert response.status_code >= 500, f"{method} {key} is fixed: remove it from KNOWN_SERVER_ERRORS"
