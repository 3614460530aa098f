"""One agent is never reserved for two calls at once (issue 21, item 2): late and repeated events about an
earlier reservation (the table stream's records redelivered, a Dial's end or a leg event of an earlier
bridge, status callbacks, agents' own events) change nothing about the reservation in force. Seeded runs
of random interleavings on the memory world (its stream, workflow and sweep as scheduled work), the
invariant checked after every step."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timezone
from typing import Callable

import pytest

from chalicelib.adapters.memory import FakeDialer
from chalicelib.bootstrap import MemoryWorld, build_memory
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketStatus
from chalicelib.domain.queues import QueueDirectory, parse_queue
from chalicelib.domain.script import Dial

MONDAY_10_NY = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
SUPPORT = "+18005550100"
AGENTS = ("ann", "bob", "cy")


def reserved_twice(w: MemoryWorld) -> dict[str, list[str]]:
    """Agents named by more than one ticket being put through to them."""
    connecting = [t for t in w.stores.table.tickets.values() if t.status is TicketStatus.CONNECTING and t.agent_id]
    twice = Counter(t.agent_id for t in connecting)
    return {a: [t.id for t in connecting if t.agent_id == a] for a, n in twice.items() if n > 1}


class Run:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.w = build_memory(QueueDirectory([parse_queue({"id": "support"})]), MONDAY_10_NY, dialer=FakeDialer())
        self.records: list[tuple[Ticket, Ticket | None]] = []
        deliver = self.w.stores.table.on_change
        assert deliver is not None

        def recorded(new: Ticket, old: Ticket | None) -> None:
            self.records.append((new, old))
            deliver(new, old)

        self.deliver = deliver
        self.w.stores.table.on_change = recorded
        self.calls = 0

    def any_bridge(self) -> tuple[str, str] | None:
        """One bridge ever put through, earlier ones included: (ticket, agent)."""
        found = []
        for _, script in self.w.dialer.redirects:
            dial = next(v for v in script.verbs if isinstance(v, Dial))
            params = dict(dial.action.params) if dial.action else {}
            found.append((params["t"], params["agent"]))
        return self.rng.choice(found) if found else None

    def step(self) -> str:
        actions: list[Callable[[], str]] = [self.ring, self.agent, self.agent, self.redeliver, self.redeliver,
                                            self.dial_end, self.dial_end, self.leg, self.hang_up, self.wait]
        return self.rng.choice(actions)()

    def ring(self) -> str:
        self.calls += 1
        self.w.flow.incoming(CallEvent(f"CA{self.calls}", CallStatus.RINGING, f"+1212555{self.calls:04d}", SUPPORT))
        return f"ring CA{self.calls}"

    def agent(self) -> str:
        agent, status = self.rng.choice(AGENTS), self.rng.choice(
            [AgentStatus.AVAILABLE, AgentStatus.AVAILABLE, AgentStatus.OFFLINE, AgentStatus.BUSY, AgentStatus.AWAY])
        self.w.dispatcher.agent_event(agent, status, contact=f"client:{agent}", queues=("support",),
                                      reason="break" if status is AgentStatus.AWAY else None)
        return f"{agent} {status.value}"

    def redeliver(self) -> str:
        if not self.records:
            return "nothing to redeliver"
        new, old = self.rng.choice(self.records)  # a late or repeated stream record
        self.deliver(new, old)
        return f"stream again {new.id} {old.status.value if old else None}->{new.status.value} {new.agent_id}"

    def dial_end(self) -> str:
        bridge = self.any_bridge()
        answered = self.rng.random() < 0.5
        if bridge is not None:
            self.w.dispatcher.bridge_result(*bridge, answered, 30.0 if answered else 0.0)
        return f"dial end {bridge} answered={answered}"

    def leg(self) -> str:
        bridge = self.any_bridge()
        status = self.rng.choice([CallStatus.RINGING, CallStatus.IN_PROGRESS])
        if bridge is not None:
            self.w.dispatcher.bridge_leg(*bridge, status)
        return f"leg {bridge} {status.value}"

    def hang_up(self) -> str:
        if not self.calls:
            return "no call"
        call = f"CA{self.rng.randint(1, self.calls)}"
        self.w.flow.incoming(CallEvent(call, CallStatus.COMPLETED, "", SUPPORT))
        return f"hang up {call}"

    def wait(self) -> str:
        seconds = self.rng.choice([0, 1, 5, 61])
        self.w.clock.advance(seconds)
        return f"wait {seconds}"


@pytest.mark.parametrize("seed", range(40))
def test_no_agent_is_reserved_for_two_calls_whatever_comes_late(seed: int) -> None:
    run = Run(seed)
    done: list[str] = []
    for _ in range(120):
        done.append(run.step())
        run.w.clock.advance(0.1)  # the stream's records of this step, the workflow's next states
        assert reserved_twice(run.w) == {}, " | ".join(done[-15:])
