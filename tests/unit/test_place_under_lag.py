"""Issue 20 on the in-memory world: the table's stream held back (no record delivered), the scenario of
tests/place_scenario.py; every place told is checked against the exact line (tests/integration has
the same on DynamoDB)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib.adapters.memory import FakeDialer
from chalicelib.bootstrap import build_memory
from chalicelib.domain import line
from chalicelib.domain.queues import QueueDirectory
from tests.place_scenario import QUEUE, QUEUES, InLine, Scenario, World

MONDAY_10_PST = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)


def memory_world() -> World:
    w = build_memory(QueueDirectory.from_config(QUEUES), MONDAY_10_PST, dialer=FakeDialer(), sweep_seconds=0)
    w.stores.table.on_change = None  # the table's stream is held back: nothing derived from it happens

    def standing() -> list[InLine]:
        tickets = [w.stores.tickets.get(tid) for _, _, tid in w.stores.table.waiting.get(QUEUE, [])]
        return [InLine(t.id, t.number, t.priority, t.kind, t.status) for t in tickets]

    def settle(done) -> None:  # type: ignore[no-untyped-def]
        for _ in range(100):
            w.clock.advance(0.5)  # the workflow's timers and the dial queue (not the stream)
            if done():
                return
        raise AssertionError("the workflow never got there")

    return World(w, standing, settle, w.clock.advance, w.dialer)


@pytest.mark.parametrize("seed", [20, 21, 22])
def test_every_place_told_is_within_the_bound_while_the_stream_is_held_back(seed: int,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line, "SHORT_LINE", 0)  # never counted: the line's counts answer every time
    scenario = Scenario(memory_world(), seed=seed)
    scenario.run()
    scenario.check()
    assert {t.step for t in scenario.told} == {"greeting", "wait", "confirmation"}
    assert scenario.done["requeued"] and scenario.done["booked"] >= 20
