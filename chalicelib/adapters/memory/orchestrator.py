"""MemoryOrchestrator: the callback workflow in virtual time, following infra/callback.asl.json's
states and timers (a contract test runs the same scenarios through it and through moto executing the ASL)."""
from __future__ import annotations

import json
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ...domain.errors import StaleTokenError
from ...domain.model import TicketKind, TicketStatus
from ...ports import EventBus, Orchestrator
from .clocks import VirtualClock
from .table import MemoryTable


_SCHEDULED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_IN_PLACE = (TicketStatus.SCHEDULED, TicketStatus.WAITING)  # ParkInPlace: it stands in the line already
_BACK = (TicketStatus.SCHEDULED, TicketStatus.CONNECTING)  # ParkBack: it comes back into it


@dataclass
class Execution:
    """One callback workflow run: the ASL's input document as it moves through the states."""

    name: str
    data: dict[str, Any]
    state: str = "Schedule"
    status: str = "RUNNING"  # SUCCEEDED, FAILED, ABORTED
    error: str | None = None
    token: str | None = None
    timer: int | None = None
    states: list[str] = field(default_factory=list)  # every state entered, in order


class MemoryOrchestrator(Orchestrator):
    """infra/callback.asl.json in virtual time: Schedule (Wait until not_before) -> Park (ParkInPlace for
    a ticket the input says stands in the line, else ParkBack: the ticket WAITING with a task token,
    under the same conditions, a callback ticket run by no other execution, the table's line counts
    following; park_timeout_seconds -> GiveUp) -> Dial (a
    message to the dial worker with a task token; dial_timeout_seconds -> NoOutcome: count the attempt
    and park again while attempts are left) -> Outcome (connected: Recovered; cancelled: Closed; a next
    slot: Reschedule -> Schedule; else GiveUp) ; GiveUp (LOST, unless served) -> Notify -> Lost.

    `dial_worker` receives the Dial step's message body (the SQS queue in AWS); it is delivered
    asynchronously, as the next piece of work at the current instant."""

    def __init__(self, table: MemoryTable, clock: VirtualClock, bus: EventBus | None = None) -> None:
        self.table = table
        self.clock = clock
        self.bus = bus
        self.dial_worker: Callable[[dict[str, Any]], None] | None = None
        self.executions: dict[str, Execution] = {}
        self._tasks: dict[str, Execution] = {}
        self._tokens = itertools.count(1)

    # --- the port ---------------------------------------------------------------------------

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        execution_id = f"mem:{name}"
        if execution_id not in self.executions:  # idempotent by name, like StartExecution
            ex = Execution(name, json.loads(json.dumps(dict(payload))))
            self.executions[execution_id] = ex
            self._schedule(ex)
        return execution_id

    def stop(self, execution_id: str) -> None:
        ex = self.executions.get(execution_id)
        if ex is not None and ex.status == "RUNNING":
            self._end(ex, "ABORTED", "Holdfast.Rejoined")

    def complete(self, token: str, output: Mapping[str, Any]) -> None:
        ex = self._tasks.pop(token, None)
        if ex is None or ex.status != "RUNNING" or ex.token != token:
            raise StaleTokenError("TaskTimedOut")  # timed out, finished, or answered before
        self.clock.cancel(ex.timer)
        ex.token = ex.timer = None
        if ex.state in ("ParkInPlace", "ParkBack"):
            ex.data["agent"] = json.loads(json.dumps(dict(output)))
            self._dial(ex)
        else:
            ex.data["outcome"] = json.loads(json.dumps(dict(output)))
            self._outcome(ex)

    def status(self, execution_id: str) -> tuple[str, str | None]:
        ex = self.executions[execution_id]
        return ex.status, ex.error

    # --- the states ---------------------------------------------------------------------------

    def _enter(self, ex: Execution, state: str) -> None:
        ex.state = state
        ex.states.append(state)

    def _task(self, ex: Execution, timeout_seconds: float, on_timeout: Callable[[Execution], None]) -> str:
        """A waitForTaskToken task: its token, and its timeout (States.Timeout) -> on_timeout."""
        token = f"{ex.name}#{next(self._tokens)}"
        ex.token = token
        self._tasks[token] = ex

        def timed_out() -> None:
            if ex.token == token and ex.status == "RUNNING":
                self._tasks.pop(token, None)
                ex.token = ex.timer = None
                on_timeout(ex)

        ex.timer = self.clock.after(timeout_seconds, timed_out)
        return token

    def _schedule(self, ex: Execution) -> None:
        self._enter(ex, "Schedule")
        when = datetime.strptime(ex.data["schedule"]["not_before"], _SCHEDULED_FORMAT).replace(tzinfo=timezone.utc)
        ex.timer = self.clock.at(when, lambda: self._park(ex))

    def _park(self, ex: Execution) -> None:
        if ex.status != "RUNNING":
            return
        self._enter(ex, "Park")
        in_place = bool(ex.data["schedule"].get("in_line"))
        self._enter(ex, "ParkInPlace" if in_place else "ParkBack")
        ticket_id, attempt = ex.data["ticket_id"], int(ex.data["schedule"]["attempt"])
        token = self._task(ex, float(ex.data["park_timeout_seconds"]), self._give_up)
        with self.table.lock:  # one conditional write, like the ASL's updateItem (or its transaction)
            parked = self.table.change(
                ticket_id, lambda t: t.kind is TicketKind.CALLBACK and t.in_line is in_place
                and t.status in (_IN_PLACE if in_place else _BACK)
                and t.execution_id in (None, f"mem:{ex.name}"),
                task_token=token, status=TicketStatus.WAITING, attempts=attempt, dial_id=None)
            if parked:
                self.table.dial_tokens.pop(ticket_id, None)
        if not parked:
            self._end(ex, "SUCCEEDED", None, "Closed")

    def _dial(self, ex: Execution) -> None:
        self._enter(ex, "Dial")
        token = self._task(ex, float(ex.data["dial_timeout_seconds"]), self._no_outcome)
        body = {"ticket_id": ex.data["ticket_id"], "attempt": ex.data["schedule"]["attempt"],
                "agent": ex.data["agent"], "token": token}
        if self.dial_worker is not None:
            worker = self.dial_worker
            self.clock.after(0, lambda: worker(body))

    def _outcome(self, ex: Execution) -> None:
        self._enter(ex, "Outcome")
        outcome = ex.data["outcome"]
        if outcome.get("result") == "connected":
            return self._end(ex, "SUCCEEDED", None, "Recovered")
        if outcome.get("result") == "cancelled":
            return self._end(ex, "SUCCEEDED", None, "Closed")
        if "next" in outcome:
            self._enter(ex, "Reschedule")
            ex.data["schedule"] = outcome["next"]
            return self._schedule(ex)
        self._give_up(ex)

    def _no_outcome(self, ex: Execution) -> None:
        self._enter(ex, "NoOutcome")
        ex.data["schedule"] = {"not_before": ex.data["schedule"]["not_before"],
                               "attempt": int(ex.data["schedule"]["attempt"]) + 1}
        self._enter(ex, "AttemptsLeft")
        if ex.data["schedule"]["attempt"] <= int(ex.data["max_attempts"]):
            return self._park(ex)
        self._give_up(ex)

    def _give_up(self, ex: Execution) -> None:
        self._enter(ex, "GiveUp")
        now = self.clock.now()
        ticket_id = ex.data["ticket_id"]
        with self.table.lock:
            ticket = self.table.tickets.get(ticket_id)
            if ticket is not None and ticket.in_line and ticket.status is not TicketStatus.SERVED:
                self._enter(ex, "GiveUpInLine")  # its park timed out: out of the line, counted
            lost = ticket is not None and self.table.change(
                ticket_id, lambda t: t.status is not TicketStatus.SERVED, status=TicketStatus.LOST,
                lost_cause=ticket.lost_cause or "callback_failed", lost_at=ticket.lost_at or now,
                task_token=None, dial_id=None)
            if lost:
                self.table.dial_tokens.pop(ticket_id, None)
        if not lost:
            return self._end(ex, "SUCCEEDED", None, "Closed")
        self._enter(ex, "Notify")
        if self.bus is not None:
            self.bus.publish({"event": "callback_lost", "ticket_id": ticket_id})
        self._end(ex, "FAILED", "Holdfast.CallbackLost", "Lost")

    def _end(self, ex: Execution, status: str, error: str | None, state: str | None = None) -> None:
        if state:
            self._enter(ex, state)
        self.clock.cancel(ex.timer)
        if ex.token:
            self._tasks.pop(ex.token, None)
        ex.status, ex.error, ex.token, ex.timer = status, error, None, None
