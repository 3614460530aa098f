"""Building signed provider requests the way the provider does."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import urlencode

from botocore.client import BaseClient
from twilio.request_validator import RequestValidator

EVENTS = Path(__file__).resolve().parent / "events"
# Items written to refuse what comes next, not state: sign-in attempts counted, signatures spent.
BOOKKEEPING = ("THROTTLE#", "REPLAY#")
READS = ("Get", "BatchGet", "Query", "Scan", "Describe", "List", "Receive")


def event(name: str, **overrides: str) -> dict[str, str]:
    with open(EVENTS / "twilio" / f"{name}.json", encoding="utf-8") as fh:
        params = json.load(fh)
    params.update(overrides)
    return params


def signed(token: str, url: str, params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a Twilio webhook POST to `url` (the full public URL, query included)."""
    body = urlencode(params).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded",
                  "X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def lose_calls(stores: Any, queue: str, count: int, at: datetime) -> list[str]:
    """`count` lost calls in the queue, a second apart from `at` (what hang-ups leave, without their
    recovery workflows): callers +14155550000, +14155550001, ... Their ticket ids, oldest first."""
    from chalicelib.domain.model import Ticket, TicketKind, TicketStatus

    ids = []
    for i in range(count):
        ticket = stores.tickets.open_ticket(Ticket(queue, 0, TicketKind.LIVE, TicketStatus.ABANDONED, at,
                                                   call_id=f"CA-{queue}-{i}", caller=f"+1415555{i:04d}"))
        stores.lost.mark_lost(ticket.id, "abandoned", at + timedelta(seconds=i))
        ids.append(ticket.id)
    return ids


class StandIn:
    """A local HTTP server that records JSON POSTs and answers with a fixed status (Slack, Telegram...)."""

    def __init__(self, status: int = 200) -> None:
        import json as _json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, dict]] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.path, _json.loads(body or b"{}")))
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class Stream:
    """The table's stream (moto), drained on demand into the Lambda's worker with each record's event
    id, as AWS delivers it; the records are kept, to deliver again."""

    def __init__(self, table: str) -> None:
        from chalicelib.edges import workers
        from devstack.pollers import StreamPoller, deployed_filters

        self._worker = workers.on_table_change
        self.poller = StreamPoller(table, self._handle, with_event_id=True, filters=deployed_filters())
        self.records: list[tuple[object, object, str]] = []

    def _handle(self, new: object, old: object, event_id: str) -> None:
        self.records.append((new, old, event_id))
        self._worker(new, old, event_id)

    def drain(self) -> None:
        while self.poller.poll_once():
            pass


class Effects:
    """Every AWS call that succeeded while it is open, with its parameters (what a request changed)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    @contextmanager
    def watching(self) -> Iterator["Effects"]:
        original = BaseClient._make_api_call

        def watched(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            response = original(client, operation, params)  # a refused conditional write raises: not recorded
            self.calls.append((client.meta.service_model.service_name, operation, params))
            return response

        BaseClient._make_api_call = watched  # type: ignore[method-assign]
        try:
            yield self
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]

    def changes(self, except_bookkeeping: bool = False) -> list[str]:
        """What changed: DynamoDB items written, and any message, execution or task answer sent.
        `except_bookkeeping`: leave out the items written only to refuse what comes next (BOOKKEEPING)."""
        found = []
        for service, operation, params in self.calls:
            if operation.startswith(READS):
                continue
            if service != "dynamodb":
                found.append(f"{service}:{operation}")
                continue
            for key in written_keys(operation, params):
                if not (except_bookkeeping and key.startswith(BOOKKEEPING)):
                    found.append(f"{operation}:{key}")
        return found


def written_keys(operation: str, params: dict[str, Any]) -> list[str]:
    items = [params] if operation != "TransactWriteItems" else [
        action for entry in params["TransactItems"] for kind, action in entry.items() if kind != "ConditionCheck"]
    if operation == "BatchWriteItem":
        items = [r.get("PutRequest") or r.get("DeleteRequest") for rs in params["RequestItems"].values() for r in rs]
    return [str((item.get("Item") or item.get("Key") or {}).get("pk", {}).get("S", "?")) for item in items]
def record_changes(world: Any) -> list[tuple[Any, Any]]:
    """Keep a memory world's ticket changes, (old, new), as its stream delivers them on."""
    history: list[tuple[Any, Any]] = []
    stream = world.stores.table.on_change

    def recorded(new: Any, old: Any) -> None:
        history.append((old, new))
        assert stream is not None
        stream(new, old)

    world.stores.table.on_change = recorded
    return history


def report_totals(history: list[tuple[Any, Any]], short_abandon_seconds: float = 10) -> dict[str, float]:
    """The report rows the history adds up to, summed over queues and half hours."""
    from chalicelib.domain import reports

    total: dict[str, float] = {}
    for row in reports.from_tickets(history, short_abandon_seconds).values():
        reports.add_counts(total, row)
    return total


def choose_first_slot(world: Any, sid: str, caller: str, called: str = "+18005550100") -> str:
    """A caller in a memory world presses 2, confirms their number and takes the first time offered."""
    from chalicelib.domain.model import CallEvent, CallStatus
    from chalicelib.domain.script import Gather

    flow = world.flow
    flow.incoming(CallEvent(sid, CallStatus.RINGING, caller, called))
    tid = world.stores.tickets.find_by_call(sid).id
    flow.offer(tid, CallEvent(sid, CallStatus.IN_PROGRESS, caller, digits="2"))
    menu = flow.confirm(tid, CallEvent(sid, CallStatus.IN_PROGRESS, caller, digits="1"), choose=True)
    gather = menu.verbs[0]
    assert isinstance(gather, Gather)
    flow.slot(tid, CallEvent(sid, CallStatus.IN_PROGRESS, caller, digits="1"), dict(gather.action.params)["o"])
    return str(tid)


def workflow_notices(notify_queue_url: str) -> list[dict[str, Any]]:
    """The workflow's notices on the notify queue (the booking's own `callback_booked`, which asks for the
    caller's confirmation text, is not one)."""
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=notify_queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [e for e in (json.loads(m["Body"]) for m in messages) if e.get("event") != "callback_booked"]


def built_with_queues(settings: Any, tmp_path: Path, queues: dict[str, Any], clock: Any, **changes: Any) -> Any:
    """The app's container over moto with these queues (written to a file, as deployed) and `changes` to
    the settings; a FakeDialer unless `dialer` is given (None: the settings' own)."""
    from dataclasses import replace

    from chalicelib import bootstrap
    from chalicelib.adapters.memory import FakeDialer

    path = tmp_path / "queues.json"
    path.write_text(json.dumps(queues), encoding="utf-8")
    dialer = changes.pop("dialer", FakeDialer())
    return bootstrap.build_aws(replace(settings, queues_file=str(path), **changes), clock=clock, dialer=dialer)

