"""The event-fed workers: one function each, called by Chalice's event handlers in AWS and by the
local runtime's pollers, so both run the same code."""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping

from ..adapters.dynamo import ticket_change
from ..adapters.dynamo.operations import ticket_from_image
from .. import bootstrap
from ..domain import faults
from ..domain.booking import CALLBACK_BOOKED
from ..domain.callbacks import DialRequest
from . import feed, metrics

log = logging.getLogger(__name__)


def on_dial_message(body: str) -> None:
    """The dial queue: the Dial step's message (one callback attempt, at the account's pace), or the
    pace's alarm (`{"pace": account}`: let out the dials whose slots have come). Raising makes SQS deliver
    it again, which is safe: an attempt already begun is never dialed twice."""
    message = json.loads(body)
    container = bootstrap.container()
    if "pace" not in message:
        container.callbacks.dial(DialRequest.from_message(message))  # waiting its turn: it set the alarm
        return
    paced = container.dispatcher.pace()
    if paced is not None:
        metrics.dial_pace(paced.account, paced.backlog, paced.rate)


def on_table_change(new_image: Mapping[str, Any] | None, old_image: Mapping[str, Any] | None,
                    event_id: str | None = None) -> None:
    """The table's stream: the queues' snapshots (applied once per record `event_id`), then a ticket
    that joined the line or left a reservation behind."""
    bootstrap.container().stores.stream.apply_change(new_image, old_image, event_id)
    booked = ticket_from_image(new_image)
    if booked is not None:  # a caller who pressed 1 was promised a time: the dispatcher's book
        bootstrap.container().dispatcher.callback_promised(booked, ticket_from_image(old_image))
    change = ticket_change(new_image, old_image)
    if change is not None:
        bootstrap.container().dispatcher.ticket_changed(*change)
        ticket = ticket_from_image(new_image)
        if ticket is not None:  # the estimator learns
            bootstrap.container().dispatcher.service_started(ticket, ticket_from_image(old_image))
        feed.ticket_changed(bootstrap.container().operations, new_image, old_image)  # console, metrics
    else:
        feed.agent_changed(bootstrap.container().operations, new_image, old_image)  # agents' time (console)


def on_notify_message(body: str) -> None:
    """The notify queue: lost calls (from the call flow) and failed callbacks (from the workflow)."""
    event = json.loads(body)
    built = bootstrap.container()
    if event.get("event") == CALLBACK_BOOKED:  # the caller's confirmation text (issue 27)
        if built.texts is not None:
            built.texts.confirm(str(event.get("ticket_id", "")))
        return
    built.notifications.handle(event)


def sweep() -> int:
    """Scheduled: no idle agent and waiting ticket side by side, whatever trigger was missed; then the
    wallboard's thresholds (a crossing held for its set time notifies once)."""
    built = bootstrap.container()
    dispatched = built.dispatcher.sweep()
    reconcile()
    if built.texts is not None:  # reminders before chosen times (issue 27)
        built.texts.remind()
    feed.watch(built.operations)
    return dispatched


def reconcile() -> int:
    """The stream's derived views recounted from the truth, queue by queue (bounded: each queue's team,
    one line query, the newest lost calls' by-number markers, the board's entries and the line's first
    tickets): what a record the stream gave up on (its dead letters) left wrong is right again within a
    minute. A failure is logged, never the sweep's."""
    container = bootstrap.container()
    fixed = 0
    for queue in container.dispatcher.queues:
        try:
            fixed += container.stores.stream.reconcile(queue.id)
            fixed += container.stores.stream.reconcile_lost(queue.id)
            if container.operations is not None:
                fixed += container.operations.reconcile_board(queue.id)
        except Exception:  # noqa: BLE001 - the views stay as they are until the next sweep
            faults.swallowed("sweep.reconcile", "recounting the stream's views failed", extra={"queue": queue.id})
    if fixed:
        log.warning("the stream's views were recounted", extra={"corrected": fixed})
    return fixed
