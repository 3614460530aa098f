"""bench/load.py's truth: how a place told inside a webhook is judged against reads of the line taken
before the webhook was sent, just after its reply and a moment later. The lines here are scenarios
written out by hand (who stands where at each read), not the product's counting."""
from __future__ import annotations

from typing import Iterator

from bench.load import Line, Truth


def reads(*lines: Line) -> Iterator[Line]:
    yield from lines
    while True:  # any read after the scenario's last sees the last line again
        yield lines[-1]


def judged(said: int, *lines: Line) -> Truth:
    """A webhook for ticket q-5 whose reply says `said`, the line read as `lines` say (before, after, later)."""
    line = reads(*lines)
    truth = Truth(lambda: next(line), settle=0.0)
    truth.around(lambda: f"You are number {said} in line.", "wait", "q-5")
    return truth


WAITING = [("q-1", 0, 1), ("q-2", 0, 2), ("q-3", 0, 3), ("q-5", 0, 5)]


def test_a_place_counted_before_a_callback_came_back_ahead_is_within_the_truth() -> None:
    # q-5 stood 4th throughout; while the webhook ran, callback q-4 (parked) came back at its own number
    returned = [*WAITING[:3], ("q-4", 0, 4), ("q-5", 0, 5)]
    check = judged(4, WAITING, returned, returned).checks[0]
    assert (check.low, check.high, check.came) == (4, 5, 1)
    assert check.within and check.exact


def test_a_place_better_than_everyone_ahead_throughout_is_outside_the_bound() -> None:
    check = judged(2, WAITING, WAITING, WAITING).checks[0]  # three were ahead at every read
    assert (check.low, check.high, check.came) == (4, 4, 0)
    assert not check.within and check.error == 2


def test_a_caller_who_left_ahead_during_the_webhook_may_or_may_not_have_been_counted() -> None:
    left = [("q-1", 0, 1), ("q-3", 0, 3), ("q-5", 0, 5)]  # q-2 hung up while the webhook ran
    assert judged(3, WAITING, left, left).checks[0].exact
    assert judged(4, WAITING, left, left).checks[0].exact
    assert not judged(5, WAITING, left, left).checks[0].within  # worse than anyone could have been


def test_a_departure_behind_the_caller_allows_one_place_better() -> None:
    behind = [*WAITING, ("q-6", 0, 6)]
    line = reads(behind, WAITING, WAITING, WAITING, WAITING, WAITING)  # q-6 gives up between two checks
    truth = Truth(lambda: next(line), settle=0.0)
    truth.observe()
    truth.around(lambda: "You are number 3 in line.", "wait", "q-5")
    check = truth.checks[0]
    assert (check.low, check.behind) == (4, 1)
    assert check.within and not check.exact
