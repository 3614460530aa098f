"""The table stream's second consumer: every ticket transition feeds the console's report rows,
its live board and the CloudWatch metrics; every agent change, the agents' time (AHT, occupancy).
Idempotent per record (facts are recorded once). Also the threshold watch the sweep runs."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from ..adapters.dynamo.operations import agent_from_image, ticket_from_image
from ..domain import faults
from ..domain.operations import Operations
from . import metrics

log = logging.getLogger(__name__)


def ticket_changed(operations: Operations, new_image: Mapping[str, Any] | None,
                   old_image: Mapping[str, Any] | None) -> None:
    new = ticket_from_image(new_image)
    if new is None:
        return  # not a ticket, or a ticket deleted (TTL): the board entry expired with it
    try:
        observed = operations.observe(ticket_from_image(old_image), new)
    except Exception:  # noqa: BLE001 - reports must never hold up dispatch on the same stream
        faults.swallowed("feed.ticket", "console feed failed for a ticket change", level=logging.ERROR,
                         extra={"ticket": new.id})
        return
    if observed.counts:
        metrics.call_metrics(observed.queue_id, observed.counts)


def agent_changed(operations: Operations, new_image: Mapping[str, Any] | None,
                  old_image: Mapping[str, Any] | None) -> None:
    new = agent_from_image(new_image)
    if new is None:
        return  # not an agent item
    try:
        operations.observe_agent(agent_from_image(old_image), new)
    except Exception:  # noqa: BLE001 - reports must never hold up dispatch on the same stream
        faults.swallowed("feed.agent", "console feed failed for an agent change", level=logging.ERROR,
                         extra={"agent": new.id})


def watch(operations: Operations | None) -> None:
    """The wallboard's thresholds, after the dispatch sweep; a failure is logged, never the sweep's."""
    if operations is None:
        return
    try:
        operations.watch()
    except Exception:  # noqa: BLE001 - alerts must never hold up dispatch
        faults.swallowed("feed.watch", "threshold watch failed", level=logging.ERROR)
