"""The operations console's use cases: live monitor, lost-call work list, reports, staffing advice.

Plain Python over the ports: the Stores (agents, lost calls, opt-outs) and the OperationsLog
(half-hour report rows and the board of open tickets, both fed by `observe` as tickets change)."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from ..ports import DEFAULT_PAGE, BoardEntry, Clock, OperationsLog, Orchestrator, Page, Stores
from . import learning, reports, staffing
from .callflow import CallFlow
from .errors import HoldfastError, NumberNotAllowedError, OrchestratorError, TicketNotFoundError
from .model import OPEN_STATUSES, AgentStatus, Ticket, TicketKind, TicketStatus, split_ticket_id
from .phone import NumberPolicy, masked
from .queues import QueueConfig, QueueDirectory
from .retry import next_slot

log = logging.getLogger(__name__)

SERVICE_GOAL = 0.8  # share answered within the target
ABANDON_GOAL = 0.05  # share abandoning
STRANDED_AFTER = timedelta(seconds=60)  # a callback's start never takes this long unless it failed


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def board_entry(ticket: Ticket) -> BoardEntry:
    told = ticket.told_shape * ticket.told_scale if ticket.told_shape and ticket.told_scale else None
    return BoardEntry(ticket.id, ticket.queue_id, ticket.number, ticket.kind.value, ticket.status.value,
                      ticket.priority, ticket.created_at, masked(ticket.callback_number or ticket.caller),
                      ticket.attempts, ticket.not_before, ticket.next_attempt_at, ticket.agent_id, told,
                      ticket.lost_cause, ticket.leg, ticket.leg_at)


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
                 orchestrator: Orchestrator, flow: CallFlow | None = None) -> None:
        # Every role but the line: the bundle, kept as the roles this uses.
        self.tickets, self.agents, self.lost = stores.tickets, stores.agents, stores.lost
        self.bookings, self.dialing, self.stats = stores.bookings, stores.dialing, stores.stats
        self.flow = flow  # books callbacks for "call back now" (the call flow's own path)
        self.orchestrator = orchestrator
        self.oplog = oplog
        self.queues = queues
        self.clock = clock

    # --- fed by ticket transitions ---------------------------------------------------------

    def observe(self, old: Ticket | None, new: Ticket) -> Observed:
        """One ticket transition (as the table's stream delivers it): report rows and the board.
        Safe to repeat: each fact is recorded once; the board holds the latest image."""
        queue = self.queues.get(new.queue_id)
        added: dict[str, float] = {}
        tolerance = queue.scheduled_callbacks.tolerance_seconds if queue.scheduled_callbacks else 0
        for fact in reports.facts(old, new, queue.short_abandon_seconds, tolerance):
            if self.oplog.record(fact.id, fact.queue_id, fact.bucket, fact.counts):
                reports.add_counts(added, fact.counts)
        if new.status in OPEN_STATUSES:
            self.oplog.board_put(board_entry(new))
        else:
            self.oplog.board_remove(new.queue_id, new.id)
        return Observed(new.queue_id, added)

    # --- live monitor -----------------------------------------------------------------------

    def _day_bounds(self, queue: QueueConfig, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, time(0), tzinfo=queue.hours.zone)
        return start, start + timedelta(days=1)

    def today(self, queue: QueueConfig) -> date:
        return self.clock.now().astimezone(queue.hours.zone).date()

    def monitor(self, queue_id: str) -> dict[str, Any]:
        queue = self.queues.get(queue_id)
        now = self.clock.now()
        board = self.oplog.board(queue_id)
        waiting = sorted((e for e in board if e.status == TicketStatus.WAITING.value),
                         key=lambda e: (-e.priority, e.number))
        position = {e.ticket_id: i + 1 for i, e in enumerate(waiting)}
        by_ticket = {e.ticket_id: e for e in board}
        live = [{"ticket": e.ticket_id, "caller": e.masked, "position": position.get(e.ticket_id),
                 "status": e.status.lower(), "since": _iso(e.created_at),
                 "waited_seconds": round((now - e.created_at).total_seconds()),
                 "told_seconds": round(e.told_seconds) if e.told_seconds else None}
                for e in board if e.kind == TicketKind.LIVE.value]
        pending = [{"ticket": e.ticket_id, "number": e.masked, "status": e.status.lower(),
                    "position": position.get(e.ticket_id), "attempts": e.attempts,
                    "next_attempt": _iso(e.next_attempt_at or e.not_before), "promised": _iso(e.not_before),
                    "lost_cause": e.lost_cause}
                   for e in board if e.kind == TicketKind.CALLBACK.value]
        agents = []
        for present in [*self.agents.idle_agents(queue_id), *self.agents.busy_agents(queue_id)]:
            agent = self.agents.get_agent(present.id)  # presence lists carry no reservation or time
            doing = "ready" if agent.status is AgentStatus.AVAILABLE else "busy"
            doing_since = agent.changed_at
            entry = by_ticket.get(agent.ticket_id or "")
            if agent.ticket_id:
                doing, doing_since = "talking", None
                if entry is not None and entry.status == TicketStatus.CONNECTING.value:
                    # the agent's leg as its status events reported it (ringing, then talking), else
                    # still being put through (no event yet, or a provider that reports none)
                    doing, doing_since = (entry.leg, entry.leg_at) if entry.leg else ("connecting", None)
            agents.append({"id": agent.id, "status": agent.status.value, "since": _iso(agent.changed_at),
                           "doing": doing, "doing_since": _iso(doing_since), "ticket": agent.ticket_id,
                           "with": entry.masked if entry is not None else None})
        agents.sort(key=lambda a: a["id"])
        start, end = self._day_bounds(queue, self.today(queue))
        today = reports.build_report(queue_id, start, end, self.oplog.rows(queue_id, start, end)).total.as_row()
        return {"queue": queue_id, "name": queue.name, "at": _iso(now), "waiting": live, "callbacks": pending,
                "agents": agents, "today": today}

    # --- lost-call work list -----------------------------------------------------------------

    def lost_calls(self, queue_id: str, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> Page[dict[str, Any]]:
        """One page of the queue's work list, oldest first (`next` follows on; BadPageError for a bad cursor)."""
        now = self.clock.now()
        out = []
        page = self.lost.lost_calls(queue_id, limit=limit, cursor=cursor)
        for t in page.items:
            plan = callback_plan(t)
            out.append({"ticket": t.id, "queue": t.queue_id, "number": masked(t.callback_number or t.caller),
                        "cause": t.lost_cause, "lost_at": _iso(t.lost_at),
                        "waited_seconds": round(t.wait_seconds) if t.wait_seconds is not None else None,
                        "since_seconds": round((now - t.lost_at).total_seconds()) if t.lost_at else None,
                        "callback": plan, "attempts": t.attempts, "last_outcome": t.last_outcome,
                        "next_attempt": _iso(t.next_attempt_at or t.not_before)
                        if t.status is TicketStatus.SCHEDULED else None,
                        "can_opt_out": bool(t.callback_number or t.caller),
                        "can_call_back": bool(t.callback_number or t.caller) and t.status is not TicketStatus.CONNECTING,
                        "can_stop": t.kind is TicketKind.CALLBACK and t.status in (TicketStatus.SCHEDULED,
                                                                                    TicketStatus.WAITING)})
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
            when = f"it will be called at {_iso(later)}" if pending is not None else (
                f"nothing was booked; the earliest is {_iso(later)}" if later else "nothing was booked")
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
        execution_id = self.orchestrator.start(f"{ticket.id}-{booking}",
                                               CallFlow.workflow_input(queue, ticket, now, attempt))
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

    def report(self, queue_id: str, first: date, last: date,
               target_seconds: int = reports.DEFAULT_TARGET_SECONDS) -> reports.Report:
        queue = self.queues.get(queue_id)
        start = self._day_bounds(queue, first)[0]
        end = self._day_bounds(queue, last)[1]
        return reports.build_report(queue_id, start, end, self.oplog.rows(queue_id, start, end), target_seconds)

    def staffing(self, queue_id: str, day: date, target_seconds: int = reports.DEFAULT_TARGET_SECONDS
                 ) -> dict[str, Any]:
        """Agents needed per half hour for the day's recorded arrivals, beside those signed in now."""
        queue = self.queues.get(queue_id)
        estimator = learning.current(self.stats, queue)
        handle = 1 / estimator.mu if estimator.mu > 0 else queue.average_handle_seconds
        patience = 1 / estimator.theta if estimator.theta > 0 else queue.average_patience_seconds
        report = self.report(queue_id, day, day, target_seconds)
        signed_in = self.agents.staffing(queue_id).staffed
        rows = []
        for line in report.rows:
            arrivals = int(line.c("offered") - line.c("after_hours"))
            rate = arrivals / reports.HALF_HOUR.total_seconds()
            c_agents, a_agents = staffing.agents_needed(rate, handle, patience, target_seconds, SERVICE_GOAL,
                                                        ABANDON_GOAL)
            rows.append(asdict(staffing.Advice(line.label, arrivals, round(handle, 1), c_agents, a_agents)))
        return {"queue": queue_id, "day": day.isoformat(), "target_seconds": target_seconds,
                "service_goal": SERVICE_GOAL, "abandon_goal": ABANDON_GOAL, "handle_seconds": round(handle, 1),
                "patience_seconds": round(patience, 1), "signed_in": signed_in, "rows": rows}
