"""Bench only: config.settings.base plus a first middleware that counts the SQL queries each request runs
(every database alias, the routing and session look-ups included) and returns the count in the
`X-Bench-Queries` header, so bench.console reads queries per page from the real server."""

from collections.abc import Callable
from typing import Any

from django.db import connections
from django.http import HttpRequest, HttpResponse

from config.settings.base import *  # noqa: F403
from config.settings.base import MIDDLEWARE as _BASE_MIDDLEWARE

MIDDLEWARE = ["bench.settings_console.QueryCountMiddleware", *_BASE_MIDDLEWARE]


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        count = [0]

        def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            count[0] += 1
            return execute(sql, params, many, context)

        wrappers = [connections[alias].execute_wrapper(counted) for alias in connections]
        for wrapper in wrappers:
            wrapper.__enter__()
        try:
            response = self.get_response(request)
        finally:
            for wrapper in reversed(wrappers):
                wrapper.__exit__(None, None, None)
        response["X-Bench-Queries"] = str(count[0])
        return response
