"""Holdfast wired on the in-memory adapters, in virtual time: the same use cases the Lambda functions
run (CallFlow, Dispatcher, Callbacks), the workflow as MemoryOrchestrator, and the event sources AWS
provides (the table's stream, the dial queue, the one-minute dispatch sweep) as scheduled work.

The AWS composition root is chalicelib/bootstrap.py; this is its in-memory twin, used by the unit and
contract tests and by the day simulator (bench/day.py)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .adapters.memory import FakeBus, FakeDialer, MemoryOrchestrator, MemoryStores, VirtualClock, memory_stores
from .domain.callbacks import Callbacks, DialRequest
from .domain.callflow import CallFlow
from .domain.dispatch import Dispatcher
from .domain.model import Ticket
from .domain.queues import QueueDirectory
from .ports import Dialer

DEFAULT_DAILY_BUDGET = 100_000


@dataclass
class MemoryWorld:
    clock: VirtualClock
    stores: MemoryStores
    orchestrator: MemoryOrchestrator
    bus: FakeBus
    dialer: Dialer
    flow: CallFlow
    dispatcher: Dispatcher
    callbacks: Callbacks


def build_memory(queues: QueueDirectory, start: datetime, dialer: Dialer | None = None,
                 daily_callback_budget: int = DEFAULT_DAILY_BUDGET, sweep_seconds: float = 60.0) -> MemoryWorld:
    clock = VirtualClock(start)
    stores = memory_stores()  # every role over one in-memory table
    bus = FakeBus()
    orchestrator = MemoryOrchestrator(stores.table, clock, bus)
    dialer = dialer or FakeDialer()
    flow = CallFlow(stores, orchestrator, clock, queues, bus, daily_callback_budget)
    dispatcher = Dispatcher(stores, orchestrator, dialer, clock, queues)
    callbacks = Callbacks(stores, orchestrator, dialer, clock, queues, dispatcher)

    def stream(new: Ticket, old: Ticket | None) -> None:  # workers.on_table_change, delivered after the write
        change = (new.queue_id, new.id, new.status, old.status if old else None, new.agent_id)

        def deliver() -> None:
            dispatcher.callback_promised(new, old)
            dispatcher.ticket_changed(*change)
            dispatcher.service_started(new, change[3])

        clock.after(0, deliver)

    stores.table.on_change = stream
    stores.table.defer = lambda work: clock.after(0, work)  # the snapshot's share of the stream, delivered later too
    orchestrator.dial_worker = lambda body: callbacks.dial(DialRequest.from_message(body))  # workers.on_dial_message
    if sweep_seconds > 0:
        def sweep() -> None:  # the scheduled dispatch sweep
            dispatcher.sweep()
            clock.after(sweep_seconds, sweep)

        clock.after(sweep_seconds, sweep)
    return MemoryWorld(clock, stores, orchestrator, bus, dialer, flow, dispatcher, callbacks)
