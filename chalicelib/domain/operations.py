"""The operations console's use cases: live monitor, lost-call work list, reports, staffing advice.

Plain Python over the ports: the Stores (agents, lost calls, opt-outs) and the OperationsLog
(half-hour report rows and the board of open tickets, both fed by `observe` as tickets change)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from ..ports import DEFAULT_PAGE, BoardEntry, Clock, EventBus, OperationsLog, Orchestrator, Page, Stores
from . import agent_time, forecast, learning, reports, staffing
from .floor import Floor, day_bounds, on_clock
from .callflow import CallFlow
from .pacing import Pacer
from .errors import HoldfastError, NumberNotAllowedError, OrchestratorError, TicketNotFoundError, UnknownQueueError
from .model import OPEN_STATUSES, Agent, Ticket, TicketKind, TicketStatus, split_ticket_id
from .phone import NumberPolicy, masked
from .queues import QueueConfig, QueueDirectory
from .retry import next_slot, recovery_deadline

log = logging.getLogger(__name__)

HISTORY_DAYS = 35  # the forecast's four weeks back, for every half hour of the last week's error too
STRANDED_AFTER = timedelta(seconds=60)  # a callback's start never takes this long unless it failed
BOARD_RECOUNT = 100  # board entries and waiting tickets the minute sweep recounts per queue


def _dialable(policy: NumberPolicy, number: str | None) -> bool:
    try:
        policy.accept(number)
    except NumberNotAllowedError:
        return False
    return True


def _spoken(value: datetime, zone: tzinfo) -> str:
    """A time for people on the queue's clock: 'Tue 18 Nov 08:00 PST'."""
    local = value.astimezone(zone)
    return f"{local:%a %d %b %H:%M} {local:%Z}"


def board_entry(ticket: Ticket) -> BoardEntry:
    told = ticket.told_shape * ticket.told_scale if ticket.told_shape and ticket.told_scale else None
    return BoardEntry(ticket.id, ticket.queue_id, ticket.number, ticket.kind.value, ticket.status.value,
                      ticket.priority, ticket.created_at, masked(ticket.callback_number or ticket.caller),
                      ticket.dials, ticket.not_before, ticket.next_attempt_at, ticket.agent_id, told,
                      ticket.lost_cause, ticket.leg, ticket.leg_at, ticket.answered_at)


def callback_plan(ticket: Ticket) -> str:
    """What is being done about a lost call, in words for people."""
    if ticket.kind is not TicketKind.CALLBACK:
        return "no callback"
    return {"SCHEDULED": "scheduled", "WAITING": "waiting for an agent", "CONNECTING": "dialing",
            "LOST": "attempts ran out: call them", "CANCELLED": "cancelled"}.get(ticket.status.value, "")


class CallBackRefusedError(HoldfastError):
    """"Call back now" may not call this number now; nothing was changed. `reason` is one of
    not_dialable, opted_out, closed, calling_window, rate_limited, budget_spent, no_callback;
    `when` is when it will be called instead (its pending callback's time), or may be at the earliest."""

    def __init__(self, reason: str, message: str, when: datetime | None = None) -> None:
        super().__init__(message)
        self.reason, self.when = reason, when


@dataclass(frozen=True)
class CallBackNow:
    """What "call back now" did: `due_now` (a scheduled callback moved to now), `booked` (a new
    callback, due now), `already_due` (waiting in line for an agent), `dialing`."""

    result: str
    ticket: str
    message: str


@dataclass(frozen=True)
class Observed:
    """What one ticket transition added to the reports (for metrics)."""

    queue_id: str
    counts: dict[str, float]


