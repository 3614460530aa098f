"""Issue 20's scenario, shared by the in-memory world and DynamoDB (moto): the table's stream held back
(no record applied), 200 callers join, 50 hang up in line, 30 are served live and 20 callbacks come back
into the line after an attempt nobody answered; some press 1 (their callbacks hold their place) and
some are put through to an agent who never picks up (back at their own place). Every place a caller
hears (the greeting, the wait announcements, the booking's confirmation) is checked against the exact
line at that moment, read from the table: never worse, and better by at most the departures behind
that caller (of their class) since they joined, the bound docs/architecture.md states."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, QueueResult, TicketKind, TicketStatus
from chalicelib.domain.script import Gather, Say, Script

QUEUE, NUMBER = "support", "+18005550100"
# Strict number order (no live-service guard), so callbacks are taken in turn too; retries a second apart;
# a caller who hangs up is gone (no recovery callback brings them back).
QUEUES = {"default": QUEUE, "queues": [{
    "id": QUEUE, "numbers": [NUMBER], "retry_delays_seconds": [0, 1, 1], "max_park_seconds": 3600,
    "dial_timeout_seconds": 3600, "callback_reserve_agents": 0, "live_guard": False, "recover_lost_calls": False}]}
MAX_ATTEMPTS = 3
_PLACE = re.compile(r"number (\d+) in line")


def said_place(script: Script) -> int | None:
    """The place a script tells the caller ("You are number K in line", "...: number K in line")."""
    for verb in script.verbs:
        for said in (verb.prompts if isinstance(verb, Gather) else (verb,)):
            match = _PLACE.search(said.text) if isinstance(said, Say) else None
            if match:
                return int(match.group(1))
    return None


@dataclass(frozen=True)
class InLine:
    """A ticket standing in the line, as the table says (what the scenario needs of it)."""

    id: str
    number: int
    priority: int
    kind: TicketKind
    status: TicketStatus


@dataclass(frozen=True)
class Told:
    step: str
    ticket: str
    said: int
    exact: int
    bound: int  # departures behind the caller, of their class, since they joined


@dataclass
class World:
    """What the scenario drives: the use cases and stores, how to read the exact line from the table, and
    how to let the workflow's and the dial worker's work happen (never the table's stream)."""

    container: Any  # flow, dispatcher, callbacks, stores
    standing: Callable[[], list[InLine]]  # the tickets in the line, read from the table
    settle: Callable[[Callable[[], bool]], None]  # run the workflow and dial worker until the condition holds
    advance: Callable[[float], None]  # the clock
    dialer: Any


@dataclass
class Scenario:
    world: World
    seed: int = 20
    polls: int = 3  # wait announcements per step, to callers picked at random
    told: list[Told] = field(default_factory=list)
    behind: dict[str, int] = field(default_factory=dict)  # ticket -> departures behind it since it joined
    calls: dict[str, str] = field(default_factory=dict)  # ticket -> its caller's call id
    done: dict[str, int] = field(default_factory=lambda: {"joined": 0, "left": 0, "served": 0, "returned": 0,
                                                          "booked": 0, "requeued": 0})

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.c = self.world.container
        self._line = {t.id: t for t in self.world.standing()}
        self.agents = 0

    # --- the exact line, and the bound ----------------------------------------------------------

    def observe(self) -> None:
        """Read the line from the table: whoever left it since the last look counts against those of its
        class ahead of it (numbers lower) who stand in it."""
        now = {t.id: t for t in self.world.standing()}
        for gone in (t for tid, t in self._line.items() if tid not in now):
            for tid, other in now.items():
                if tid in self.behind and other.priority == gone.priority and other.number < gone.number:
                    self.behind[tid] += 1
        self._line = now

    def exact_place(self, ticket_id: str) -> int:
        me = self._line[ticket_id]
        return 1 + sum(1 for t in self._line.values()
                       if t.priority > me.priority or (t.priority == me.priority and t.number < me.number))

    def heard(self, step: str, ticket_id: str, script: Script, moved: bool = True) -> None:
        """A place told; `moved`: the step may have moved the line (else the last look still holds)."""
        if moved:
            self.observe()
        said = said_place(script)
        if said is not None:
            self.told.append(Told(step, ticket_id, said, self.exact_place(ticket_id), self.behind[ticket_id]))

    # --- what callers and agents do -------------------------------------------------------------

    def join(self) -> None:
        n = self.done["joined"] + 1
        sid = f"CA{n:05d}"
        script = self.c.flow.incoming(CallEvent(sid, CallStatus.RINGING, f"+1415555{n:04d}", NUMBER))
        ticket = self.c.stores.tickets.find_by_call(sid)
        self.calls[ticket.id], self.behind[ticket.id] = sid, 0
        self.done["joined"] += 1
        self.heard("greeting", ticket.id, script)

    def _holding(self) -> list[InLine]:
        return sorted((t for t in self._line.values() if t.kind is TicketKind.LIVE and t.status is TicketStatus.WAITING),
                      key=lambda t: t.number)

    def leave(self) -> bool:
        holding = self._holding()
        if not holding:
            return False
        gone = self.rng.choice(holding)
        self.c.flow.queue_exit(gone.id, CallEvent(self.calls[gone.id], CallStatus.COMPLETED,
                                                   queue_result=QueueResult.HANGUP))
        self.done["left"] += 1
        self.observe()
        return True

    def poll(self, count: int = 3) -> None:
        holding = self._holding()
        for ticket in self.rng.sample(holding, min(count, len(holding))):
            script = self.c.flow.wait(ticket.id, CallEvent(self.calls[ticket.id], CallStatus.IN_PROGRESS,
                                                           queue_seconds=200))
            self.heard("wait", ticket.id, script, moved=False)  # a poll moves nobody

    def press_one(self) -> bool:
        holding = self._holding()
        if not holding:
            return False
        ticket = self.rng.choice(holding)
        sid = self.calls[ticket.id]
        self.c.flow.offer(ticket.id, CallEvent(sid, CallStatus.IN_PROGRESS, digits="1"))
        script = self.c.flow.confirm(ticket.id, CallEvent(sid, CallStatus.IN_PROGRESS, digits="1"))
        self.done["booked"] += 1
        self.heard("confirmation", ticket.id, script)
        self.world.settle(lambda: self.c.stores.tickets.get(ticket.id).status is TicketStatus.WAITING)  # parked
        self.observe()
        return True

    def take(self) -> bool:
        """An agent signs in and takes whoever the dispatcher gives them (strict number order: a parked
        callback too), then signs out, so no second caller follows from the same agent."""
        if not any(t.status is TicketStatus.WAITING for t in self._line.values()):
            return False
        self.agents += 1
        agent = f"agent{self.agents}"
        _, ticket = self.c.dispatcher.agent_event(agent, AgentStatus.AVAILABLE, contact=f"client:{agent}",
                                                  queues=(QUEUE,))
        self.world.advance(1)
        if ticket is None:
            return False
        self.observe()
        if ticket.kind is TicketKind.LIVE:
            self.c.dispatcher.agent_event(agent, AgentStatus.OFFLINE)
            missed = self.done["requeued"] < 5 and self.done["served"] % 3 == 1  # back at their own place
            self.c.dispatcher.bridge_result(ticket.id, agent, answered=not missed, talk_seconds=60)
            self.done["requeued" if missed else "served"] += 1
        else:  # the workflow dials it: the agent answers; the callee does not (it comes back later) or does
            self.world.settle(lambda: bool(self.c.stores.tickets.get(ticket.id).dial_id))
            self.c.dispatcher.agent_event(agent, AgentStatus.OFFLINE)
            dialing = self.c.stores.tickets.get(ticket.id)
            again = dialing.attempts < MAX_ATTEMPTS and self.done["returned"] < 20
            self.c.callbacks.answered(ticket.id, dialing.dial_id, CallEvent("CAout", CallStatus.IN_PROGRESS))
            self.c.callbacks.dialed(ticket.id, dialing.dial_id, CallEvent(
                "CAout", CallStatus.IN_PROGRESS, dial_status=CallStatus.NO_ANSWER if again else CallStatus.COMPLETED,
                dial_seconds=0 if again else 60))
            if again:
                self.world.settle(lambda: self.c.stores.tickets.get(ticket.id).status is TicketStatus.WAITING)
            self.done["returned" if again else "served"] += 1
        self.observe()
        return True

    def run(self, joins: int = 200, leaves: int = 50, served: int = 30, returns: int = 20, steps: int = 2000) -> None:
        for _ in range(steps):
            if (self.done["joined"] >= joins and self.done["left"] >= leaves and self.done["served"] >= served
                    and self.done["returned"] >= returns):
                return
            roll = self.rng.random()
            if roll < 0.45 and self.done["joined"] < joins:
                self.join()
            elif roll < 0.6 and self.done["left"] < leaves:
                self.leave()
            elif roll < 0.72 and self.done["booked"] < returns + 10:
                self.press_one()
            elif roll < 0.9 and (self.done["served"] < served or self.done["returned"] < returns):
                self.take()
            self.poll(self.polls)
            self.world.advance(1)
        raise AssertionError(f"the scenario did not finish: {self.done}")

    def check(self) -> None:
        assert self.told, "nobody was told a place"
        wrong = [t for t in self.told if not t.exact - t.bound <= t.said <= t.exact]
        assert not wrong, wrong[:10]
        assert self.c.stores.line.snapshot(QUEUE).line.total == len(self.world.standing())
