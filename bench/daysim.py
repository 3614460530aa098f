"""The day simulator: Holdfast's own code (CallFlow, Dispatcher, Callbacks, the workflow as
MemoryOrchestrator, the in-memory store) in virtual time, met by simulated callers, agents and a phone
network; and the peer policies, the only policy code of the simulator's own.

Every policy runs on the same live line (Holdfast's dispatcher, first come first served: what any ACD
does), the same arrivals and the same caller draws (common random numbers). What differs is who is
called back, when, and whose agent does it:

  none              no callbacks, no offer
  unitalk           on a missed call, wait up to 5 minutes for an agent's line to free, call the agent,
                    then the customer; no agent in 5 minutes: no callback
  comagic_strict    attempts at 0, +5, +10 and +15 minutes after the missed call, each only if an agent is
                    free at that instant, within working hours
  comagic_waiting   the same attempts, each waiting for the next agent to free until the next is due
  holdfast          Holdfast as configured in the scenario's queue (offer press 1, recover lost calls)

The caller model is written down in docs/day.md; the measures are DESIGN.md's."""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from chalicelib.adapters.memory import MemoryStores, VirtualClock
from chalicelib.domain import guard
from chalicelib.domain.errors import CallGoneError
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, QueueResult, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory, parse_queue
from chalicelib.domain.script import Dial, Gather, Say, Script, Step
from chalicelib.bootstrap import MemoryWorld, build_memory
from chalicelib.ports import Dialer

from bench.daychosen import ChangeCall, ChosenTimes, step_of
# the measures live in bench/daymeasures.py; named here too for the scripts and tests that import them from here
from bench.daymeasures import RECOVERY_HORIZON, SL_TARGET, measures, percentile, summarize, t95  # noqa: F401

POLICIES = ("none", "unitalk", "comagic_strict", "comagic_waiting", "holdfast")
PEERS = POLICIES[:-1]
QUEUE_NUMBER = "+18005550100"
FIRST_DAY = datetime(2026, 11, 2, tzinfo=timezone.utc)  # a Monday
NY = timedelta(hours=-5)  # New York in November: the queue, the agents and the callers
OPEN_H, CLOSE_H = 8, 20
LISTEN_TO_OFFER = 15.0  # seconds of greeting, place, wait and the offer before a key can be pressed
POLL_SECONDS = 60.0  # the hold queue's wait URL: announcements (and the offer again) every minute
AGENT_PICKUP, RING, NO_ANSWER, MACHINE_RING, MACHINE_TALK = 3.0, 8.0, 25.0, 20.0, 15.0
OPEN_CALLBACK = frozenset({TicketStatus.SCHEDULED, TicketStatus.WAITING, TicketStatus.CONNECTING})
COMAGIC_OFFSETS = (0.0, 300.0, 600.0, 900.0)
UNITALK_WINDOW = 300.0