class Operations:
    def __init__(self, stores: Stores, oplog: OperationsLog, queues: QueueDirectory, clock: Clock,
                 orchestrator: Orchestrator, flow: CallFlow | None = None, pacer: Pacer | None = None,
                 bus: EventBus | None = None) -> None:
        # The bundle, kept as the roles this uses (the line: the board's recount).
        self.tickets, self.agents, self.lost, self.line = stores.tickets, stores.agents, stores.lost, stores.line
        self.bookings, self.dialing, self.stats = stores.bookings, stores.dialing, stores.stats
        self.flow = flow  # books callbacks for "call back now" (the call flow's own path)
        self.pacer = pacer  # the dialing account's outbound pace: its backlog and calls per second
        self.orchestrator = orchestrator
        self.oplog = oplog
        self.queues = queues
        self.clock = clock
        self.floor = Floor(stores.agents, oplog, queues, clock, bus)

    # --- fed by ticket transitions ---------------------------------------------------------

    def observe(self, old: Ticket | None, new: Ticket) -> Observed:
        """One ticket transition (as the table's stream delivers it): report rows and the board.
        Safe to repeat: each fact is recorded once; the board holds the latest image."""
        queue = self.queues.get(new.queue_id)
        added: dict[str, float] = {}
        tolerance = queue.scheduled_callbacks.tolerance_seconds if queue.scheduled_callbacks else 0
        for fact in reports.facts(old, new, queue.short_abandon_seconds, queue.hours.zone, tolerance):
            if self.oplog.record(fact.id, fact.queue_id, fact.bucket, fact.counts, fact.minute):
                reports.add_counts(added, fact.counts)
        if new.status in OPEN_STATUSES:
            self.oplog.board_put(board_entry(new))
        else:
            self.oplog.board_remove(new.queue_id, new.id)
        return Observed(new.queue_id, added)

    def reconcile_board(self, queue_id: str, limit: int = BOARD_RECOUNT) -> int:
        """The live board recounted from the tickets (the minute sweep), at most `limit` of each kind:
        entries whose ticket has moved on since, and the first tickets of the line missing from it (what
        a stream record given up on left behind). Returns how many entries it corrected."""
        board = {entry.ticket_id: entry for entry in self.oplog.board(queue_id)}
        truth: dict[str, Ticket | None] = {t.id: t for t in self.line.first_waiting(queue_id, limit)}
        for ticket_id in list(board)[:limit]:
            if ticket_id not in truth:
                try:
                    truth[ticket_id] = self.tickets.get(ticket_id)
                except TicketNotFoundError:
                    truth[ticket_id] = None
        fixed = 0
        for ticket_id, ticket in truth.items():
            if ticket is None or ticket.status not in OPEN_STATUSES:
                if ticket_id in board:
                    self.oplog.board_remove(queue_id, ticket_id)
                    fixed += 1
            elif board.get(ticket_id) != board_entry(ticket):
                self.oplog.board_put(board_entry(ticket))
                fixed += 1
        return fixed

    def observe_agent(self, old: Agent | None, new: Agent) -> None:
        """One agent change (the table's stream): the time spent in the old state, once, into the rows
        of each of the agent's queues (domain/agent_time.py); the state's duration into their estimators."""
        zones = {q: self.queues.get(q).hours.zone for q in (old.queues if old else ()) if self._known(q)}
        for fact in agent_time.facts(old, new, zones):
            self.oplog.record(fact.id, fact.queue_id, fact.bucket, fact.counts)
        learning.state_ended(self.stats, self.queues, old, new)  # how long away, wrap-up, own calls last

    def _known(self, queue_id: str) -> bool:
        try:
            self.queues.get(queue_id)
        except UnknownQueueError:
            return False  # a queue since removed from the configuration: nothing to report into
        return True

    # --- live monitor, wallboard, alerts (domain/floor.py) -----------------------------------------

    def today(self, queue: QueueConfig) -> date:
        return self.floor.today(queue)

    def monitor(self, queue_id: str) -> dict[str, Any]:
        monitor = self.floor.monitor(queue_id)
        monitor["dialing"] = None if self.pacer is None else {
            "account": self.pacer.account, "backlog": self.pacer.pace.backlog(self.pacer.account),
            "calls_per_second": self.pacer.rate}
        return monitor

    def wallboard(self) -> dict[str, Any]:
        return self.floor.wallboard()

    def watch(self) -> int:
        return self.floor.watch()

    # --- lost-call work list -----------------------------------------------------------------

    def lost_calls(self, queue_id: str, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> Page[dict[str, Any]]:
        """One page of the queue's work list, oldest first (`next` follows on; BadPageError for a bad cursor).
        Times on the queue's clock. A row offers "call back now" only for a number the queue's number
        policy may dial and that has not opted out (what the rules still say about the hour is said
        on the click, with when instead); an opted-out row says so and offers nothing to do."""
        queue = self.queues.get(queue_id)
        zone = queue.hours.zone
        policy = NumberPolicy(queue.allowed_countries, queue.default_region)
        now = self.clock.now()
        page = self.lost.lost_calls(queue_id, limit=limit, cursor=cursor)
        numbers = {t.id: t.callback_number or t.caller for t in page.items}
        opted = self.bookings.opted_out({n for n in numbers.values() if n})
        out = []
        for t in page.items:
            number = numbers[t.id]
            opted_out = bool(number) and number in opted
            pending = t.kind is TicketKind.CALLBACK and t.status in (TicketStatus.SCHEDULED, TicketStatus.WAITING)
            out.append({"ticket": t.id, "queue": t.queue_id, "number": masked(number),
                        "cause": t.lost_cause, "lost_at": on_clock(t.lost_at, zone),
                        "waited_seconds": round(t.wait_seconds) if t.wait_seconds is not None else None,
                        "since_seconds": round((now - t.lost_at).total_seconds()) if t.lost_at else None,
                        "callback": "opted out: never called back automatically" if opted_out else callback_plan(t),
                        "attempts": t.dials, "last_outcome": t.last_outcome,
                        "next_attempt": on_clock(t.next_attempt_at or t.not_before, zone)
                        if t.status is TicketStatus.SCHEDULED and not opted_out else None,
                        "opted_out": opted_out, "dialable": _dialable(policy, number),
                        "can_opt_out": bool(number) and not opted_out,
                        "can_call_back": (not opted_out and _dialable(policy, number)
                                          and t.status is not TicketStatus.CONNECTING),
                        "can_stop": pending and not opted_out})
        return Page(out, page.next)

    def _lost_ticket(self, ticket_id: str) -> Ticket:
        split_ticket_id(ticket_id)  # malformed ids are refused before any read
        ticket = self.tickets.get(ticket_id)
        if not ticket.lost_cause:
            raise TicketNotFoundError(f"{ticket_id} is not on the lost-call list")
        return ticket

    def reveal(self, ticket_id: str, who: str) -> str:
        """The whole number of a lost call, for an admin who asked; logged (without the number)."""
        ticket = self._lost_ticket(ticket_id)
        number = ticket.callback_number or ticket.caller or ""
        log.warning("number revealed", extra={"ticket": ticket.id, "session": who})
        return number

    def opt_out(self, ticket_id: str, who: str) -> str:
        """The lost caller's number is never called back automatically again (press 1 still works)."""
        ticket = self._lost_ticket(ticket_id)
        number = ticket.callback_number or ticket.caller
        if not number:
            raise TicketNotFoundError(f"{ticket_id} has no number")
        self.bookings.set_opt_out(number, True, self.clock.now())
        log.info("number opted out from the console", extra={"ticket": ticket.id, "session": who})
        return masked(number)

    def scheduled(self, queue_id: str) -> list[dict[str, object]]:
        """Scheduled callbacks by slot, the next ones first: capacity, booked, left (issue 27)."""
        if self.flow is None:
            return []
        queue = self.queues.get(queue_id)
        return [{"slot": s.key, "start": s.start.isoformat(), "capacity": s.capacity, "booked": s.booked,
                 "left": s.left} for s in self.flow.slots.schedule(queue)]

    def stop_calling(self, ticket_id: str, who: str) -> bool:
        """No more callback attempts for this lost call. Its workflow is stopped; if it runs on, its
        next Park finds the ticket closed and ends. False if it was not a pending callback."""
        ticket = self._lost_ticket(ticket_id)
        if not self.dialing.cancel_callback(ticket.id, self.clock.now(), slot=ticket.slot):
            return False
        if ticket.execution_id:
            try:
                self.orchestrator.stop(ticket.execution_id)
            except OrchestratorError:
                log.warning("could not stop the callback's workflow; its next step closes it",
                            extra={"ticket": ticket.id})
        log.info("callback stopped from the console", extra={"ticket": ticket.id, "session": who})
        return True

    def call_back_now(self, ticket_id: str, who: str) -> CallBackNow:
        """Make the lost call's pending callback due at once, inside the rules (business hours, the
        callee's calling window, the number policy, opt-outs); book one if none is pending (the
        allowance and budget apply). Refusals raise CallBackRefusedError and change nothing."""
        lost = self._lost_ticket(ticket_id)
        queue = self.queues.get(lost.queue_id)
        try:
            number = NumberPolicy(queue.allowed_countries, queue.default_region).accept(
                lost.callback_number or lost.pending_number or lost.caller)
        except NumberNotAllowedError:
            raise CallBackRefusedError("not_dialable", "this number may not be called (number policy)") from None
        if self.bookings.is_opted_out(number):
            raise CallBackRefusedError("opted_out", "the caller opted out: only the caller can ask to be "
                                                    "called again (pressing 1 on their next call)")
        pending = lost if lost.kind is TicketKind.CALLBACK and lost.status in (
            TicketStatus.SCHEDULED, TicketStatus.WAITING, TicketStatus.CONNECTING) \
            else self.bookings.open_callback_for(queue.id, number)
        now = self.clock.now()
        due = (pending.next_attempt_at or pending.not_before) if pending is not None else None
        # A scheduled callback that has had no execution for a while lost its start (the orchestrator
        # failed): start one. A younger one is being started by whoever booked it (or by another click).
        stranded = (pending is not None and pending.status is TicketStatus.SCHEDULED and not pending.execution_id
                    and (due is None or due <= now - STRANDED_AFTER))
        if pending is not None and not stranded and (pending.status is not TicketStatus.SCHEDULED
                                                     or (due is not None and due <= now)):
            return self._already(pending)
        slot = next_slot(queue, number, now)
        if slot != now:
            later = due if pending is not None else slot
            reason = "closed" if not queue.hours.is_open(now) else "calling_window"
            why = "we are closed now" if reason == "closed" else "it is outside the callee's calling hours"
            zone = queue.hours.zone
            when = f"it will be called at {_spoken(later, zone)}" if pending is not None and later else (
                f"nothing was booked; the earliest is {_spoken(later, zone)}" if later else "nothing was booked")
            raise CallBackRefusedError(reason, f"not now: {why}; {when}", later)
        if pending is not None:
            return self._expedite(queue, pending, now, who)
        return self._book_now(lost, number, who)

    @staticmethod
    def _already(ticket: Ticket) -> CallBackNow:
        if ticket.status is TicketStatus.CONNECTING:
            return CallBackNow("dialing", ticket.id, "being dialed now")
        return CallBackNow("already_due", ticket.id, "already due: waiting in line for the next free agent")

    def _expedite(self, queue: QueueConfig, ticket: Ticket, now: datetime, who: str) -> CallBackNow:
        """A scheduled callback waits in its workflow's Wait, which cannot be woken: one conditional
        write moves it to now under a new booking (two admins at once: one wins), then the old
        execution is stopped and a new one, named by the booking, starts due now."""
        booking = self.dialing.expedite_callback(ticket.id, ticket.execution_id, now)
        if booking is None:
            return self._already(self.tickets.get(ticket.id))
        if ticket.execution_id:
            try:
                self.orchestrator.stop(ticket.execution_id)
            except OrchestratorError:  # if it runs on, its Park finds the ticket WAITING and takes over
                log.warning("could not stop the scheduled callback's workflow", extra={"ticket": ticket.id})
        # the attempt it was scheduled as (never past the queue's last)
        attempt = min(ticket.attempts + 1, len(queue.retry_delays_seconds))
        execution_id = self.orchestrator.start(f"{ticket.id}-{booking}", CallFlow.workflow_input(
            queue, ticket, now, attempt, recovery_deadline(queue, ticket.evolve(not_before=now))))
        self.tickets.set_execution(ticket.id, execution_id)
        log.info("callback made due now from the console", extra={"ticket": ticket.id, "session": who})
        return CallBackNow("due_now", ticket.id, "due now: it takes its place in line for the next free agent")

    def _book_now(self, lost: Ticket, number: str, who: str) -> CallBackNow:
        if self.flow is None:
            raise CallBackRefusedError("no_callback", "callbacks cannot be booked here")
        refused = self.flow.book_now(lost, number)
        if refused is not None:
            why = {"rate_limited": "this number has had its callbacks for today",
                   "budget_spent": "today's callback budget is spent"}.get(refused.value, refused.value)
            raise CallBackRefusedError(refused.value, f"not booked: {why}")
        booked = self.bookings.open_callback_for(lost.queue_id, number)
        if booked is None:
            raise CallBackRefusedError("no_callback", "not booked")
        log.info("callback booked from the console", extra={"ticket": booked.id, "lost": lost.id, "session": who})
        return CallBackNow("booked", booked.id, f"booked as {booked.id}, due now")

    # --- reports and staffing -----------------------------------------------------------------

    def report(self, queue_id: str, first: date, last: date, target_seconds: int | None = None) -> reports.Report:
        """The queue's days first..last on its own clock, half hour by half hour of its zone."""
        queue = self.queues.get(queue_id)
        start = day_bounds(queue.hours.zone, first)[0]
        end = day_bounds(queue.hours.zone, last)[1]
        return reports.build_report(queue_id, start, end, self.oplog.rows(queue_id, start, end),
                                    target_seconds or queue.service_target_seconds, queue.hours.tz)

    def staffing(self, queue_id: str, target_seconds: int | None = None) -> dict[str, Any]:
        """Looking ahead: for each half hour of the rest of today and all of tomorrow (the queue's
        clock), the arrivals the queue's history forecasts (domain/forecast.py), the agents Erlang A
        (and, for comparison, Erlang C) says the goals need, beside the roster and, for the half hour
        under way, those signed in. The method's error over the last week's completed half hours is
        given with it. History is completed half hours only: the current one is still filling."""
        queue = self.queues.get(queue_id)
        zone = queue.hours.zone
        target = target_seconds or queue.service_target_seconds
        now = self.clock.now()
        estimator = learning.current(self.stats, queue)
        handle = 1 / estimator.mu if estimator.mu > 0 else queue.average_handle_seconds
        patience = 1 / estimator.theta if estimator.theta > 0 else queue.average_patience_seconds
        today = self.today(queue)
        current = reports.bucket_start(reports.bucket_of(now, zone))  # the half hour under way
        history_start = day_bounds(zone, today - timedelta(days=HISTORY_DAYS))[0]
        rows = self.oplog.rows(queue_id, history_start, current)
        arrivals = {reports.bucket_start(b): r.get("offered", 0) - r.get("after_hours", 0) for b, r in rows.items()}
        first = day_bounds(zone, min(arrivals).astimezone(zone).date())[0] if arrivals else current
        method = forecast.Forecaster(arrivals, zone, first, current)
        ahead = forecast.half_hours(now, day_bounds(zone, today + timedelta(days=1))[1], zone)
        signed_in = self.agents.staffing(queue_id).staffed
        needed: dict[float, tuple[int, int]] = {}
        out = []
        for slot in ahead:
            expected = method.forecast(slot)
            is_open = queue.hours.is_open(slot) or queue.hours.is_open(slot + reports.HALF_HOUR - timedelta(seconds=1))
            c_agents = a_agents = None
            if expected is not None and is_open:
                key = round(expected, 2)
                if key not in needed:
                    needed[key] = staffing.agents_needed(key / reports.HALF_HOUR.total_seconds(), handle, patience,
                                                         target, queue.service_level_goal, queue.abandon_goal)
                c_agents, a_agents = needed[key]
            out.append({"start": on_clock(slot, zone), "open": is_open,
                        "arrivals": round(expected, 1) if expected is not None else None,
                        "erlang_a_agents": a_agents, "erlang_c_agents": c_agents,
                        "roster": queue.roster.agents_at(slot) if queue.roster else None,
                        "signed_in": signed_in if slot == current else None, "now": slot == current})
        past_today = forecast.half_hours(day_bounds(zone, today)[0], current, zone)
        week = forecast.half_hours(current - timedelta(days=7), current, zone)
        return {"queue": queue_id, "zone": queue.hours.tz, "at": on_clock(now, zone), "target_seconds": target,
                "service_goal": queue.service_level_goal, "abandon_goal": queue.abandon_goal,
                "handle_seconds": round(handle, 1), "patience_seconds": round(patience, 1),
                "learned": bool(estimator.mu > 0), "method": forecast.METHOD,
                "history_from": on_clock(first, zone) if arrivals else None,
                "error": method.error(week).as_json(),
                "today_so_far": [{"start": on_clock(s, zone), "forecast": _round(method.forecast(s)),
                                  "actual": method.actual(s)} for s in past_today],
                "rows": out}


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None
