"""The day simulator's callers who chose a time (issue 27), split from bench/daysim.py by role: some call
again before it to move it or cancel it, through Holdfast's own pending-callback menu (the call flow's
`incoming`, then `pending_choice` and `slot`, the webhooks a real call reaches); the simulated network's
side of the texts Holdfast sends (the notify worker's confirmation, delivery reports posted back to each
text's status URL, a share of numbers replying STOP to their first text: the texts edge's `inbound`);
people asking for a callback from the web page (`WebRequests.request`, what POST /web/{queue}/callback
calls), a stream of their own beside the callers every policy shares; and Holdfast's own report rows, fed by every ticket change as the table's stream
feeds them (`Operations.observe`), which the measures read beside the simulator's own count."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qsl, urlsplit

from chalicelib.adapters.memory import MemoryOperationsLog
from chalicelib.domain import guard
from chalicelib.domain.booking import CALLBACK_BOOKED
from chalicelib.domain.model import CallEvent, CallStatus, Ticket, TicketStatus
from chalicelib.domain.operations import Operations
from chalicelib.domain.pending import CANCEL, CHANGE
from chalicelib.domain.queues import QueueDirectory
from chalicelib.domain.script import Gather, Script
from chalicelib.domain.slots import expand
from chalicelib.domain.webrequest import WebRequestError
from chalicelib.ports import InboundText, TextStatus

if TYPE_CHECKING:
    from bench.daysim import Caller, CallRecord, Sim

MOVE, CANCEL_IT = "move", "cancel"
EARLIEST_CHANGE = 60.0  # a caller calls about their chosen time at least this long after booking it ...
LATEST_CHANGE = 120.0  # ... and at least this long before it
DELIVERY_SECONDS = 5.0  # a text reaches the phone and its delivery report comes back after this
REPLY_SECONDS = 60.0  # a caller who replies STOP does so this long after the text reached them
WEB_ADDRESSES = 250  # the web requesters' addresses (each within the page's per-address quota)
# The product's report columns the simulator reads (domain/reports.py), and the texts' own
REPORTED = ("scheduled", "scheduled_moved", "scheduled_cancelled", "scheduled_on_time", "scheduled_late",
            "cancelled_by_caller", "web_requests")
TEXTED = ("sms_sent", "sms_delivered", "sms_failed", "sms_opt_outs")


def step_of(script: Script, name: str) -> Mapping[str, str] | None:
    """The parameters of the Gather in `script` that answers at step `name` (None: no such question)."""
    action = next((v.action for v in script.verbs if isinstance(v, Gather) and v.action.name == name), None)
    return None if action is None else dict(action.params)


@dataclass
class ChangeCall:
    """One call a caller made about their chosen time, and what became of it."""

    at: float
    intent: str  # move or cancel
    ticket: str
    done: bool = False  # the callback moved to another slot, or cancelled


class ChosenTimes:
    """Calls about a pending chosen-time callback, texts, and Holdfast's report rows for one simulation."""

    def __init__(self, sim: "Sim") -> None:
        self.sim = sim
        self.calls: list[ChangeCall] = []
        self.booked: dict[str, "CallRecord"] = {}  # ticket -> the call that chose its time
        self.texted: set[str] = set()  # numbers texted so far (each decides once whether to reply STOP)
        self.stops: list[float] = []  # when (simulated seconds) a caller replied STOP
        self.sent: list[tuple[float, str]] = []  # (when, to) of every text Holdfast sent
        self.stopped_at: dict[str, float] = {}  # number -> when it replied STOP
        self.web: list[tuple[float, bool]] = []  # (when, booked) of every callback asked for from the web
        for day in range(sim.days if sim.s.web_per_hour and sim.w.web is not None else 0):
            self.web_arrivals(day)
        self.oplog = MemoryOperationsLog()  # Holdfast's report rows (the operations log)
        self.operations = Operations(sim.stores, self.oplog, QueueDirectory([sim.queue]), sim.clock,
                                     sim.w.orchestrator)
        stream = sim.stores.table.on_change

        def feed(new: Ticket, old: Ticket | None) -> None:  # the stream's consumers (edges/workers.py, feed.py)
            if stream is not None:
                stream(new, old)
            sim.clock.after(0, lambda: self.operations.observe(old, new))

        sim.stores.table.on_change = feed
        texts = sim.w.texts
        if texts is not None and texts.messenger is not None:
            publish, send = sim.w.bus.publish, texts.messenger.send_text

            def notify(event: Mapping[str, Any]) -> None:  # the notify worker: a booked callback's confirmation
                publish(event)
                if event.get("event") == CALLBACK_BOOKED:
                    sim.clock.after(0, lambda: texts.confirm(str(event["ticket_id"])))

            def send_text(to: str, sender: str, body: str, status_url: str | None = None) -> str:
                message_id = send(to, sender, body, status_url)
                self.sent.append((sim.now(), to))
                if status_url:  # the network delivers it, and posts the report to the URL it was sent with
                    where = dict(parse_qsl(urlsplit(status_url).query))
                    sim.clock.after(DELIVERY_SECONDS, lambda: texts.delivery(
                        TextStatus(message_id, "delivered"), where.get("q", ""), where.get("b", ""),
                        where.get("s", "")))
                if to not in self.texted:  # the first text to this number: does its owner reply STOP?
                    self.texted.add(to)
                    if random.Random(f"{sim.seed}:{to}:stop").random() < sim.s.stop_reply:
                        sim.clock.after(DELIVERY_SECONDS + REPLY_SECONDS, lambda: self.reply_stop(to, sender))
                return message_id

            sim.w.bus.publish = notify  # type: ignore[method-assign]
            texts.messenger.send_text = send_text  # type: ignore[method-assign]

    # --- callers who call about their chosen time ---------------------------------------------------

    def chose(self, rec: "CallRecord", ticket: Ticket) -> None:
        """A caller just booked a chosen time: whether (and when) they call again to move or cancel it,
        from a draw of their own (the other draws, shared by every policy, stay as they are)."""
        self.booked[ticket.id] = rec
        s, now = self.sim.s, self.sim.now()
        rng = random.Random(f"{self.sim.seed}:{rec.caller.id}:chosen")
        u, v = rng.random(), rng.random()
        intent = MOVE if u < s.move_time else CANCEL_IT if u < s.move_time + s.cancel_time else None
        room = (rec.promise or now) - now - EARLIEST_CHANGE - LATEST_CHANGE
        if intent is None or room <= 0:
            return
        call = ChangeCall(now + EARLIEST_CHANGE + v * room, intent, ticket.id)
        self.calls.append(call)
        self.sim.clock.after(call.at - now, lambda: self.sim.arrive(rec.caller, repeat=True, about=call))

    def change(self, call: ChangeCall, sid: str, ticket_id: str) -> None:
        """The pending-callback menu answered the call: cancel, or choose another time (the last one
        offered that is not theirs now)."""
        flow, tickets = self.sim.w.flow, self.sim.stores.tickets
        before = tickets.get(ticket_id)

        def key(digits: str) -> CallEvent:
            return CallEvent(sid, CallStatus.IN_PROGRESS, digits=digits)

        if call.intent == CANCEL_IT:
            flow.pending_choice(ticket_id, key(CANCEL))
        else:
            times = step_of(flow.pending_choice(ticket_id, key(CHANGE)), "slot")
            offered = expand(times["o"]) if times else []
            other = [n for n, slot in enumerate(offered, 1) if slot != before.slot]
            if times and other:
                flow.slot(ticket_id, key(str(other[-1])), times["o"], moving=True)
        after = tickets.get(ticket_id)
        rec = self.booked.get(ticket_id)
        if after.status is TicketStatus.CANCELLED:
            call.done = True
            if rec is not None:
                rec.cancelled = True
        elif after.slot and after.slot != before.slot:
            call.done = True
            if rec is not None:  # the time the caller was told now (Holdfast's record of it)
                promised = guard.promised_at(after)
                rec.promise = rec.promise if promised is None else (promised - self.sim.epoch).total_seconds()
                rec.moved = True

    # --- people who ask from the web page ---------------------------------------------------------

    def web_arrivals(self, day: int) -> None:
        """A day's web requests, at the scenario's rate over opening hours, from a generator of their own
        (the callers every policy shares stay as they are). Each is a person with the callers' talk time
        and answer draws, reached at the number they typed."""
        from bench.daysim import CLOSE_H, OPEN_H, Caller, at, day_start

        s, sim = self.sim.s, self.sim
        rng = random.Random(f"{sim.seed}:{day}:web")
        t, end, n = day_start(day) + OPEN_H * 3600, day_start(day) + CLOSE_H * 3600, 0
        while True:
            t += rng.expovariate(s.web_per_hour / 3600)
            if t >= end:
                return
            talk = rng.lognormvariate(math.log(s.talk_mean) - s.talk_sigma ** 2 / 2, s.talk_sigma)
            person = Caller(-(day * 100_000 + n + 1), f"+1646{rng.randrange(2_000_000, 9_999_999)}", t, 7200.0, talk,
                            1.0, [rng.random() for _ in range(8)], [rng.random() for _ in range(8)], 1.0, 0.0)
            n += 1
            sim.clock.at(at(t), lambda person=person: self.web_request(person))

    def web_request(self, person: "Caller") -> None:
        """One request through the product's web use case (a refusal, e.g. the address's quota, counted)."""
        sim = self.sim
        assert sim.w.web is not None
        sim.callers[person.number] = person  # who answers when the callback rings
        try:
            sim.w.web.request(sim.queue.id, person.number, client=f"198.51.100.{-person.id % WEB_ADDRESSES}")
        except WebRequestError:
            self.web.append((sim.now(), False))
            return
        self.web.append((sim.now(), True))

    def web_booked(self, lo: float, hi: float) -> int:
        """The simulator's own count of web requests booked in [lo, hi) (simulated seconds)."""
        return sum(1 for t, booked in self.web if booked and lo <= t < hi)

    def reply_stop(self, number: str, our_number: str) -> None:
        """A caller answers a text with STOP (as the provider's inbound-text webhook hands it on)."""
        texts = self.sim.w.texts
        assert texts is not None
        self.stops.append(self.sim.now())
        self.stopped_at[number] = self.sim.now()
        texts.inbound(InboundText(number, "STOP", recipient=our_number))

    def stopped(self, lo: float, hi: float) -> int:
        """The simulator's own count of STOP replies sent in [lo, hi) (simulated seconds)."""
        return sum(1 for t in self.stops if lo <= t < hi)

    # --- Holdfast's own report rows -------------------------------------------------------------

    def reported(self, start: datetime, end: datetime) -> dict[str, float]:
        """Holdfast's report columns over calls that arrived in [start, end), and its texts'."""
        out = {name: 0.0 for name in (*REPORTED, *TEXTED)}
        texts = self.sim.w.texts
        logs = [self.oplog] + ([texts.oplog] if texts is not None and texts.oplog is not None else [])
        for log in logs:
            assert isinstance(log, MemoryOperationsLog)
            for row in log.rows(self.sim.queue.id, start, end).values():
                for name in out:
                    out[name] += row.get(name, 0.0)
        return out
