"""The demo's caller list and its load (`make run ARGS=--demo-load`): callers a queue may call back,
at the stack's clock, on each side of the calling windows (issue 23, items 11 and 12)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from chalicelib.bootstrap import load_queues
from chalicelib.domain.phone import NumberPolicy, in_calling_window
from chalicelib.domain.queues import QueueDirectory
from chalicelib.settings import DEFAULT_QUEUES_FILE
from devstack.demo import caller_choices, why_later
from devstack.demo_load import DemoLoad

QUEUES = load_queues(DEFAULT_QUEUES_FILE)  # what `make run` offers: support (US, CA), kyiv (UA, PL; 09-18 Kyiv)
KYIV_NOON = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)  # 02:00 in San Francisco
US_NOON = datetime(2026, 11, 24, 20, 0, tzinfo=timezone.utc)  # 22:00 in Kyiv


def queue_of(queues: QueueDirectory, number: str) -> Any:
    return next(q for q in queues if number in q.numbers)


def callable_now(queues: QueueDirectory, frm: str, to: str, now: datetime) -> bool:
    queue = queue_of(queues, to)
    return (NumberPolicy(queue.allowed_countries, queue.default_region).may_call(frm)
            and in_calling_window(frm, now, queue.hours.tz) and queue.hours.is_open(now))


@pytest.mark.parametrize("now, first", [(KYIV_NOON, {"Kyiv", "Warsaw"}),
                                        (US_NOON, {"Honolulu", "San Francisco", "New York", "St. John's"})])
def test_each_demo_caller_calls_a_queue_that_may_call_them_back(now: datetime, first: set[str]) -> None:
    choices = caller_choices(QUEUES, now)
    for choice in choices:
        queue = queue_of(QUEUES, choice["to"])
        assert NumberPolicy(queue.allowed_countries, queue.default_region).may_call(choice["from"]), choice
        assert choice["callback_now"] == callable_now(QUEUES, choice["from"], choice["to"], now), choice
    assert {c["city"] for c in choices if c["callback_now"]} == first
    assert all(c["callback_now"] for c in choices[:len(first)])  # those first in the list


def test_st_johns_is_labelled_with_its_own_clocks() -> None:
    [st_johns] = [c for c in caller_choices(QUEUES, US_NOON) if c["city"] == "St. John's"]
    assert st_johns["local_time"] == "Tue 16:00 or 16:30"  # Labrador and Newfoundland, not UTC's 20:00
    pending = {"callback_number": "+17095550142", "queue": "support", "status": "SCHEDULED", "attempts": "0",
               "at": datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)}
    assert why_later(pending, QUEUES, datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)).startswith(
        "Wed 08:00 or 08:30 their time (12:00 UTC): it is Wed 05:00 or 05:30 where they are")


class Network:
    def __init__(self) -> None:
        self.dialed: list[tuple[str, str]] = []
        self.enough = threading.Event()

    def set_agent(self, name: str, status: str, handle_seconds: float = 60.0) -> None:
        pass

    def dial_in(self, frm: str, to: str, model: Any = None) -> None:
        self.dialed.append((frm, to))
        if len(self.dialed) >= 12:
            self.enough.set()


@pytest.mark.parametrize("now", [KYIV_NOON, US_NOON])
def test_the_demo_load_dials_callers_who_can_be_called_back_at_the_stack_s_clock(now: datetime) -> None:
    network = Network()
    load = DemoLoad(network, QUEUES, lambda: now, calls_per_minute=6000)
    load.start()
    try:
        assert network.enough.wait(30)
    finally:
        load.stop()
        load.join(10)
    assert len(set(network.dialed)) == len(network.dialed)  # a number of their own each
    for frm, to in network.dialed:
        assert callable_now(QUEUES, frm, to, now), (frm, to)


def test_with_nobody_callable_now_the_load_still_calls_a_queue_that_takes_the_caller() -> None:
    sunday = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)  # Kyiv closed; night from Honolulu to St. John's
    assert not any(c["callback_now"] for c in caller_choices(QUEUES, sunday))
    load = DemoLoad(Network(), QUEUES, lambda: sunday)
    for n in range(1, 7):
        frm, to = load.caller(n)
        queue = queue_of(QUEUES, to)
        assert NumberPolicy(queue.allowed_countries, queue.default_region).may_call(frm)
