"""Shared by the integration tests: the app's container on moto, at a known instant when the support
queue is open (a module may define its own `built`, which then wins)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.memory import FakeDialer, FixedClock

QUEUES = str(Path(__file__).resolve().parents[1] / "functional" / "queues.json")
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # Monday 10:00 in San Francisco: open


@pytest.fixture
def built(settings, serve):  # type: ignore[no-untyped-def]
    container = bootstrap.build_aws(replace(settings, queues_file=QUEUES), clock=FixedClock(NOW), dialer=FakeDialer())
    serve(container)
    return container
