"""The local stack's clock setting: `--clock 2026-11-24T18:00:00Z` (or HOLDFAST_CLOCK) starts the
stack's time there and lets it run. The app's clock and moto's Step Functions timer both follow it,
so a callback scheduled for 08:00 stack time fires at 08:00 stack time; tests and the demo pick
the hour instead of inheriting it from the wall clock."""
from __future__ import annotations

import datetime as _dt
import types
from datetime import datetime, timezone


def parse_clock(text: str) -> datetime:
    """An ISO 8601 instant with a zone ('Z' or +hh:mm)."""
    at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"--clock needs a time zone, e.g. {text}Z")
    return at


def offset_to(at: datetime, now: datetime | None = None) -> float:
    """Seconds to add to the real clock so that it reads `at` now."""
    return (at - (now or datetime.now(timezone.utc))).total_seconds()


def shift_workflow_timer(offset_seconds: float) -> None:
    """moto's Step Functions Wait (TimestampPath) compares with datetime.now(): move that clock too."""
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp

    delta = _dt.timedelta(seconds=offset_seconds)

    class Shifted(_dt.datetime):
        @classmethod
        def now(cls, tz: _dt.tzinfo | None = None) -> "Shifted":  # type: ignore[override]
            return super().now(tz) + delta

    timestamp.datetime = types.SimpleNamespace(datetime=Shifted)  # type: ignore[attr-defined]
