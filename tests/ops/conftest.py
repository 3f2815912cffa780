from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import InThread


@pytest.fixture
def in_own_thread(db: None) -> Callable[[Callable[[], Any]], Any]:
    """in_own_thread(body) runs body in a fresh thread, as a server thread would: its own connections,
    outside the test's transaction (so it sees committed rows only: the session's organizations and their
    admins; keep it read-only), closed when it ends. Returns body's result, raises its exception."""

    def run(body: Callable[[], Any]) -> Any:
        return InThread(body).join()

    return run
