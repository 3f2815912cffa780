from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections


@pytest.fixture
def in_own_thread(db: None) -> Callable[[Callable[[], Any]], Any]:
    """in_own_thread(body) runs body in a fresh thread, as a server thread would: its own connections,
    outside the test's transaction (so it sees committed rows only: the session's organizations and their
    admins; keep it read-only), closed when it ends. Returns body's result, raises its exception."""

    def run(body: Callable[[], Any]) -> Any:
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = body()
            except BaseException as exc:
                outcome["error"] = exc
            finally:
                connections.close_all()

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    return run
