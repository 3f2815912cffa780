"""Every route an organization's host serves, found by walking its URLconf (not listed by hand), so a route
added tomorrow is under test tomorrow."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern, RoutePattern
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

URLCONF = "config.urls_tenant"
# what a request may carry, in the order the isolation tests send them (deletes last, so a record a
# control request removes is not needed by the next method)
METHOD_ORDER = ("GET", "HEAD", "OPTIONS", "PATCH", "PUT", "POST", "DELETE")


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or the pattern for an unnamed route
    pattern: str
    callback: Callable[..., Any]
    view_class: type | None  # None for a function view
    methods: tuple[str, ...]
    converters: dict[str, Any]

    @property
    def is_api(self) -> bool:
        return self.view_class is not None and issubclass(self.view_class, APIView)

    @property
    def accepts_sessions(self) -> bool:
        """A function view reads the session through Django's middleware; a DRF view only when one of its
        authentication classes is SessionAuthentication."""
        if not self.is_api:
            return True
        assert self.view_class is not None
        return any(issubclass(cls, SessionAuthentication) for cls in self.view_class().authentication_classes)

    @property
    def id_parameters(self) -> list[str]:
        """Path parameters that name a record (their converter accepts digits only)."""
        return [name for name, converter in self.converters.items() if _numeric(converter.regex)]

    def path(self, **kwargs: Any) -> str:
        values = {name: filler(converter.regex) for name, converter in self.converters.items()}
        values.update(kwargs)
        if self.key != self.pattern:
            return reverse(self.key, urlconf=URLCONF, kwargs=values)
        return re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(values[match.group(1)]), self.pattern)


def _numeric(regex: str) -> bool:
    return bool(re.fullmatch(regex, "1")) and not re.fullmatch(regex, "a")


def filler(regex: str) -> str:
    """A value the converter accepts: a numeric id when it takes one, else its first alternative."""
    for candidate in ("1", *regex.split("|"), "x"):
        if re.fullmatch(regex, candidate):
            return candidate
    raise AssertionError(f"no value found for a path converter matching {regex!r}")


def _function_methods(func: Callable[..., Any]) -> tuple[str, ...]:
    """The methods a function view allows, read from Django's require_http_methods closure (wherever it
    sits among the decorators); GET and POST when it declares none."""
    seen: set[int] = set()
    current: Any = func
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "__code__", None)
        for name, cell in zip(code.co_freevars if code else (), current.__closure__ or (), strict=False):
            if name == "request_method_list":
                return tuple(method.upper() for method in cell.cell_contents)
        current = getattr(current, "__wrapped__", None)
    return ("GET", "POST")


def _methods(callback: Callable[..., Any], view_class: type | None) -> tuple[str, ...]:
    if view_class is None:
        allowed = set(_function_methods(callback))
    else:
        allowed = {name.upper() for name in view_class.http_method_names if hasattr(view_class, name)}
        if "GET" in allowed:
            allowed.add("HEAD")  # View.setup() answers HEAD with get()
    allowed.add("OPTIONS")  # asked of every route: it must not answer more than any other method
    return tuple(method for method in METHOD_ORDER if method in allowed)


@dataclass(frozen=True)
class _Group:
    """A named group of a re_path() pattern, standing for a path converter."""

    regex: str


def _named_groups(regex: str) -> dict[str, _Group]:
    groups = {}
    for match in re.finditer(r"\(\?P<(\w+)>", regex):
        depth, index = 1, match.end()
        while depth and index < len(regex):
            if regex[index] == "\\":
                index += 1
            elif regex[index] == "(":
                depth += 1
            elif regex[index] == ")":
                depth -= 1
            index += 1
        groups[match.group(1)] = _Group(regex[match.end() : index - 1])
    return groups


def _converters(pattern: Any) -> dict[str, Any]:
    if isinstance(pattern, RoutePattern):
        return dict(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return dict(_named_groups(pattern._regex))
    return {}


def _walk(
    resolver: URLResolver, prefix: str, namespace: str | None, converters: dict[str, Any]
) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        found = {**converters, **_converters(entry.pattern)}
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace) if part) or None
            yield from _walk(entry, prefix + str(entry.pattern), inner, found)
        elif isinstance(entry, URLPattern):
            callback = entry.callback
            view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
            pattern = prefix + str(entry.pattern)
            key = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or pattern
            yield Route(key, pattern, callback, view_class, _methods(callback, view_class), found)


@cache
def tenant_routes() -> tuple[Route, ...]:
    routes = tuple(_walk(get_resolver(URLCONF), "/", None, {}))
    keys = [route.key for route in routes]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicated, f"route names must be unique to be tracked: {duplicated}"
    return routes
