"""JSON bodies read with a nesting limit: a body nested thousands of levels deep is a 400 naming the problem,
never a RecursionError (a 500) in the parser or in whatever walks the parsed data afterwards."""

from __future__ import annotations

import codecs
import json
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

# Deeper than any input this API accepts (filters, mappings, metadata) and far below Python's recursion limit.
MAX_DEPTH = 64


class InvalidJSON(ValueError):
    """The text is not JSON, or is nested deeper than MAX_DEPTH."""


class TooDeep(InvalidJSON):
    """JSON nested deeper than MAX_DEPTH."""


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Iterative, so measuring a deep value cannot itself recurse too deep."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def loads(text: str | bytes, *, strict: bool = True) -> Any:
    """json.loads with the nesting limit; raises InvalidJSON (a ValueError) for anything unacceptable."""
    try:
        value = json.loads(text, parse_constant=strict_constant if strict else None)
    except RecursionError:
        raise TooDeep(f"JSON nested more than {MAX_DEPTH} levels deep.") from None
    except ValueError as exc:
        raise InvalidJSON(f"JSON parse error - {exc}") from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise TooDeep(f"JSON nested more than {MAX_DEPTH} levels deep.")
    return value


class SafeJSONParser(JSONParser):
    """DRF's JSON parser with the nesting limit: too deep is 400 `{"code": "invalid_json", ...}`; malformed
    JSON keeps DRF's 400 `parse_error`."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        try:
            return loads(text, strict=self.strict)
        except TooDeep as exc:
            raise ParseError(str(exc), code="invalid_json") from None
        except InvalidJSON as exc:
            raise ParseError(str(exc)) from None
