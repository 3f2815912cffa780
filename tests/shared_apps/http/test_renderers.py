"""The API's JSON renderer: DRF's output byte for byte, encoded by orjson."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils.functional import lazy
from rest_framework import renderers as drf_renderers
from rest_framework.settings import api_settings

from shared_apps.http.renderers import JSONRenderer

PAYLOAD = {
    "id": 42,
    "name": "Zoë Ångström — 東京",
    "separator": "line\u2028paragraph\u2029end",
    "value": Decimal("1234.50"),
    "ratio": 0.1,
    "created_at": dt.datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=dt.UTC),
    "local": dt.datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("Europe/Paris")),
    "naive": dt.datetime(2026, 12, 7, 9, 0),
    "day": dt.date(2026, 12, 7),
    "at": dt.time(9, 30, 15, 250000),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "label": lazy(lambda: "a lazy label", str)(),
    "tags": ("a", "b"),
    "nested": [{"ok": True, "none": None, 7: "int key"}],
    "empty": {},
}


def _drf(data, media_type=None):
    return drf_renderers.JSONRenderer().render(data, media_type, {})


def test_the_output_is_drfs_byte_for_byte():
    assert JSONRenderer().render(PAYLOAD, "application/json", {}) == _drf(PAYLOAD)


def test_it_does_not_go_through_the_json_module(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("json.dumps called")

    monkeypatch.setattr(drf_renderers.json, "dumps", refuse)
    assert JSONRenderer().render({"a": [1, 2]}, "application/json", {}) == b'{"a":[1,2]}'


def test_a_requested_indent_is_rendered_by_drf():
    media_type = "application/json; indent=2"
    assert JSONRenderer().render({"a": 1}, media_type, {}) == _drf({"a": 1}, media_type) == b'{\n  "a": 1\n}'


def test_values_orjson_refuses_are_rendered_by_drf():
    huge = {"n": 2**70}
    assert (
        JSONRenderer().render(huge, "application/json", {}) == _drf(huge) == b'{"n":1180591620717411303424}'
    )


def test_what_drf_cannot_render_fails_the_same_way():
    aware_time = {"at": dt.time(9, 30, tzinfo=dt.UTC)}
    with pytest.raises(ValueError, match="timezone-aware times"):
        _drf(aware_time)
    with pytest.raises(ValueError, match="timezone-aware times"):
        JSONRenderer().render(aware_time, "application/json", {})


def test_no_data_is_an_empty_body():
    assert JSONRenderer().render(None) == b""


def test_the_api_renders_with_it():
    assert [JSONRenderer] == api_settings.DEFAULT_RENDERER_CLASSES
