"""The whole OpenAPI schema of an organization's host, fuzzed with schemathesis: a bounded number of generated
requests per operation, sent in-process by acme's admin (bearer token), must never answer 5xx and must
answer as documented (status codes listed for the operation, bodies and headers matching their schemas).

Requests go through Django's test handler as a WSGI application (schemathesis' WSGI transport), so they run
inside the test's transaction, through the real middleware (tenant routing included). Generation is seeded
(derandomized): a failure reproduces on the next run, and its request is printed with the failure."""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import pytest
import schemathesis
from django.core.signals import got_request_exception
from django.test.client import ClientHandler
from django_tenants.utils import schema_context
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.segments.selectors import PRESETS
from tests.conftest import client_for, host_of
from tests.isolation.support import Records, credentials_of

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@cache
def tenant_schema() -> OpenApiSchema:
    """The document /api/schema/ serves on an organization's host (same generator, same URLconf)."""
    document = SchemaGenerator(urlconf="config.urls_tenant").get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(json.dumps(document, default=str)))


def _operations() -> list[Any]:
    return [result.ok() for result in tenant_schema().get_all_operations()]


class DjangoApp:
    """Django's test handler as a WSGI application: the database connection stays in the test's
    transaction (no close at request end), CSRF is not enforced (requests carry a bearer token anyway),
    and an exception raised by a view is kept to be reported with its traceback."""

    def __init__(self) -> None:
        self.handler = ClientHandler(enforce_csrf_checks=False)
        self.errors: list[BaseException] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def keep(**kwargs: Any) -> None:
            self.errors.append(sys.exc_info()[1])  # type: ignore[arg-type]

        got_request_exception.connect(keep)
        try:
            response = self.handler(environ)
        finally:
            got_request_exception.disconnect(keep)
        headers = [*response.items()]
        headers += [("Set-Cookie", cookie.output(header="").strip()) for cookie in response.cookies.values()]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        if response.streaming:
            return [b"".join(response.streaming_content)]  # type: ignore[arg-type]
        return [response.content]


def _existing(records: Records, path: str) -> dict[str, Any]:
    """Ids of records that exist, for the operation's path parameters: without them every request to a
    record's URL would be a 404 and its documented success answers would go untested."""
    names = re.findall(r"{(\w+)}", path)
    values: dict[str, Any] = {}
    if "delivery_id" in names:
        values["endpoint_id"] = records.endpoint()
        values["delivery_id"] = records.delivery(values["endpoint_id"])
    for name in names:
        if name not in values and name in RECORDS:
            values[name] = RECORDS[name](records)
    if "key" in names:
        values["key"] = next(iter(PRESETS))
    return values


RECORDS: dict[str, Callable[[Records], int]] = {
    "member_id": Records.member,
    "key_id": Records.api_key,
    "lead_id": Records.lead,
    "account_id": Records.account,
    "contact_id": Records.contact,
    "opportunity_id": Records.opportunity,
    "task_id": Records.task,
    "segment_id": Records.segment,
    "sequence_id": Records.sequence,
    "enrollment_id": Records.enrollment,
    "endpoint_id": Records.endpoint,
    "rule_id": Records.rule,
    "scoring_rule_id": Records.scoring_rule,
    "import_id": Records.import_run,
    "export_id": Records.export,
}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("operation", _operations(), ids=lambda operation: operation.label)
def test_operation_answers_as_documented(
    operation: Any, mode: GenerationMode, org: Organization, member: Callable[..., User]
) -> None:
    admin = credentials_of(org, member(role=Role.ADMIN))
    authorization = admin.kinds()["bearer token"]["HTTP_AUTHORIZATION"]
    app = DjangoApp()
    base_url = f"http://{host_of(org)}"
    existing = _existing(Records(org, admin), operation.path)
    # half the examples aim at records that exist, half at generated ids
    strategy = operation.as_strategy(generation_mode=mode)
    if existing:
        strategy = st.one_of(operation.as_strategy(generation_mode=mode, path_parameters=existing), strategy)

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        app.errors.clear()
        response = case.call(app=app, base_url=base_url, headers={"Authorization": authorization})
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for error in app.errors:  # the server's traceback, with the request that caused it
                group.add_note("".join(traceback.format_exception(error)))
            raise

    run()


def test_the_fuzzed_schema_is_the_one_served(org: Organization) -> None:
    served = client_for(org).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert served.status_code == 200
    # generated as the organization's host serves it (its custom fields, none here, replace the generic ones;
    # tenant_schema() is the generic document the fuzzing walks)
    with schema_context(org.schema_name):
        document = SchemaGenerator(urlconf="config.urls_tenant").get_schema(request=None, public=True)
    assert served.json() == json.loads(json.dumps(document, default=str))
