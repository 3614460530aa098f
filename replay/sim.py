"""The log replayed through the day simulator (bench/daysim.py): its arrivals at their times, its callers
calling again as they did, its staffing, and each caller's patience as the log shows it, met by
Holdfast's own code (or a peer policy, or no callback) in virtual time.

What the log cannot say is drawn, per caller and seed, the same for every policy (common random
numbers): the patience of a caller the log saw answered (or put out) is drawn beyond the wait they had,
from the log's own patience curve; the talk time of a caller the log never saw answered is one of the
log's talk times; whether they accept an offer and answer a callback follows the caller model
(daysim.Scenario, docs/replay.md); a caller the log saw answered but the replay did not may call again,
as often and as soon as the log's missed callers did.

One ReplaySim runs one segment of days: it starts a warm-up before the days it counts (the line and the
estimator fill up as they would have) and runs a cool-down after them (callbacks of the last counted
days are made, with the next days' calls competing for agents)."""
from __future__ import annotations

import logging
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

from bench.daysim import PEERS, QUEUE_NUMBER, Caller, Scenario, Sim, measures
from chalicelib.domain.errors import NumberNotAllowedError
from chalicelib.domain.model import AgentStatus
from chalicelib.domain.phone import NumberPolicy

from .analysis import REDIAL_WINDOW, SHORT_ABANDON, Profile
from .load import ImportedLog
from .records import Call, Presence, Record

MAX_PATIENCE = 6 * 3600.0  # a drawn patience past this holds until answered (the line empties by then)
ENGAGED = 600.0  # beyond the longest talk and wrap-up: an agent signed off mid-call is free again by then
REDIAL_DEFAULT = 1800.0


@dataclass(frozen=True)
class CallerModel:
    """The unknowns' model (stated on the report's page): daysim's defaults."""

    accept: float = 0.37  # presses 1 when offered
    answer_now: float = 0.80  # a person answers a callback that comes at once ...
    answer_floor: float = 0.30  # ... decaying towards this ...
    answer_tau: float = 2400.0  # ... with this time constant (s) of how late it is
    machine: float = 0.2  # unanswered callbacks taken by an answering machine


@dataclass(frozen=True)
class Segment:
    """Simulated from `start` to `end` (local midnights); counted from `first` to `last` inclusive."""

    start: date
    first: date
    last: date
    end: date


@dataclass
class Setup:
    """What every run of one log shares (sent whole to the worker processes)."""

    log: ImportedLog
    profile: Profile
    base_queue: dict[str, Any]  # the queue every policy shares (hours, prior, short abandons...)
    holdfast: dict[str, Any]  # Holdfast's own settings on top
    model: CallerModel = field(default_factory=CallerModel)
    seeds: dict[date, dict[str, Any]] = field(default_factory=dict)  # the estimator's state at a segment's start


