"""Another organization's ids on acme's host are unknown: 404 (400 when the id is a reference in the body),
for every route that names a record and every method it allows. Records of both organizations share ids
(each schema numbers its own rows), so each host must answer from its own schema only."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from tests.isolation.registry import EXEMPT, REGISTRY
from tests.isolation.routes import Route, tenant_routes
from tests.isolation.support import Credentials, Records, auth, call, excerpt

ROUTES = {route.key: route for route in tenant_routes()}
COVERED = [route for key, route in ROUTES.items() if key in REGISTRY]


def test_every_tenant_route_is_covered():
    missing = [ROUTES[key] for key in ROUTES if key not in REGISTRY and key not in EXEMPT]
    exempt_with_ids = [ROUTES[key] for key in EXEMPT if key in ROUTES and ROUTES[key].id_parameters]
    stale = sorted((set(REGISTRY) | set(EXEMPT)) - set(ROUTES))
    both = sorted(set(REGISTRY) & set(EXEMPT))
    lines = [
        f"  {route.key}: {' '.join(route.methods)} {route.pattern}"
        + (f" (ids: {', '.join(route.id_parameters)})" if route.id_parameters else "")
        for route in missing
    ]
    message = []
    if lines:
        message.append(
            "Routes not covered by the isolation suite: add each to tests/isolation/registry.py, to REGISTRY "
            "(a factory making the record in globex) or, if it names no record, to EXEMPT with the reason:\n"
            + "\n".join(lines)
        )
    if exempt_with_ids:
        message.append(
            "Exempt routes whose path names a record (they belong in REGISTRY): "
            + ", ".join(route.key for route in exempt_with_ids)
        )
    if stale:
        message.append(f"Registry entries for routes that no longer exist: {', '.join(stale)}")
    if both:
        message.append(f"Both registered and exempt: {', '.join(both)}")
    assert not message, "\n".join(message)


@pytest.mark.parametrize("route", COVERED, ids=lambda route: route.key)
def test_globex_records_are_not_found_on_acme_host(
    route: Route, org: Organization, other_org: Organization, acme: Credentials, globex: Records
):
    problems = []
    for aim in REGISTRY[route.key](globex):
        for method, path, send in aim.requests(route):
            asked = call(org, method, path, headers=auth(route, acme), **send)
            # the same request where the record lives finds it: the factory aimed right
            control = call(other_org, method, path, headers=auth(route, globex.admin), **send)
            label = f"{method} {path} {aim.body or ''}"
            if asked.status_code not in aim.expected:
                problems.append(f"{label} on acme's host: {excerpt(asked)}, expected {aim.expected}")
            found = 200 <= control.status_code < 300 if aim.in_body else control.status_code not in (404, 500)
            if not found or control.status_code >= 500:
                problems.append(f"{label} on globex's host (control): {excerpt(control)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/api/leads/{}/", lambda name, _: {"name": name, "allow_duplicate": True}),
        ("/api/accounts/{}/", lambda name, _: {"name": name}),
        ("/api/contacts/{}/", lambda name, _: {"name": name}),
        ("/api/segments/{}/", lambda name, _: {"name": name, "record_type": "lead"}),
    ],
    ids=["lead", "account", "contact", "segment"],
)
def test_records_with_the_same_id_are_each_served_by_their_own_host(
    path: str, make: Any, org: Organization, other_org: Organization, acme: Credentials, globex_admin
):
    """The ids coincide on purpose: each host answers its own record under the same number."""
    collection = path.rsplit("{}", 1)[0]
    table = {"leads": "leads_lead", "accounts": "accounts_account", "contacts": "contacts_contact"}.get(
        collection.strip("/").split("/")[-1], "segments_segment"
    )
    next_ids = []
    for organization in (org, other_org):
        with schema_context(organization.schema_name), connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [table])
            next_ids.append(cursor.fetchone()[0])
    same = max(next_ids)
    for organization in (org, other_org):
        with schema_context(organization.schema_name), connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [table, same])

    created = {}
    for organization, credentials in ((org, acme), (other_org, globex_admin)):
        headers = credentials.kinds()["bearer token"]
        name = f"{organization.slug}'s record"
        response = call(organization, "POST", collection, headers=headers, body=make(name, credentials))
        assert response.status_code == 201, response.content
        created[organization.slug] = response.json()["id"]
    assert created["acme"] == created["globex"] == same

    for organization, credentials in ((org, acme), (other_org, globex_admin)):
        response = call(organization, "GET", path.format(same), headers=credentials.kinds()["bearer token"])
        assert response.status_code == 200
        assert response.json()["name"] == f"{organization.slug}'s record"
