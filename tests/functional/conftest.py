"""What the functional suites share: the Chalice test client over a module's built app (its `c`)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from chalice.test import Client

from app import app


@pytest.fixture
def client(c: Any) -> Iterator[Client]:
    """Requests through the app as API Gateway would send them, once the module's `c` is served."""
    with Client(app, stage_name="local") as http:
        yield http