def base_queue(profile_settings: dict[str, Any], given: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the queue every policy runs with, Holdfast's settings over it). The log's hours and prior unless
    the queue file gives them; its callback settings are Holdfast's alone (peers run without)."""
    given = dict(given or {})
    for key in ("id", "name", "numbers"):
        given.pop(key, None)
    base = {"id": "replay", "numbers": [QUEUE_NUMBER], "short_abandon_seconds": int(SHORT_ABANDON),
            "max_callbacks_per_number_per_day": 3, "hours": profile_settings["hours"]}
    for key in ("average_handle_seconds", "average_patience_seconds"):
        if key in profile_settings:
            base[key] = profile_settings[key]
    for key in ("hours", "average_handle_seconds", "average_patience_seconds", "short_abandon_seconds",
                "allowed_countries", "default_region"):
        if key in given:
            base[key] = given.pop(key)
    return base, given


class ReplaySim(Sim):
    def __init__(self, setup: Setup, policy: str, seed: int, segment: Segment) -> None:
        self.setup, self.segment, self.log, self.prof = setup, segment, setup.log, setup.profile
        zone = ZoneInfo(self.log.tz)
        self.zone = zone
        self.epoch = datetime.combine(segment.start, datetime.min.time(), tzinfo=zone).astimezone(timezone.utc)
        self.base_queue = setup.base_queue
        self.bounds = [self._midnight(segment.start + timedelta(days=k))
                       for k in range((segment.end - segment.start).days + 1)]
        m = setup.model
        scenario = Scenario("replay", agents=0, accept=m.accept, answer_now=m.answer_now,
                            answer_floor=m.answer_floor, answer_tau=m.answer_tau, machine=m.machine,
                            redial=self.prof.redial_share, wrap=self.prof.wrap, queue=setup.holdfast)
        super().__init__(scenario, policy, len(self.bounds) - 1, seed)
        self.numbers = NumberPolicy(self.queue.allowed_countries, self.queue.default_region)
        self.dialable: dict[str, str] = {}  # the log's caller -> the number the replay gives them
        self.withheld: set[str] = set()
        self.log_missed: dict[str, tuple[float, float]] = {}  # caller -> (their missed call's end, its sim start)
        self.skipped_repeats = 0  # log calls not made: the caller had talked to an agent by then
        self.on_slots: list[str] = []  # agent slots signed in
        self.free_slots: list[tuple[float, str]] = []  # (free from, slot) signed out
        self.retiring: set[str] = set()  # signed out during a call a peer placed
        self.slot_count = 0
        self.target = 0  # agents the log has signed in now
        self.log_on: set[str] = set()
        self.engaged = self.prof.max_talk + self.prof.wrap + ENGAGED
        self.talks = self.prof.talk.values or [540.0]
        self.delays = self.prof.redial_delays.values or [REDIAL_DEFAULT]
        self.records_it: Iterator[Record] | None = None
        self.n_calls = 0

    # --- time -----------------------------------------------------------------------------------

    def _midnight(self, day: date) -> float:
        return datetime.combine(day, datetime.min.time(), tzinfo=self.zone).timestamp()

    def sim_time(self, at: float) -> float:
        return at - self.epoch.timestamp()

    def day_of(self, t: float) -> int:
        """The local day (index from the segment's start) of a virtual time."""
        return max(0, bisect_right(self.bounds, t + self.epoch.timestamp()) - 1)

    def day_bounds(self, day: int) -> tuple[float, float]:
        return self.sim_time(self.bounds[day]), self.sim_time(self.bounds[day + 1])

    def staffed_seconds(self, day: int) -> float:
        truth = self.prof.days.get(self.segment.start + timedelta(days=day))
        return truth.staffed_seconds if truth else 0.0

    def add_busy(self, seconds: float) -> None:
        day = self.day_of(self.now())
        self.busy[day] = self.busy.get(day, 0.0) + seconds

    def counted_days(self) -> list[int]:
        return [(self.segment.first - self.segment.start).days + k
                for k in range((self.segment.last - self.segment.first).days + 1)]

    # --- driving --------------------------------------------------------------------------------

    def run(self) -> "ReplaySim":
        logging.disable(logging.WARNING)
        seed = self.setup.seeds.get(self.segment.start)
        if seed:
            self.stores.stats.update_queue_stats(self.queue.id, lambda state: {**(state or {}), **seed})
        self.log_on = set(self.log.on_at.get(self.segment.start, ()))  # signed in before the segment began
        self._staff(len(self.log_on))
        self.records_it = self.log.records(self.bounds[0], self.bounds[-1])
        self._feed()
        for k in range(1, len(self.bounds)):
            self.clock.at(datetime.fromtimestamp(self.bounds[k] - 1, timezone.utc), lambda: self.on_day())
        self.clock.run_until(datetime.fromtimestamp(self.bounds[-1], timezone.utc))
        logging.disable(logging.NOTSET)
        return self

    def _feed(self) -> None:
        assert self.records_it is not None
        record = next(self.records_it, None)
        if record is None:
            return
        at = record.arrived if isinstance(record, Call) else record.at
        self.clock.at(datetime.fromtimestamp(at, timezone.utc), lambda: self._fire(record))

    def _fire(self, record: Record) -> None:
        if isinstance(record, Presence):
            if record.on:
                self.log_on.add(record.agent)
            else:
                self.log_on.discard(record.agent)
            self._staff(len(self.log_on))
        else:
            self._call(record)
        self._feed()

    # --- callers --------------------------------------------------------------------------------

    def _call(self, call: Call) -> None:
        earlier = self.log_missed.pop(call.caller, None) if call.caller else None
        repeat = earlier is not None and call.arrived - earlier[0] <= REDIAL_WINDOW
        c = self._caller(call)
        if repeat and self.talked_since(c, earlier[1]):  # type: ignore[index]
            self.skipped_repeats += 1
            return
        if not call.outcome.served and call.caller:
            self.log_missed[call.caller] = (call.left, self.now())
        self.arrive(c, repeat=repeat)

    def _caller(self, call: Call) -> Caller:
        rng = random.Random(f"{self.seed}/{call.id}")  # the same draws whatever the policy
        if call.outcome.exact_patience:
            patience = call.wait
        else:
            patience = min(MAX_PATIENCE, self.prof.patience.draw_beyond(call.wait, rng.random()))
        talk = call.talk if call.outcome.served else rng.choice(self.talks)
        u_accept = rng.random()
        u_answer = [rng.random() for _ in range(8)]
        u_machine = [rng.random() for _ in range(8)]
        # the log says whether a missed caller called again (that call is in it); one it saw answered
        # may call again in the replay, as often and as soon as the log's missed callers did
        u_redial = rng.random() if call.outcome.served else 1.0
        redial_after = rng.choice(self.delays)
        self.n_calls += 1
        return Caller(self.n_calls, self._number(call.caller), self.now(), patience, talk,
                      u_accept, u_answer, u_machine, u_redial, redial_after)

    def _number(self, raw: str) -> str:
        """The caller's number if Holdfast may call it back, else a distinct number it may not (a
        premium-rate one): withheld callers stay apart and are never called back."""
        known = self.dialable.get(raw)
        if known is not None:
            return known
        try:
            number = self.numbers.accept(raw) if raw else None
        except NumberNotAllowedError:
            number = None
        if number is None:
            number = f"+1900{len(self.withheld) + 2_000_000:07d}"
            self.withheld.add(number)
        self.dialable[raw or f"withheld-{len(self.withheld)}"] = number
        return number

    def missed(self, c: Caller) -> None:
        if c.number not in self.withheld:  # a peer cannot call back a withheld number either
            super().missed(c)

    def poll(self, sid: str, tid: str) -> None:
        # A peer's queue never offers a callback: its hold announcements change nothing Holdfast
        # keeps (they only read the line and the estimate), so they are not simulated.
        if self.policy in PEERS and not self.queue.max_hold_seconds:
            return
        super().poll(sid, tid)

    # --- staffing: as many agents signed in as the log had --------------------------------------

    def _staff(self, target: int) -> None:
        self.target = target
        now = self.now()
        while len(self.on_slots) < target:
            self.free_slots.sort()
            if self.free_slots and self.free_slots[0][0] <= now:
                _, slot = self.free_slots.pop(0)
            else:
                slot = f"a{self.slot_count}"
                self.slot_count += 1
            self.retiring.discard(slot)
            self.on_slots.append(slot)
            self.w.dispatcher.agent_event(slot, AgentStatus.AVAILABLE, contact=f"client:{slot}",
                                          queues=(self.queue.id,))
        while len(self.on_slots) > target:
            agents = self.stores.agents
            idle = [s for s in self.on_slots if agents.get_agent(s).status is AgentStatus.AVAILABLE]
            slot = idle[0] if idle else self.on_slots[-1]
            self.on_slots.remove(slot)
            self.w.dispatcher.agent_event(slot, AgentStatus.OFFLINE)
            if idle:
                self.free_slots.append((now, slot))
            else:  # on a call: they finish it, and are not handed another
                self.retiring.add(slot)
                self.free_slots.append((now + self.engaged, slot))

    def agent_free(self, agent_id: str) -> bool:
        if agent_id in self.retiring:
            self.w.dispatcher.agent_event(agent_id, AgentStatus.OFFLINE)
            return True
        return super().agent_free(agent_id)

    # --- measures -------------------------------------------------------------------------------

    def results(self) -> list[tuple[date, dict[str, Any]]]:
        out = []
        for day in self.counted_days():
            m = measures(self, day) if any(True for _ in self._records_on(day)) else None
            if m is not None:
                out.append((self.segment.start + timedelta(days=day), m))
        return out

    def _records_on(self, day: int) -> Iterator[Any]:
        lo, hi = self.day_bounds(day)
        return (r for r in self.records if lo <= r.start < hi)


def segments(first: date, last: date, days: int, warm: int, cool: int) -> list[Segment]:
    out = []
    d = first
    while d <= last:
        end = min(last, d + timedelta(days=days - 1))
        out.append(Segment(max(first, d - timedelta(days=warm)), d, end, end + timedelta(days=cool + 1)))
        d = end + timedelta(days=1)
    return out


def run_segment(setup: Setup, policy: str, seed: int, segment: Segment,
                on_day: Callable[[ReplaySim], None] | None = None) -> tuple[list[tuple[date, dict[str, Any]]], int]:
    sim = ReplaySim(setup, policy, seed, segment)
    if on_day is not None:
        sim.on_day = lambda: on_day(sim)
    sim.run()
    return sim.results(), sim.skipped_repeats
