"""Viewers read only: every write of every route (found by walking the URLconf), aimed at records the viewer
can see, is refused with a 403, except the caller's own session, token, password and notifications."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared_apps.organizations.models import Organization
from tests.isolation.registry import REGISTRY as ISOLATION
from tests.isolation.registry import Aim
from tests.isolation.routes import Route
from tests.isolation.support import BODY_METHODS, Credentials, Records, auth, call, excerpt
from tests.tenant_apps.access.walls.registry import VIEWER_MAY_WRITE
from tests.tenant_apps.access.walls.test_rep_walls import ROUTES

WRITES = (*BODY_METHODS, "DELETE")
WRITABLE = [
    route
    for key, route in ROUTES.items()
    if key not in VIEWER_MAY_WRITE and any(method in WRITES for method in route.methods)
]


def test_the_viewer_exceptions_name_routes_that_exist():
    assert not sorted(set(VIEWER_MAY_WRITE) - set(ROUTES))


@pytest.mark.parametrize("route", WRITABLE, ids=lambda route: route.key)
def test_a_viewer_write_is_refused(route: Route, walled: Organization, viewer: Credentials, shared: Records):
    # aimed like the isolation suite, at this organization's own (unassigned) records the viewer sees
    aims = ISOLATION[route.key](shared) if route.key in ISOLATION else [Aim(body={})]
    problems = []
    for aim in aims:
        writes = tuple(method for method in route.methods if method in WRITES)
        every_write = replace(aim, methods=writes, body=aim.body if aim.body is not None else {})
        for method, path, send in every_write.requests(route):
            response = call(walled, method, path, headers=auth(route, viewer), **send)
            if response.status_code != 403:
                problems.append(f"{method} {path} {send['body']} by a viewer: {excerpt(response)}")
    assert not problems, "\n".join(problems)
