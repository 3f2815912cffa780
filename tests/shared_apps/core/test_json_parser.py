"""JSON nested deeper than anything the API accepts is a 400 naming the problem, never a 500, on every
endpoint: the unauthenticated sign-in too."""

from __future__ import annotations

import pytest

from shared_apps.core import parsers
from shared_apps.users.models import Role
from tests.conftest import client_for

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("path", ["/api/auth/token/", "/api/leads/"])
def test_deeply_nested_json_is_a_400(org, api, path):
    client = api(Role.ADMIN) if path == "/api/leads/" else client_for(org)
    client.raise_request_exception = False
    response = client.post(path, DEEP, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_json"
    assert "nested" in body["message"]


def test_nesting_past_the_limit_is_refused_even_when_python_could_parse_it(org, api):
    nested = "{}"
    for _ in range(parsers.MAX_DEPTH):
        nested = '{"a": ' + nested + "}"
    response = api(Role.ADMIN).post("/api/leads/", nested, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"


def test_ordinary_and_malformed_json_keep_their_answers(org, api):
    client = api(Role.ADMIN)
    assert client.post("/api/leads/", {"name": "Fine"}, format="json").status_code == 201
    broken = client.post("/api/leads/", '{"name": ', content_type="application/json")
    assert broken.status_code == 400 and broken.json()["code"] == "parse_error"
    assert client.post("/api/leads/", "[NaN]", content_type="application/json").status_code == 400


def test_the_loader_measures_depth_without_recursing():
    assert parsers.loads('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    with pytest.raises(parsers.InvalidJSON):
        parsers.loads(DEEP)
    with pytest.raises(parsers.InvalidJSON):
        parsers.loads("[" * (parsers.MAX_DEPTH + 1) + "]" * (parsers.MAX_DEPTH + 1))
    assert parsers.loads("[" * parsers.MAX_DEPTH + "]" * parsers.MAX_DEPTH) is not None
