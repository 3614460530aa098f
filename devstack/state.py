"""`make run` keeps its state across restarts: the table (tickets, pending callbacks, lost calls,
opt-outs, agents, daily budgets, learned wait statistics) is written to a file under the state
directory when it changes and when the stack stops, and loaded at start. Workflows do not survive
(moto keeps executions in memory), so at start every open callback gets its workflow again.

`make run ARGS=--fresh` starts empty. The file holds phone numbers: owner-only, never in git."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Callback tickets whose workflow must be running: waiting for their time, parked, or being dialed.
REDRIVEN = ("SCHEDULED", "WAITING", "CONNECTING")


class TableSnapshot:
    """The whole table in DynamoDB JSON, saved atomically with owner-only permissions."""

    def __init__(self, ddb: Any, table: str, path: Path) -> None:
        self.ddb, self.table, self.path = ddb, table, path
        self._saved_digest = ""

    def items(self) -> list[dict[str, Any]]:
        found, kwargs = [], {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.ddb.scan(**kwargs)
            found += page["Items"]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def save(self) -> int:
        """Writes the file if the table changed since the last save; returns 1 if written (a poller's count)."""
        items = sorted(self.items(), key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        text = json.dumps({"version": 1, "items": items}, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest == self._saved_digest:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, self.path)
        self._saved_digest = digest
        return 0  # saving is housekeeping, not work that should keep the pump busy

    def load(self) -> list[dict[str, Any]]:
        """Puts the saved items back into the (new, empty) table; returns them."""
        if not self.path.exists():
            return []
        items = json.loads(self.path.read_text(encoding="utf-8"))["items"]
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
            pending: dict[str, Any] = {self.table: batch}
            while pending:
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        self._saved_digest = hashlib.sha256(json.dumps({"version": 1, "items": sorted(
            items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))}, sort_keys=True).encode()).hexdigest()
        return items


def open_callbacks(items: list[dict[str, Any]]) -> list[str]:
    """Ticket ids of callbacks whose workflow has to be running."""
    return [f"{item['pk']['S'].removeprefix('QUEUE#')}-{int(item['number']['N'])}" for item in items
            if item["sk"]["S"].startswith("TICKET#") and item.get("kind", {}).get("S") == "CALLBACK"
            and item.get("status", {}).get("S") in REDRIVEN]


def redrive(ticket_ids: list[str]) -> int:
    """Starts each open callback's workflow again, under its old execution name (so the ticket's
    stored execution id still names it): a SCHEDULED one waits for its time, a parked one parks again
    at its own place, one left mid-dial is parked again (the workflow's re-park)."""
    from chalicelib import bootstrap
    from chalicelib.domain.callflow import CallFlow

    container = bootstrap.container()
    started = 0
    for ticket_id in ticket_ids:
        ticket = container.stores.tickets.get(ticket_id)
        queue = container.flow.queues.get(ticket.queue_id)
        if ticket.status.value == "SCHEDULED":
            not_before, attempt = (ticket.next_attempt_at or ticket.not_before), ticket.attempts + 1
        else:
            not_before, attempt = None, max(1, ticket.attempts)
        payload = CallFlow.workflow_input(queue, ticket, not_before or container.flow.clock.now())
        payload["schedule"] = {**payload["schedule"], "attempt": attempt}  # type: ignore[dict-item]
        name = (ticket.execution_id or "").rsplit(":", 1)[-1] or f"{ticket.id}-restart"
        container.flow.orchestrator.start(name, payload)
        started += 1
    if started:
        log.info("re-drove %d open callbacks' workflows", started)
    return started