BASE_QUEUE: dict[str, Any] = {
    "id": "sim", "numbers": [QUEUE_NUMBER],
    "hours": {"timezone": "America/New_York",
              **{d: [f"{OPEN_H:02d}:00-{CLOSE_H:02d}:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}},
    "short_abandon_seconds": 5, "average_handle_seconds": 570, "average_patience_seconds": 120,
    "max_callbacks_per_number_per_day": 3,
}
PEER_QUEUE = {"offer_callback_after_seconds": 10 ** 9, "recover_lost_calls": False}


@dataclass(frozen=True)
class Scenario:
    name: str
    agents: int = 13
    calls_per_hour: float = 55.0  # outside the surge
    surge: float = 4.0  # peak arrival rate over the base
    surge_center_h: float = 13.0
    surge_width_h: float = 1.6
    all_day: bool = False  # all-day overload: calls_per_hour * surge from opening to closing
    talk_mean: float = 540.0  # 9 min (the published case settled on 8-10)
    talk_sigma: float = 0.5
    wrap: float = 30.0
    first_ring: float = 0.03  # hang up within 5 s
    patience_mean: float = 150.0  # lognormal, the rest of the callers
    patience_sigma: float = 1.0
    accept: float = 0.37  # press 1 when offered (the published US bank figure)
    # Of those who accept at the first offer, the share who press 2 instead and take the first time
    # offered (where the queue offers chosen times: `scheduled_callbacks`); the rest press 1 (issue 27)
    choose_time: float = 0.0
    # Of those who chose a time, the shares who call again before it to move it, and to cancel it (through
    # the pending-callback menu: bench/daychosen.py); the rest keep it
    move_time: float = 0.0
    cancel_time: float = 0.0
    stop_reply: float = 0.0  # the share of texted numbers that reply STOP to the first text they get
    web_per_hour: float = 0.0  # callbacks asked for from the web page (Holdfast only: a stream of their own)
    answer_now: float = 0.80  # a person answers a callback that comes at once ...
    answer_floor: float = 0.30  # ... decaying towards this with the callback's delay ...
    answer_tau: float = 2400.0  # ... with this time constant (s)
    machine: float = 0.2  # share of unanswered callbacks taken by an answering machine
    redial: float = 0.3  # a lost caller not yet called back calls again ...
    redial_mean: float = 1800.0  # ... after an exponential delay with this mean (s), once
    queue: dict[str, Any] = field(default_factory=dict)  # Holdfast's queue settings for this run
    # More surges than the one above: (centre hour, width h, peak over the base) each; empty: that one
    surges: tuple[tuple[float, float, float], ...] = ()
    # How late a callback is for the answer model: after the time told ("promise"), or after the call
    # itself whatever was told ("call": a caller's wish to talk fades from the moment they asked)
    answer_late_from: str = "promise"
    # Agents signed in from each local hour ((8.0, 10), (13.0, 16)); empty: `agents` from 08:00 to 20:00.
    # Holdfast's queue is given the same as its roster.
    shifts: tuple[tuple[float, int], ...] = ()


def bumps(s: Scenario) -> tuple[tuple[float, float, float], ...]:
    return s.surges or ((s.surge_center_h, s.surge_width_h, s.surge),)


def arrival_rate(s: Scenario, h: float) -> float:
    """Calls per hour at local hour h."""
    if not OPEN_H <= h < CLOSE_H:
        return 0.0
    if s.all_day:
        return s.calls_per_hour * s.surge
    return s.calls_per_hour * (1 + sum((f - 1) * math.exp(-((h - c) / w) ** 2) for c, w, f in bumps(s)))


def agents_at(s: Scenario, h: float) -> int:
    """Agents signed in at local hour h (between opening and closing)."""
    if not s.shifts:
        return s.agents
    return next((n for at_h, n in reversed(s.shifts) if at_h <= h), 0)


def roster(s: Scenario) -> dict[str, dict[str, int]]:
    """The scenario's shifts as a Holdfast roster (every day the same)."""
    steps = {f"{int(h):02d}:{int(round(h % 1 * 60)):02d}": n for h, n in s.shifts}
    steps[f"{CLOSE_H:02d}:00"] = 0
    return {d: dict(steps) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def answer_probability(s: Scenario, delay: float) -> float:
    """A person answers a callback that comes `delay` seconds late (after the promise, or after the call)."""
    return s.answer_floor + (s.answer_now - s.answer_floor) * math.exp(-max(0.0, delay) / s.answer_tau)


@dataclass
class Caller:
    id: int
    number: str
    arrival: float  # seconds since the first day's midnight UTC
    patience: float
    talk: float
    u_accept: float
    u_answer: list[float]
    u_machine: list[float]
    u_redial: float
    redial_after: float


def local_hour(t: float) -> float:
    return ((t + NY.total_seconds()) / 3600.0) % 24


def at(t: float) -> datetime:
    return FIRST_DAY + timedelta(seconds=t)


def day_start(day: int) -> float:
    return day * 86400 - NY.total_seconds()  # local midnight


def arrivals(s: Scenario, day: int, seed: int) -> list[Caller]:
    """One day's callers (same draws whatever the policy)."""
    rng = random.Random(seed * 1000 + day)
    peak = max(arrival_rate(s, OPEN_H + k / 60) for k in range(60 * (CLOSE_H - OPEN_H)))
    out: list[Caller] = []
    t = day_start(day) + OPEN_H * 3600
    end = day_start(day) + CLOSE_H * 3600
    while True:
        t += rng.expovariate(peak / 3600)
        if t >= end:
            return out
        if rng.random() * peak >= arrival_rate(s, local_hour(t)):
            continue
        first_ring = rng.random() < s.first_ring
        patience = rng.uniform(1, 4.9) if first_ring else rng.lognormvariate(
            math.log(s.patience_mean) - s.patience_sigma ** 2 / 2, s.patience_sigma)
        talk = rng.lognormvariate(math.log(s.talk_mean) - s.talk_sigma ** 2 / 2, s.talk_sigma)
        out.append(Caller(day * 100_000 + len(out), f"+1212{rng.randrange(2_000_000, 9_999_999)}", t, patience,
                          talk, rng.random(), [rng.random() for _ in range(8)], [rng.random() for _ in range(8)],
                          rng.random(), rng.expovariate(1 / s.redial_mean)))


# --- what happened, per inbound call ----------------------------------------------------------------

@dataclass
class CallRecord:
    caller: Caller
    start: float
    repeat: bool = False
    answered_at: float | None = None  # bridged to an agent while holding
    ended_at: float | None = None  # hung up, or pressed 1 (then chose_callback)
    chose_callback: bool = False
    promise: float | None = None  # when the caller was told to expect the callback
    scheduled: bool = False  # the callback is at a time the caller chose (its slot's start is the promise)
    moved: bool = False  # ... and they called again and moved it (the promise is the new slot's start)
    cancelled: bool = False  # ... or called again and cancelled it


@dataclass
class Reached:
    """A callback attempt that a person answered."""

    at: float
    first_dial: float | None  # the first callback attempt dialed for this caller after this call


class Sim:
    """One policy over consecutive days."""

    # Where virtual time starts and the queue every policy shares (replay/sim.py sets its own)
    epoch: datetime = FIRST_DAY
    base_queue: dict[str, Any] = BASE_QUEUE

    def __init__(self, s: Scenario, policy: str, days: int, seed: int) -> None:
        self.s, self.policy, self.days, self.seed = s, policy, days, seed
        raw = {**self.base_queue, **({"roster": roster(s)} if s.shifts else {}),
               **(PEER_QUEUE if policy in PEERS else s.queue)}
        self.queue = parse_queue(raw)
        self.phone = Phone(self)
        self.w: MemoryWorld = build_memory(QueueDirectory([self.queue]), self.epoch, dialer=self.phone)
        self.clock: VirtualClock = self.w.clock
        self.stores: MemoryStores = self.w.stores
        self.records: list[CallRecord] = []
        self.by_sid: dict[str, CallRecord] = {}
        self.callers: dict[str, Caller] = {}
        self.talked: dict[str, list[float]] = {}  # number -> when they started talking to an agent
        self.reached: dict[str, list[float]] = {}  # number -> callbacks a person answered
        self.dialed: dict[str, list[float]] = {}  # number -> callback attempts placed to them
        self.busy: dict[int, float] = {}  # day -> agent seconds on calls (ringing, talking, wrapping up)
        self.last_missed: dict[str, CallRecord] = {}  # number -> their last call not answered live
        self.agents = [f"a{n}" for n in range(max([s.agents] + [n for _, n in s.shifts]))]
        self.pending: list[tuple[float, float, Caller]] = []  # peers: (since, deadline, caller) waiting for an agent
        self.on_day: Callable[[], None] = lambda: None  # progress: called as each simulated day ends
        self.closing_backlog: dict[int, int] = {}  # day -> Holdfast's callbacks still open at closing
        # calls about chosen times, texts, and Holdfast's own report rows (Holdfast only)
        self.chosen = ChosenTimes(self) if policy not in PEERS else None

    # --- driving ------------------------------------------------------------------------------

    def run(self) -> "Sim":
        logging.disable(logging.WARNING)  # the use cases log every call; the simulator reads the store
        for day in range(self.days):
            for c in arrivals(self.s, day, self.seed):
                self.clock.at(at(c.arrival), lambda c=c: self.arrive(c, repeat=False))
            self.clock.at(at(day_start(day) + OPEN_H * 3600), self.shift_starts)
            for h, _ in self.s.shifts:
                if OPEN_H < h < CLOSE_H:
                    self.clock.at(at(day_start(day) + h * 3600), self.shift_starts)
            self.clock.at(at(day_start(day) + CLOSE_H * 3600), self.shift_ends)
            self.clock.at(at(day_start(day + 1) - 1), lambda: self.on_day())
        # the morning after the last day: callbacks left at closing may still be made
        self.clock.at(at(day_start(self.days) + OPEN_H * 3600), self.shift_starts)
        self.clock.at(at(day_start(self.days) + CLOSE_H * 3600), self.shift_ends)
        self.clock.run_until(at(day_start(self.days) + CLOSE_H * 3600 + 1))
        logging.disable(logging.NOTSET)
        return self

    def add_busy(self, seconds: float) -> None:
        day = int((self.now() + NY.total_seconds()) // 86400)
        self.busy[day] = self.busy.get(day, 0.0) + seconds

    def phone_calls(self) -> list[str]:
        """Callback legs Holdfast placed through the Dialer port."""
        return self.phone.placed

    def now(self) -> float:
        return (self.clock.now() - self.epoch).total_seconds()

    def day_bounds(self, day: int) -> tuple[float, float]:
        """A day's start and end in virtual seconds (local midnights)."""
        return day_start(day), day_start(day + 1)

    def staffed_seconds(self, day: int) -> float:
        return sum(agents_at(self.s, OPEN_H + k / 60) for k in range(60 * (CLOSE_H - OPEN_H))) * 60

    def shift_starts(self) -> None:
        """Opening, or a shift change: the first `agents_at` agents signed in, the others out (an
        agent on a call finishes it)."""
        on = agents_at(self.s, local_hour(self.now()))
        for n, a in enumerate(self.agents):
            agent = self.stores.table.agents.get(a)
            signed_in = agent is not None and agent.status is not AgentStatus.OFFLINE
            if n < on and not signed_in:
                self.w.dispatcher.agent_event(a, AgentStatus.AVAILABLE, contact=f"client:{a}", queues=(self.queue.id,))
            elif n >= on and signed_in:
                self.w.dispatcher.agent_event(a, AgentStatus.OFFLINE)

    def shift_ends(self) -> None:
        day = int((self.now() + NY.total_seconds()) // 86400)
        self.closing_backlog[day] = sum(1 for t in self.stores.table.tickets.values()
                                        if t.kind is TicketKind.CALLBACK and t.status in OPEN_CALLBACK)
        for a in self.agents:
            self.w.dispatcher.agent_event(a, AgentStatus.OFFLINE)

    def agent_free(self, agent_id: str) -> bool:
        """An agent finished a call. A peer's callback waiting for a free line takes it first."""
        if self.policy not in ("unitalk", "comagic_waiting"):
            return False
        now = self.now()
        self.pending = [p for p in self.pending if p[1] > now and not self.reached_since(p[2], p[0])]
        if not self.pending or not self.queue.hours.is_open(self.clock.now()):
            return False
        _, _, caller = self.pending.pop(0)
        self.peer_dial(agent_id, caller)
        return True

    # --- callers ------------------------------------------------------------------------------

    def arrive(self, c: Caller, repeat: bool, about: ChangeCall | None = None) -> None:
        """A call; `about`: to move or cancel their chosen time (if it is no longer pending, a call like any)."""
        sid = f"CA{c.id}{'r' if repeat else ''}{'c' if about else ''}"
        rec = CallRecord(c, self.now(), repeat)
        self.records.append(rec)
        self.by_sid[sid] = rec
        self.callers[c.number] = c
        script = self.w.flow.incoming(CallEvent(sid, CallStatus.RINGING, c.number, QUEUE_NUMBER))
        pending = step_of(script, "pending")
        if pending is not None and about is not None and self.chosen is not None:
            self.records.pop()  # the menu opens no ticket: not a call offered to the line (nor in the reports)
            del self.by_sid[sid]
            self.chosen.change(about, sid, pending["t"])
            return
        if pending is not None:  # a callback they asked for is pending: they hold on the line now, at its place
            script = self.w.flow.pending_choice(pending["t"], CallEvent(sid, CallStatus.IN_PROGRESS, digits="3"))
        ticket = self.stores.tickets.find_by_call(sid)
        assert ticket is not None
        tid = ticket.id
        self.clock.after(c.patience, lambda: self.hang_up(sid, tid))
        if offers(script, "offer"):
            self.decide(sid, tid, "offer")
        else:
            self.clock.after(POLL_SECONDS, lambda: self.poll(sid, tid))

    def decide(self, sid: str, tid: str, step: str) -> None:
        rec = self.by_sid[sid]
        if self.policy in PEERS:
            return  # the peers make no offer (Holdfast's flow still offers one when nobody is signed in)
        if rec.caller.u_accept >= self.s.accept or rec.ended_at is not None or rec.answered_at is not None:
            return
        if rec.caller.patience < self.now() - rec.start + LISTEN_TO_OFFER:
            return  # gone before the offer was over
        # the same draw decides (common random numbers): its lowest part chooses a time
        choose = (step == "offer" and rec.caller.u_accept < self.s.accept * self.s.choose_time
                  and self.queue.scheduled_callbacks is not None)
        rec.caller.u_accept = 1.0  # decided once: a caller who pressed 1 does not press it again
        self.clock.after(LISTEN_TO_OFFER, lambda: self.press_one(sid, tid, step, choose))

    def press_one(self, sid: str, tid: str, step: str, choose: bool = False) -> None:
        rec = self.by_sid[sid]
        if rec.ended_at is not None or rec.answered_at is not None:
            return
        flow, event = self.w.flow, CallEvent(sid, CallStatus.IN_PROGRESS, digits="1")
        if choose:  # press 2, confirm the number, take the first time offered
            flow.offer(tid, CallEvent(sid, CallStatus.IN_PROGRESS, digits="2"))
            times = step_of(flow.confirm(tid, event, choose=True), "slot")
            if times is not None:
                flow.slot(tid, event, times["o"])
        elif step == "offer":
            flow.offer(tid, event)
        else:
            flow.wait_offer(tid, event)
            flow.queue_exit(tid, CallEvent(sid, CallStatus.IN_PROGRESS, queue_result=QueueResult.LEAVE))
        if not choose:
            flow.confirm(tid, event)
        ticket = self.stores.tickets.get(tid)
        if ticket.kind is not TicketKind.CALLBACK:
            return  # refused, no time left (or bridged meanwhile): the caller holds on
        rec.ended_at, rec.chose_callback, rec.scheduled = self.now(), True, ticket.slot is not None
        self.last_missed[rec.caller.number] = rec
        # the time the caller was just told ("within N minutes", or a time of day), as Holdfast recorded it
        promised = guard.promised_at(ticket)
        rec.promise = None if promised is None else (promised - self.epoch).total_seconds()
        if rec.scheduled and self.chosen is not None:
            self.chosen.chose(rec, ticket)  # they may call again to move or cancel it

    def poll(self, sid: str, tid: str) -> None:
        rec = self.by_sid[sid]
        if rec.ended_at is not None or rec.answered_at is not None:
            return
        script = self.w.flow.wait(tid, CallEvent(sid, CallStatus.IN_PROGRESS, queue_seconds=int(self.now() - rec.start)))
        if offers(script, "wait-offer"):
            self.decide(sid, tid, "wait-offer")
        self.clock.after(POLL_SECONDS, lambda: self.poll(sid, tid))

    def hang_up(self, sid: str, tid: str) -> None:
        rec = self.by_sid[sid]
        if rec.ended_at is not None or rec.answered_at is not None:
            return
        rec.ended_at = self.now()
        self.last_missed[rec.caller.number] = rec
        self.w.flow.queue_exit(tid, CallEvent(sid, CallStatus.COMPLETED, queue_result=QueueResult.HANGUP))
        waited = rec.ended_at - rec.start
        c = rec.caller
        if not rec.repeat and c.u_redial < self.s.redial:
            self.clock.after(c.redial_after, lambda: self.call_again(c))
        if waited >= self.queue.short_abandon_seconds and self.policy != "none" and self.policy in PEERS:
            self.missed(c)

    def call_again(self, c: Caller) -> None:
        if self.talked_since(c, self.now() - c.redial_after) or not self.queue.hours.is_open(self.clock.now()):
            return
        self.arrive(c, repeat=True)

    def talked_since(self, c: Caller, since: float) -> bool:
        return any(t >= since for t in self.talked.get(c.number, ()))

    def reached_since(self, c: Caller, since: float) -> bool:
        return any(t >= since for t in self.reached.get(c.number, ()))

    # --- the live line: bridged by Holdfast's dispatcher ----------------------------------------

    def bridged(self, call_id: str, script: Script) -> None:
        rec = self.by_sid[call_id]
        if rec.ended_at is not None:
            raise CallGoneError("caller hung up")
        dial = next(v for v in script.verbs if isinstance(v, Dial))
        params = dict(dial.action.params) if dial.action else {}
        rec.answered_at = self.now()
        self.talked.setdefault(rec.caller.number, []).append(self.now())
        busy = AGENT_PICKUP + rec.caller.talk + self.s.wrap
        self.add_busy(busy)

        def done() -> None:
            agent_id, dispatcher = params["agent"], self.w.dispatcher
            if not self.pending:
                dispatcher.bridge_result(params["t"], agent_id, answered=True, talk_seconds=rec.caller.talk)
                return
            # a peer's callback waiting for a free line takes this agent before the line does
            dispatcher.agent_event(agent_id, AgentStatus.BUSY)
            dispatcher.bridge_result(params["t"], agent_id, answered=True, talk_seconds=rec.caller.talk)
            if not self.agent_free(agent_id):
                dispatcher.agent_event(agent_id, AgentStatus.AVAILABLE)

        self.clock.after(busy, done)

    # --- callbacks ------------------------------------------------------------------------------

    def person_answers(self, c: Caller, attempt: int, delay: float) -> str:
        """'person', 'machine' or 'no-answer' for this caller's attempt."""
        k = min(attempt, len(c.u_answer) - 1)
        if c.u_answer[k] < answer_probability(self.s, delay):
            return "person"
        return "machine" if c.u_machine[k] < self.s.machine else "no-answer"

    def delay_for(self, number: str) -> tuple[Caller, float]:
        """How late a callback to this number is: after the promise, or after the call ended."""
        c = self.callers[number]
        last = self.last_missed.get(number)
        if last is None:
            return c, 0.0
        base = last.promise if last.promise is not None and self.s.answer_late_from == "promise" else last.ended_at
        return c, self.now() - (base or self.now())

    def attempt_count(self, number: str) -> int:
        return len(self.dialed.get(number, ()))

    def note_dial(self, number: str) -> None:
        self.dialed.setdefault(number, []).append(self.now())

    def note_reached(self, c: Caller) -> None:
        self.reached.setdefault(c.number, []).append(self.now())
        self.talked.setdefault(c.number, []).append(self.now())

    # peers: the agent is taken 'busy by their own word', dials, and is made available again after

    def missed(self, c: Caller) -> None:
        since = self.now()
        if self.policy == "unitalk":
            self.pending.append((since, since + UNITALK_WINDOW, c))
            self.take_idle()
            return
        for k, offset in enumerate(COMAGIC_OFFSETS):
            self.clock.after(offset, lambda k=k: self.comagic_attempt(c, since, k))

    def take_idle(self) -> None:
        idle = self.stores.agents.idle_agents(self.queue.id)
        while idle and self.pending:
            if not self.agent_free_idle(idle.pop(0).id):
                return

    def agent_free_idle(self, agent_id: str) -> bool:
        self.w.dispatcher.agent_event(agent_id, AgentStatus.BUSY)
        if self.agent_free(agent_id):
            return True
        self.w.dispatcher.agent_event(agent_id, AgentStatus.AVAILABLE)
        return False

    def comagic_attempt(self, c: Caller, since: float, k: int) -> None:
        if self.reached_since(c, since) or self.talked_since(c, since):
            return
        if not self.queue.hours.is_open(self.clock.now()):
            return
        if self.policy == "comagic_waiting":
            due = COMAGIC_OFFSETS[k + 1] - COMAGIC_OFFSETS[k] if k + 1 < len(COMAGIC_OFFSETS) else 300.0
            self.pending = [p for p in self.pending if p[2] is not c]  # the earlier attempt's wait ends
            self.pending.append((since, self.now() + due, c))
            self.take_idle()
            return
        idle = self.stores.agents.idle_agents(self.queue.id)
        if idle:
            self.w.dispatcher.agent_event(idle[0].id, AgentStatus.BUSY)
            self.peer_dial(idle[0].id, c)

    def peer_dial(self, agent_id: str, c: Caller) -> None:
        self.note_dial(c.number)
        _, delay = self.delay_for(c.number)
        outcome = self.person_answers(c, self.attempt_count(c.number) - 1, delay)
        if outcome == "person":
            busy = AGENT_PICKUP + RING + c.talk + self.s.wrap
            self.clock.after(AGENT_PICKUP + RING, lambda: self.note_reached(c))
        elif outcome == "machine":
            busy = AGENT_PICKUP + MACHINE_RING + MACHINE_TALK
        else:
            busy = AGENT_PICKUP + NO_ANSWER
        self.add_busy(busy)

        def done() -> None:
            if not self.agent_free(agent_id):
                self.w.dispatcher.agent_event(agent_id, AgentStatus.AVAILABLE if self.queue.hours.is_open(
                    self.clock.now()) else AgentStatus.OFFLINE)

        self.clock.after(busy, done)

    # --- metrics -------------------------------------------------------------------------------

    def day_metrics(self) -> list[dict[str, float]]:
        return [measures(self, day) for day in range(self.days)]


def offers(script: Script, step: str) -> bool:
    """Does this script offer 'press 1' (a Gather for the offer step that says so)?"""
    return any(isinstance(v, Gather) and v.action.name == step
               and any(isinstance(p, Say) and "press 1" in p.text for p in v.prompts) for v in script.verbs)


class Phone(Dialer):
    """The simulated network's side of Holdfast's Dialer: bridges live calls, places callback legs and
    posts their webhooks back to Callbacks (agent-first: the agent answers, then the customer rings)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.n = 0
        self.placed: list[str] = []

    def redirect(self, call_id: str, script: Script) -> None:
        self.sim.bridged(call_id, script)

    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int, verdict: Step | None = None) -> str:
        sim = self.sim
        self.n += 1
        params = dict(answer.params)
        tid, did = params["t"], params["d"]
        call = f"CAout{self.n}"
        self.placed.append(call)
        cb = sim.w.callbacks

        def agent_answers() -> None:
            script = cb.answered(tid, did, CallEvent(call, CallStatus.IN_PROGRESS))
            dial = next((v for v in script.verbs if isinstance(v, Dial)), None)
            if dial is None:
                return
            number = dial.target
            c, delay = sim.delay_for(number)
            sim.note_dial(number)
            outcome = sim.person_answers(c, sim.attempt_count(number) - 1, delay)
            if outcome == "person":
                sim.clock.after(RING, lambda: sim.note_reached(c))
                ring, talk, status = RING, c.talk, "completed"
            elif outcome == "machine":  # agent-first has no machine detection: the agent hears voicemail
                ring, talk, status = MACHINE_RING, MACHINE_TALK, "completed"
            else:
                ring, talk, status = NO_ANSWER, 0.0, "no-answer"
            sim.add_busy(AGENT_PICKUP + ring + talk + (sim.s.wrap if status == "completed" else 0))
            outcome_of_dial = {"dial_status": CallStatus(status), "dial_seconds": float(int(talk))}

            def ended() -> None:
                cb.dialed(tid, did, CallEvent(call, CallStatus.IN_PROGRESS, **outcome_of_dial))
                if status == "completed":  # wrap-up, then the agent's leg ends and frees the agent
                    sim.clock.after(sim.s.wrap, lambda: cb.call_status(tid, did, CallEvent(call, CallStatus.COMPLETED)))
                else:
                    cb.call_status(tid, did, CallEvent(call, CallStatus.COMPLETED))

            sim.clock.after(ring + talk, ended)

        sim.clock.after(AGENT_PICKUP, agent_answers)
        return call


def run(s: Scenario, policy: str, days: int, seed: int) -> list[dict[str, float]]:
    return Sim(s, policy, days, seed).run().day_metrics()


def with_queue(s: Scenario, **settings: Any) -> Scenario:
    return replace(s, queue={**s.queue, **settings})


Runner = Callable[[Scenario, str, int, int], list[dict[str, float]]]
