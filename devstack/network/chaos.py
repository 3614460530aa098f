"""Seeded disorder for the simulated network (`python -m devstack --chaos-seed N`, issue 21): providers
post a bridge's events (the agent leg's ringing, answered and completed, the Dial's end, the call's own
status callback) concurrently, late, duplicated and in any order. Each bridge draws its disorder from a
generator seeded by the run's seed and the bridge's parties, so a seed names the same choices on every
run (which events are sent twice, how late each is, whether and when the caller hangs up); only the
machine's thread timing varies.

And what a phone would notice: an agent whose phone is rung for a second call while it still rings or
talks for a first (`double_booked`), and every webhook Holdfast answered with a status other than 200
(`refused`)."""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)

MAX_DELAY = 1.5  # seconds (x the network's pace) an event may lag behind the moment it happened
DUPLICATE = 0.3  # the chance an event is posted twice
HANG_UP = 0.5  # the chance a bridged caller hangs up of their own (while the agent rings, or while talking)


@dataclass(frozen=True)
class BridgePlan:
    """One bridge's disorder: its generator, and when (seconds into the bridge, unscaled) the caller
    hangs up of their own, if they do."""

    rng: random.Random
    hang_up_after: float | None


class Chaos:
    def __init__(self, seed: int, pace: float) -> None:
        self.seed = seed
        self.pace = pace
        self.lock = threading.Lock()
        self.pending = 0  # events scheduled, not yet posted
        self.bridges: dict[str, int] = {}  # per pair of parties: bridges so far (the generator's key)
        self.on_call: dict[str, set[str]] = {}  # agent -> the calls ringing or talking on their phone
        self.double_booked: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []

    def plan(self, frm: str, to: str, ring_seconds: float, talk_seconds: float) -> BridgePlan:
        with self.lock:
            key = f"{frm}>{to}"
            self.bridges[key] = n = self.bridges.get(key, 0) + 1
        rng = random.Random(f"{self.seed}/{key}/{n}")
        hang_up = rng.uniform(0.0, ring_seconds + talk_seconds) if rng.random() < HANG_UP else None
        return BridgePlan(rng, hang_up)

    def scatter(self, rng: random.Random, sends: list[Callable[[], object]]) -> None:
        """Post each event from a thread of its own after a random delay, some twice."""
        for send in sends:
            delays = [rng.uniform(0.0, MAX_DELAY)]
            if rng.random() < DUPLICATE:
                delays.append(rng.uniform(0.0, MAX_DELAY))
            for delay in delays:
                with self.lock:
                    self.pending += 1
                timer = threading.Timer(delay * self.pace, self._post, args=(send,))
                timer.daemon = True
                timer.start()

    def _post(self, send: Callable[[], object]) -> None:
        try:
            send()
        except Exception:  # noqa: BLE001 - a provider's callback that failed is not retried; `refused` says why
            log.warning("chaos: an event's post failed", exc_info=True)
        finally:
            with self.lock:
                self.pending -= 1

    # --- what a phone notices --------------------------------------------------------------------

    def ring(self, agent: str, call: str) -> None:
        """The agent's phone rings for `call` (until `hang`): a second call meanwhile is double booking."""
        with self.lock:
            calls = self.on_call.setdefault(agent, set())
            if calls:
                self.double_booked.append({"agent": agent, "calls": sorted(calls | {call}),
                                           "at": time.monotonic()})
            calls.add(call)

    def hang(self, agent: str, call: str) -> None:
        with self.lock:
            self.on_call.get(agent, set()).discard(call)

    def answered(self, url: str, status: int, body: str) -> None:
        if status != 200:
            with self.lock:
                self.refused.append({"url": url, "status": status, "body": body[:200]})

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {"seed": self.seed, "pending": self.pending, "double_booked": list(self.double_booked),
                    "refused": list(self.refused)}
